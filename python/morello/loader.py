"""Loading the WSGI applications named on the command line.

Three forms are accepted, as with gunicorn:

``MODULE:APP``
    the attribute ``APP`` (a dotted path is allowed: ``pkg.web:site.wsgi``);
``MODULE:FACTORY()``
    the result of calling ``FACTORY`` once, without arguments;
``MODULE``
    shorthand for ``MODULE:application``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["AppLoadError", "AppSpec", "load_app"]

FORMS = "MODULE:APP, MODULE:FACTORY() or MODULE"


class AppLoadError(Exception):
    """An application could not be loaded; the message is one line."""


def _dotted(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


@dataclass(frozen=True)
class AppSpec:
    """A parsed application reference."""

    module: str
    #: Dotted attribute path inside the module.
    attribute: str
    #: The attribute is a factory to call.
    call: bool

    @classmethod
    def parse(cls, text: str) -> AppSpec:
        """Parse ``MODULE:APP``, ``MODULE:FACTORY()`` or ``MODULE``; raise :class:`ValueError`."""
        module, colon, attribute = text.strip().partition(":")
        if not colon:
            attribute = "application"
        call = attribute.endswith("()")
        if call:
            attribute = attribute[:-2]
        if not _dotted(module) or not _dotted(attribute):
            raise ValueError(f"must be {FORMS}, got {text!r}")
        return cls(module, attribute, call)

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}{'()' if self.call else ''}"


def load_app(spec: AppSpec) -> WSGIApplication:
    """Import the module, find the attribute, call it if it is a factory; raise :class:`AppLoadError`."""
    try:
        target: Any = importlib.import_module(spec.module)
    except ImportError as exc:
        raise AppLoadError(f"cannot import {spec.module!r}: {exc}") from exc
    except Exception as exc:
        raise AppLoadError(f"cannot import {spec.module!r}: {type(exc).__name__}: {exc}") from exc
    for name in spec.attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise AppLoadError(f"module {spec.module!r} has no attribute {spec.attribute!r}") from None
    if spec.call:
        if not callable(target):
            raise AppLoadError(f"{spec.module}:{spec.attribute} is not callable, so cannot be a factory")
        try:
            target = target()
        except Exception as exc:
            raise AppLoadError(f"{spec} failed: {type(exc).__name__}: {exc}") from exc
    if not callable(target):
        raise AppLoadError(
            f"{spec} is not a WSGI application: {type(target).__name__} object is not callable"
        )
    app: WSGIApplication = target
    return app
