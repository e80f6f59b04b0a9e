"""The engine's configuration: :class:`Config`, generated from :mod:`morello.options`.

``Config`` is a frozen dataclass with one field per engine option, in the
order of :data:`morello.options.ENGINE_OPTIONS`, each defaulting to the
option's default. Construction checks and normalizes every field (``bind``
becomes a tuple, seconds become floats, ``server_name=None`` becomes this
machine's host name), so a ``Config`` that exists is valid and is exactly what
the engine reads. A bad value raises :class:`ValueError` (precisely
:class:`morello.options.OptionValueError`) with a one-line message naming the
field, e.g. ``threads: must be an integer >= 1, got 0``.

Static type checkers read the field list from ``config.pyi``, which
``tools/gen_docs.py`` writes from the same options.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from morello.options import ENGINE_OPTIONS, Option, check_relations

__all__ = ["Config", "FIELDS"]

#: The names of the Config fields, in order.
FIELDS = tuple(option.name for option in ENGINE_OPTIONS)


def _post_init(self: Any) -> None:
    """Check and normalize every field, then the constraints between fields."""
    values: dict[str, Any] = {}
    for option in ENGINE_OPTIONS:
        values[option.name] = option.coerce(getattr(self, option.name))
        object.__setattr__(self, option.name, values[option.name])
    check_relations(values, label=_field_name)


def _field_name(option: Option) -> str:
    return option.name


def _replace(self: Any, **changes: Any) -> Any:
    """Return a copy with some fields changed (validated like a new Config)."""
    return dataclasses.replace(self, **changes)


def _docstring() -> str:
    lines = [
        "The engine's configuration: one validated, immutable field per engine option.",
        "",
        "Build it with keyword arguments; see docs/configuration.md for every field.",
        "",
    ]
    lines += [f"{o.name}: {o.help}" for o in ENGINE_OPTIONS]
    return "\n".join(lines)


Config = dataclasses.make_dataclass(
    "Config",
    [
        (
            option.name,
            option.kind.annotation,
            dataclasses.field(default=option.default, metadata={"option": option}),
        )
        for option in ENGINE_OPTIONS
    ],
    frozen=True,
    namespace={
        "__post_init__": _post_init,
        "replace": _replace,
        "__doc__": _docstring(),
        "__module__": __name__,
    },
    **({"kw_only": True} if sys.version_info >= (3, 10) else {}),
)
