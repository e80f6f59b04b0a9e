"""Mount tables: which WSGI application serves which URL prefix.

The engine dispatches on normalized prefixes: ``""`` for the root, otherwise
``"/x"`` or ``"/x/y"`` without a trailing slash. The longest prefix matching at
a segment boundary wins (``/app`` serves ``/app`` and ``/app/...``, never
``/application``); it becomes ``SCRIPT_NAME`` and the rest ``PATH_INFO``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["mount_pairs", "normalize_mounts", "normalize_prefix"]


def normalize_prefix(prefix: object) -> str:
    """Return the engine's form of a mount prefix; raise :class:`ValueError` if it is not one.

    ``"/"`` and ``""`` mean the root (``""``); trailing slashes are dropped;
    anything else must start with ``/`` and contain no empty segment, ``?``,
    ``#`` or control character. Prefixes are matched against the decoded
    path, so they are written decoded (``"/my app"``, not ``"/my%20app"``).
    """
    if not isinstance(prefix, str):
        raise ValueError(f"mount prefix must be a string, got {prefix!r}")
    if prefix in ("", "/"):
        return ""
    if not prefix.startswith("/"):
        raise ValueError(f"mount prefix must start with '/', got {prefix!r}")
    normalized = prefix.rstrip("/")
    if not normalized or "//" in normalized or any(_forbidden(c) for c in normalized):
        raise ValueError(f"mount prefix must be a URL path like '/app', got {prefix!r}")
    return normalized


def _forbidden(char: str) -> bool:
    """Whether *char* may not appear in a mount prefix."""
    return char in "?#" or (not char.isprintable() and char != " ")


def normalize_mounts(mounts: Iterable[tuple[Any, Any]]) -> list[tuple[str, WSGIApplication]]:
    """Normalize ``(prefix, app)`` pairs; raise :class:`ValueError` or :class:`TypeError`.

    Each prefix goes through :func:`normalize_prefix`; two prefixes that are
    the same once normalized (``/x`` and ``/x/``) are an error, as is an
    application that is not callable. The order is kept.
    """
    table: list[tuple[str, WSGIApplication]] = []
    seen = set()
    for pair in mounts:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"a mount must be a (prefix, app) pair, got {pair!r}")
        prefix, app = normalize_prefix(pair[0]), pair[1]
        if prefix in seen:
            raise ValueError(f"duplicate mount prefix {prefix or '/'!r}")
        if not callable(app):
            raise TypeError(f"the application mounted at {prefix or '/'!r} is not callable: {app!r}")
        seen.add(prefix)
        table.append((prefix, app))
    return table


def mount_pairs(spec: object) -> list[tuple[Any, Any]]:
    """Turn a callable, a mapping ``{prefix: app}`` or a list of pairs into a list of pairs.

    A lone callable is mounted at the root.
    """
    if isinstance(spec, Mapping):
        return list(spec.items())
    if callable(spec):
        return [("", spec)]
    if isinstance(spec, (list, tuple)):
        return list(spec)
    raise TypeError(f"expected a WSGI application, a list of (prefix, app) pairs or a dict, got {spec!r}")
