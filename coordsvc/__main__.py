"""``python -m coordsvc`` is the ``coordsvc`` command."""

from coordsvc.cli.main import main

if __name__ == "__main__":
    main()
