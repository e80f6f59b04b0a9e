"""Every option of morello, defined once.

Each :class:`Option` below is the single source of truth for one setting: the
:class:`morello.Config` dataclass, the ``morello`` command line (flags, help
text, validation) and ``docs/configuration.md`` are all generated from
:data:`OPTIONS`. To add an option, add it here, run ``tools/gen_docs.py`` and
teach the engine to read the new :class:`~morello.Config` attribute.

An option's *kind* (:class:`ValueKind`) says what values it takes: how a
command-line string is parsed, how a Python value is checked and normalized,
and how the default is shown. A bad value raises :class:`OptionValueError`,
whose message is one line naming the option::

    threads: must be an integer >= 1, got 0          (the Python API)
    --threads: must be an integer >= 1, got '0'      (the command line)
"""

from __future__ import annotations

import enum
import math
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

from morello import _morello

__all__ = [
    "CLI_OPTIONS",
    "ENGINE_OPTIONS",
    "OPTIONS",
    "BindAddress",
    "Choice",
    "FileMode",
    "Flag",
    "Integer",
    "Invalid",
    "Layer",
    "Option",
    "OptionValueError",
    "Seconds",
    "ServerName",
    "Text",
    "ValueKind",
    "check_relations",
    "groups",
    "option",
]


class Layer(enum.Enum):
    """Where an option lives."""

    #: A :class:`~morello.Config` field read by the engine, also settable on the command line.
    ENGINE = "engine"
    #: A command-line-only option of the ``morello`` program.
    CLI = "cli"


class OptionValueError(ValueError):
    """A bad value for one option.

    ``str(error)`` names the option by its API field (``threads: ...``);
    :meth:`for_cli` names it by its flag (``--threads: ...``).
    """

    def __init__(self, option: Option, reason: str) -> None:
        super().__init__(f"{option.name}: {reason}")
        self.option = option
        self.reason = reason

    def for_cli(self) -> str:
        """Return the one-line message naming the option by its command-line flag."""
        return f"{self.option.flag}: {self.reason}"


class Invalid(ValueError):
    """Raised by a :class:`ValueKind` for an unacceptable value, with an optional detail."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class ValueKind:
    """What values an option takes.

    Subclasses define :attr:`requirement` (completing "must be ..."),
    :meth:`coerce` (Python value -> normalized value) and, for options given as
    text on the command line, :meth:`parse` (text -> Python value).
    """

    #: Completes the sentence "must be ...", e.g. "an integer >= 1".
    requirement: str = ""
    #: The type of the normalized value, as written in ``config.pyi``.
    stub_type: str = "object"
    #: The types accepted by ``Config(...)``, as written in ``config.pyi``.
    stub_arg_type: str = "object"
    #: The runtime annotation of the Config field.
    annotation: Any = object

    def parse(self, text: str) -> Any:
        """Turn command-line text into a Python value; raise :class:`Invalid` if impossible."""
        return text

    def coerce(self, value: Any) -> Any:
        """Check a Python value and return its normalized form; raise :class:`Invalid`."""
        return value

    def show(self, value: Any) -> str:
        """Render a value (a default) for help text and documentation."""
        return str(value)


class Integer(ValueKind):
    """A whole number with a lower bound."""

    stub_type = "int"
    stub_arg_type = "int"
    annotation = int

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum
        self.requirement = f"an integer >= {minimum}"

    def parse(self, text: str) -> int:
        try:
            return int(text.strip(), 10)
        except ValueError:
            raise Invalid() from None

    def coerce(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < self.minimum:
            raise Invalid()
        return int(value)


class Seconds(ValueKind):
    """A finite duration in seconds, stored as a float."""

    stub_type = "float"
    stub_arg_type = "float"
    annotation = float

    def __init__(self, *, positive: bool) -> None:
        self.positive = positive
        self.requirement = f"a number of seconds {'> 0' if positive else '>= 0'}"

    def parse(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            raise Invalid() from None

    def coerce(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid()
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0 or (self.positive and seconds == 0):
            raise Invalid()
        return seconds

    def show(self, value: Any) -> str:
        return f"{value:g}"


class Choice(ValueKind):
    """One of a fixed set of strings."""

    stub_type = "str"
    stub_arg_type = "str"
    annotation = str

    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.requirement = "one of " + ", ".join(choices)

    def coerce(self, value: Any) -> str:
        if value not in self.choices or not isinstance(value, str):
            raise Invalid()
        return value


class Flag(ValueKind):
    """A boolean, switched on by giving the flag on the command line."""

    requirement = "True or False"
    stub_type = "bool"
    stub_arg_type = "bool"
    annotation = bool

    def coerce(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise Invalid()
        return value

    def show(self, value: Any) -> str:
        return "on" if value else "off"


class FileMode(ValueKind):
    """Permission bits of a file, written in octal on the command line (``660``)."""

    requirement = "an octal file mode from 000 to 777"
    stub_type = "int"
    stub_arg_type = "int"
    annotation = int

    def parse(self, text: str) -> int:
        try:
            return int(text.strip(), 8)
        except ValueError:
            raise Invalid() from None

    def coerce(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
            raise Invalid()
        return value

    def show(self, value: Any) -> str:
        return f"{value:03o}"


class BindAddress(ValueKind):
    """A listening address; the syntax is defined (and checked) by the engine."""

    requirement = "HOST:PORT, [IPV6]:PORT or unix:PATH"
    stub_type = "str"
    stub_arg_type = "str"
    annotation = str

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid()
        try:
            _morello.parse_bind(value)
        except ValueError as exc:
            raise Invalid(_engine_detail(str(exc), value)) from None
        return value


def _engine_detail(message: str, value: str) -> str:
    """The engine's reason, without the option name and quoted value it starts and ends with."""
    message = message.removeprefix("bind: ")
    for suffix in (f": {value!r}", f': "{value}"'):
        if message.endswith(suffix):
            message = message[: -len(suffix)]
    return message


