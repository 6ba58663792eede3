"""coordsvc: a ZooKeeper-class coordination service."""

__version__ = "0.1.0"
