"""The ``morello`` command (also ``python -m morello``): serve WSGI applications from a shell.

Its flags, their help and their validation come from :mod:`morello.options`.
Usage errors and applications that cannot be loaded are reported on one line
(``morello: error: ...``) with exit status 2; an address that cannot be bound
exits with status 1. Ctrl-C and SIGTERM stop the server gracefully and exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from morello._morello import __version__
from morello.config import Config
from morello.loader import AppLoadError, AppSpec, load_app
from morello.mounts import normalize_prefix
from morello.options import ENGINE_OPTIONS, Flag, Option, OptionValueError, check_relations, groups, option
from morello.server import Address, Server, format_url

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["Invocation", "UsageError", "build_parser", "main", "parse_command_line"]

PROG = "morello"

log = logging.getLogger("morello")


class UsageError(Exception):
    """A bad command line; the message is one line, usually starting with the option's name."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exceptions, so that they are reported on one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _help(opt: Option) -> str:
    default = opt.show_default()
    text = f"{opt.describe()} Default: {default}." if default else opt.describe()
    return text.replace("%", "%%")


def _add_option(group: Any, opt: Option) -> None:
    if opt.positional:
        group.add_argument(opt.name, nargs="?", metavar=opt.metavar, help=_help(opt))
    elif isinstance(opt.kind, Flag):
        group.add_argument(opt.flag, dest=opt.name, action="store_true", default=None, help=_help(opt))
    else:
        names = [opt.short, opt.flag] if opt.short else [opt.flag]
        action = "append" if opt.repeatable else "store"
        group.add_argument(
            *names, dest=opt.name, metavar=opt.metavar, action=action, default=None, help=_help(opt)
        )


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser, generated from :data:`morello.options.OPTIONS`."""
    parser = _Parser(
        prog=PROG,
        usage="%(prog)s [options] APP",
        allow_abbrev=False,
        description="Serve WSGI applications with morello, a thread-pooled WSGI server whose engine is "
        "written in Rust.",
        epilog="Example: morello examples.hello:app --bind 127.0.0.1:8080 --threads 16. "
        "Every option is described in docs/configuration.md.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    for title, options in groups():
        group = parser.add_argument_group(title)
        for opt in options:
            _add_option(group, opt)
    return parser


@dataclass(frozen=True)
class Invocation:
    """A validated command line."""

    config: Config
    #: ``(prefix, application)`` pairs to load; the positional APP has prefix ``""``.
    mounts: tuple[tuple[str, AppSpec], ...]
    chdir: str | None
    log_level: str


def parse_command_line(argv: Sequence[str]) -> Invocation:
    """Parse and validate *argv* (without the program name); raise :class:`UsageError`."""
    namespace = build_parser().parse_args(list(argv))
    try:
        config = _config(namespace)
        chdir = option("chdir").parse(namespace.chdir) if namespace.chdir is not None else None
        level = option("log_level")
        log_level = level.parse(namespace.log_level) if namespace.log_level is not None else level.default
    except OptionValueError as exc:
        raise UsageError(exc.for_cli()) from None
    return Invocation(config, _mounts(namespace), chdir, log_level)


def _config(namespace: argparse.Namespace) -> Config:
    given: dict[str, Any] = {}
    for opt in ENGINE_OPTIONS:
        raw = getattr(namespace, opt.name)
        if raw is None:
            continue
        if isinstance(opt.kind, Flag):
            given[opt.name] = raw
        elif opt.repeatable:
            given[opt.name] = tuple(opt.parse(text) for text in raw)
        else:
            given[opt.name] = opt.parse(raw)
    check_relations({o.name: given.get(o.name, o.default) for o in ENGINE_OPTIONS}, label=lambda o: o.flag)
    return Config(**given)


def _mounts(namespace: argparse.Namespace) -> tuple[tuple[str, AppSpec], ...]:
    mounts: list[tuple[str, AppSpec]] = []
    if namespace.app is not None:
        try:
            mounts.append(("", AppSpec.parse(namespace.app)))
        except ValueError as exc:
            raise UsageError(f"APP: {exc}") from None
    for text in namespace.mount or ():
        prefix, equals, spec = text.partition("=")
        if not equals:
            raise UsageError(f"--mount: must be PREFIX=MODULE:APP, got {text!r}")
        try:
            mount = (normalize_prefix(prefix), AppSpec.parse(spec))
        except ValueError as exc:
            raise UsageError(f"--mount: {exc}") from None
        if any(mount[0] == seen for seen, _ in mounts):
            raise UsageError(f"--mount: two applications are mounted at {prefix!r}")
        mounts.append(mount)
    if not mounts:
        raise UsageError("no application: give APP (MODULE:APP), or --mount PREFIX=MODULE:APP")
    return tuple(mounts)


def load_applications(invocation: Invocation) -> list[tuple[str, WSGIApplication]]:
    """Change directory if asked, put the working directory on sys.path and load every application.

    Raises :class:`UsageError` for a bad ``--chdir``, :class:`AppLoadError` for an application.
    """
    if invocation.chdir is not None:
        try:
            os.chdir(invocation.chdir)
        except OSError as exc:
            raise UsageError(f"--chdir: cannot change to {invocation.chdir!r}: {exc.strerror}") from None
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    return [(prefix, load_app(spec)) for prefix, spec in invocation.mounts]


def _describe(address: Address) -> str:
    return f"unix:{address}" if isinstance(address, str) else format_url(address)


def _fail(message: str, status: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``morello`` command with *argv* (default: ``sys.argv[1:]``); return the exit status."""
    try:
        invocation = parse_command_line(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        return _fail(str(exc))
    logging.basicConfig(
        level=invocation.log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S %z",
        stream=sys.stderr,
    )
    try:
        return _run(invocation)
    except KeyboardInterrupt:
        return 0


def _run(invocation: Invocation) -> int:
    try:
        mounts = load_applications(invocation)
    except UsageError as exc:
        return _fail(str(exc))
    except AppLoadError as exc:
        log.debug("loading failed", exc_info=exc.__cause__)
        return _fail(str(exc))
    server = Server(mounts, config=invocation.config)
    try:
        server.start()
    except OSError as exc:
        return _fail(f"cannot listen: {exc}", status=1)
    try:
        config = server.config
        threads = f"{config.threads} threads" + (
            f", up to {config.max_threads}" if config.max_threads > config.threads else ""
        )
        urls = ", ".join(_describe(address) for address in server.addresses)
        log.info("%s %s: serving %s (%s)", PROG, __version__, urls, threads)
        for prefix, spec in invocation.mounts:
            log.debug("%s serves %s", spec, prefix or "/")
        server.serve()
    except KeyboardInterrupt:
        pass  # serve() has already stopped gracefully
    finally:
        server.stop()
    log.info("stopped")
    return 0