class ServerName(ValueKind):
    """The host name given to applications as ``SERVER_NAME``; ``None`` means this machine's."""

    requirement = "a non-empty host name without whitespace"
    stub_type = "str"
    stub_arg_type = "str | None"
    annotation = Optional[str]

    def coerce(self, value: Any) -> str:
        if value is None:
            return socket.gethostname()
        if not isinstance(value, str) or not value or any(c.isspace() or not c.isprintable() for c in value):
            raise Invalid()
        return value


class Text(ValueKind):
    """A non-empty string checked later by whoever uses it (CLI-only options)."""

    requirement = "a non-empty string"

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise Invalid()
        return value


@dataclass(frozen=True)
class Option:
    """One option: its names, kind, default, documentation and layer."""

    #: The :class:`~morello.Config` field (or, for CLI-only options, the argparse destination).
    name: str
    #: The command-line flag (``--threads``), or the metavar of a positional argument.
    flag: str
    kind: ValueKind
    default: Any
    #: One sentence for ``--help`` and the docs (no trailing default: that is added).
    help: str
    #: The section of ``--help`` and of the docs.
    group: str
    metavar: str | None = None
    short: str | None = None
    #: Given several times; the API value is a tuple.
    repeatable: bool = False
    layer: Layer = Layer.ENGINE
    positional: bool = False
    #: How the default is described when it is not a value (``server_name``).
    default_text: str | None = None

    def coerce(self, value: Any) -> Any:
        """Check and normalize a Python value; raise :class:`OptionValueError`."""
        if not self.repeatable:
            return self._coerce_one(value)
        items = (value,) if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise OptionValueError(
                self, f"must be {self.kind.requirement} or a non-empty list of them, got {value!r}"
            )
        return tuple(self._coerce_one(item) for item in items)

    def _coerce_one(self, value: Any) -> Any:
        try:
            return self.kind.coerce(value)
        except Invalid as exc:
            raise OptionValueError(self, _reason(self.kind, repr(value), exc.detail)) from None

    def parse(self, text: str) -> Any:
        """Parse and check one command-line value; raise :class:`OptionValueError`."""
        try:
            return self.kind.coerce(self.kind.parse(text))
        except Invalid as exc:
            raise OptionValueError(self, _reason(self.kind, repr(text), exc.detail)) from None

    def describe(self) -> str:
        """The help text completed with what values are accepted (for ``--help`` and the docs)."""
        text = self.help
        if not isinstance(self.kind, (Text, Flag)):
            text += f" Must be {self.kind.requirement}."
        if self.repeatable:
            text += " Repeatable."
        return text

    def show_default(self) -> str:
        """The default as shown in ``--help`` and the docs; empty if there is none."""
        if self.default_text is not None:
            return self.default_text
        if self.default is None:
            return ""
        if self.repeatable:
            return ", ".join(self.kind.show(item) for item in self.default)
        return self.kind.show(self.default)


