"""The role on every log line: a holder the ensemble runner updates, read by a structlog processor.

``bind_server_context`` binds ``role`` once at startup (``standalone``); an
ensemble member's role changes while it runs, and every task (and the
storage writer's thread) logs, so a contextvar rebinding would not reach
them all. Instead the runner calls ``set_role`` on each state change and
``add_role`` (placed before ``merge_contextvars``) fills ``role`` from it
unless the log call passed one explicitly.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

__all__ = ["set_role", "current_role", "add_role"]

_role: list[str | None] = [None]  # one process, one server: a module-level holder


def set_role(role: str | None) -> None:
    """Log lines from now on carry ``role`` (None: back to the bound one)."""
    _role[0] = role


def current_role() -> str | None:
    return _role[0]


def add_role(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]):
    """structlog processor: ``role`` from the holder when it is set and the call gave none."""
    role = _role[0]
    if role is not None:
        event_dict.setdefault("role", role)
    return event_dict