def _reason(kind: ValueKind, shown: str, detail: str) -> str:
    reason = f"must be {kind.requirement}, got {shown}"
    return f"{reason} ({detail})" if detail else reason


_APPLICATION, _LISTENING, _WORKERS, _TIMEOUTS, _LIMITS, _HTTP, _LOGGING = (
    "Application",
    "Listening",
    "Workers",
    "Timeouts",
    "Limits",
    "HTTP",
    "Logging",
)

OPTIONS: tuple[Option, ...] = (
    Option(
        name="app",
        flag="APP",
        kind=Text(),
        default=None,
        help="The WSGI application to serve at the root: MODULE:APP, MODULE:FACTORY() "
        "(called once, without arguments) or MODULE alone, meaning MODULE:application.",
        group=_APPLICATION,
        metavar="APP",
        layer=Layer.CLI,
        positional=True,
    ),
    Option(
        name="mount",
        flag="--mount",
        kind=Text(),
        default=(),
        help="Also serve the application MODULE:APP (same forms as APP) under the URL prefix PREFIX. "
        "The longest matching prefix wins.",
        group=_APPLICATION,
        metavar="PREFIX=MODULE:APP",
        repeatable=True,
        layer=Layer.CLI,
    ),
    Option(
        name="chdir",
        flag="--chdir",
        kind=Text(),
        default=None,
        help="Change to this directory before loading the applications "
        "(the working directory is always on sys.path).",
        group=_APPLICATION,
        metavar="DIR",
        layer=Layer.CLI,
    ),
    Option(
        name="bind",
        flag="--bind",
        short="-b",
        kind=BindAddress(),
        default=("127.0.0.1:8000",),
        help="Listen on this address. Port 0 picks a free port; an IPv6 host is written in brackets.",
        group=_LISTENING,
        metavar="ADDRESS",
        repeatable=True,
    ),
    Option(
        name="backlog",
        flag="--backlog",
        kind=Integer(1),
        default=1024,
        help="Length of each listening socket's queue of connections not yet accepted.",
        group=_LISTENING,
        metavar="N",
    ),
    Option(
        name="unix_socket_mode",
        flag="--unix-socket-mode",
        kind=FileMode(),
        default=0o666,
        help="Permission bits, in octal, of the UNIX sockets created for unix: addresses.",
        group=_LISTENING,
        metavar="MODE",
    ),
    Option(
        name="threads",
        flag="--threads",
        kind=Integer(1),
        default=10,
        help="Worker threads started up front and always kept.",
        group=_WORKERS,
        metavar="N",
    ),
    Option(
        name="max_threads",
        flag="--max-threads",
        kind=Integer(1),
        default=128,
        help="Most worker threads: more than --threads are started while requests wait for one. "
        "At least --threads.",
        group=_WORKERS,
        metavar="N",
    ),
    Option(
        name="max_queued",
        flag="--max-queued",
        kind=Integer(0),
        default=1024,
        help="Most requests waiting for a worker thread; beyond it new requests get 503. 0 means unbounded.",
        group=_WORKERS,
        metavar="N",
    ),
    Option(
        name="max_connections",
        flag="--max-connections",
        kind=Integer(0),
        default=0,
        help="Most open connections; past it morello stops accepting (new connections wait in the "
        "listen backlog) until some close. 0 means no limit but the open-files limit.",
        group=_WORKERS,
        metavar="N",
    ),
    Option(
        name="keepalive",
        flag="--keep-alive",
        kind=Seconds(positive=False),
        default=5.0,
        help="Seconds an idle connection is kept open waiting for its next request; 0 disables keep-alive.",
        group=_TIMEOUTS,
        metavar="SECONDS",
    ),
    Option(
        name="header_timeout",
        flag="--header-timeout",
        kind=Seconds(positive=True),
        default=10.0,
        help="Seconds a client has to send the request line and headers once it has started a request; "
        "then 408.",
        group=_TIMEOUTS,
        metavar="SECONDS",
    ),
    Option(
        name="read_timeout",
        flag="--read-timeout",
        kind=Seconds(positive=True),
        default=30.0,
        help="Seconds to wait for more of a request body, between two reads.",
        group=_TIMEOUTS,
        metavar="SECONDS",
    ),
    Option(
        name="write_timeout",
        flag="--write-timeout",
        kind=Seconds(positive=True),
        default=30.0,
        help="Seconds to wait for a client to accept more response bytes before closing the connection.",
        group=_TIMEOUTS,
        metavar="SECONDS",
    ),
    Option(
        name="shutdown_timeout",
        flag="--graceful-timeout",
        kind=Seconds(positive=False),
        default=30.0,
        help="Seconds a graceful stop waits for in-flight requests to finish.",
        group=_TIMEOUTS,
        metavar="SECONDS",
    ),
    Option(
        name="limit_request_line",
        flag="--limit-request-line",
        kind=Integer(1),
        default=8190,
        help="Longest request line in bytes (method, target and version); longer ones get 414.",
        group=_LIMITS,
        metavar="BYTES",
    ),
    Option(
        name="limit_request_fields",
        flag="--limit-request-fields",
        kind=Integer(1),
        default=100,
        help="Most header fields in one request; more get 431.",
        group=_LIMITS,
        metavar="N",
    ),
    Option(
        name="limit_request_field_size",
        flag="--limit-request-field-size",
        kind=Integer(1),
        default=8190,
        help="Longest header line in bytes; longer ones get 431.",
        group=_LIMITS,
        metavar="BYTES",
    ),
    Option(
        name="max_body_size",
        flag="--max-body-size",
        kind=Integer(0),
        default=0,
        help="Largest request body in bytes; larger ones get 413. 0 means unlimited.",
        group=_LIMITS,
        metavar="BYTES",
    ),
    Option(
        name="output_buffer",
        flag="--output-buffer",
        kind=Integer(1),
        default=262144,
        help="Response bytes buffered per connection before the application's iteration is paused "
        "until the client catches up.",
        group=_LIMITS,
        metavar="BYTES",
    ),
    Option(
        name="server_name",
        flag="--server-name",
        kind=ServerName(),
        default=None,
        default_text="this machine's host name",
        help="SERVER_NAME given to applications.",
        group=_HTTP,
        metavar="NAME",
    ),
    Option(
        name="protocol",
        flag="--protocol",
        kind=Choice("HTTP/1.0", "HTTP/1.1"),
        default="HTTP/1.1",
        help="Highest HTTP version spoken, written in every status line.",
        group=_HTTP,
        metavar="VERSION",
    ),
    Option(
        name="keep_quoted_slash",
        flag="--keep-quoted-slash",
        kind=Flag(),
        default=False,
        help="Keep %2F undecoded in PATH_INFO, so that an encoded slash stays distinct from a path "
        "separator (CherryPy's wsgiserver behaviour).",
        group=_HTTP,
    ),
    Option(
        name="log_level",
        flag="--log-level",
        kind=Choice("debug", "info", "warning", "error"),
        default="info",
        help="Least severe messages logged to standard error.",
        group=_LOGGING,
        metavar="LEVEL",
        layer=Layer.CLI,
    ),
)

ENGINE_OPTIONS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.layer is Layer.ENGINE)
CLI_OPTIONS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.layer is Layer.CLI)
_BY_NAME: Mapping[str, Option] = {o.name: o for o in OPTIONS}


def option(name: str) -> Option:
    """Return the option whose API field (or argparse destination) is *name*."""
    return _BY_NAME[name]


def check_relations(values: Mapping[str, Any], label: Callable[[Option], str]) -> None:
    """Check constraints between several (already normalized) engine options.

    *label* names an option in the message (its field in the API, its flag on
    the command line). Raises :class:`OptionValueError` for the option at fault.
    """
    threads, max_threads = values["threads"], values["max_threads"]
    if max_threads < threads:
        raise OptionValueError(
            option("max_threads"),
            f"must be >= {label(option('threads'))} ({threads}), got {max_threads}",
        )


def groups(options: Sequence[Option] = OPTIONS) -> tuple[tuple[str, tuple[Option, ...]], ...]:
    """The options by group, groups in order of first appearance."""
    names = list(dict.fromkeys(o.group for o in options))
    return tuple((g, tuple(o for o in options if o.group == g)) for g in names)
