"""The Python API: :class:`Server`, a WSGI server driven by the Rust engine."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Callable, Union

from morello import _morello
from morello.config import FIELDS, Config
from morello.mounts import mount_pairs, normalize_mounts

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["Address", "Server", "format_url"]

#: A bound address: ``(host, port)`` for TCP (IPv6 host without brackets) or a UNIX socket path.
Address = Union[tuple[str, int], str]

log = logging.getLogger("morello")

# How often serve() returns to Python while waiting, so that signals (Ctrl-C) are handled promptly.
_POLL_SECONDS = 0.2


def format_url(address: Address) -> str:
    """``http://host:port`` for a TCP address (brackets around an IPv6 host), the path for a UNIX one."""
    if isinstance(address, str):
        return address
    host, port = address
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Server:
    """A thread-pooled WSGI server.

    *app* is a WSGI application (served at the root), a list of
    ``(prefix, app)`` pairs or a dict ``{prefix: app}``; *mounts* adds more
    pairs. Prefixes are normalized (``"/"`` is the root, trailing slashes are
    dropped) and the longest matching prefix serves a request.

    The configuration is *config* (a :class:`~morello.Config`) with any
    keyword *options* (Config fields) applied on top, e.g.
    ``Server(app, bind="127.0.0.1:0", threads=4)``.

    Use :meth:`start` and :meth:`stop` to run it in the background, :meth:`serve`
    to run it in the foreground, or a ``with`` block::

        with Server(app, bind="127.0.0.1:0") as server:
            print(server.url)
    """

    def __init__(
        self,
        app: WSGIApplication | list[tuple[str, WSGIApplication]] | dict[str, WSGIApplication] | None = None,
        *,
        mounts: list[tuple[str, WSGIApplication]] | dict[str, WSGIApplication] | None = None,
        config: Config | None = None,
        **options: Any,
    ) -> None:
        for name in options:
            if name not in FIELDS:
                raise TypeError(f"Server() got an unexpected keyword argument {name!r}")
        if config is None:
            config = Config(**options)
        elif options:
            config = config.replace(**options)
        pairs = (mount_pairs(app) if app is not None else []) + (
            mount_pairs(mounts) if mounts is not None else []
        )
        if not pairs:
            raise TypeError("Server() needs an application: pass app or mounts")
        self._mounts = normalize_mounts(pairs)
        self._config: Config = config
        self._engine: _morello.Engine | None = None
        self._lock = threading.Lock()

    @property
    def config(self) -> Config:
        """The validated configuration."""
        return self._config

    @property
    def mounts(self) -> list[tuple[str, WSGIApplication]]:
        """The normalized mount table: ``(prefix, app)`` pairs, ``""`` being the root."""
        return list(self._mounts)

    @property
    def running(self) -> bool:
        """Whether the server is started and not yet stopped."""
        return self._engine is not None and self._engine.running

    def start(self) -> None:
        """Bind every address and start serving in background threads; return once listening.

        Raises :class:`OSError` if an address cannot be bound, :class:`RuntimeError`
        if the server is already running. A stopped server can be started again.
        """
        with self._lock:
            if self.running:
                raise RuntimeError("the server is already running")
            engine = _morello.Engine(self._config, list(self._mounts))
            engine.start()
            self._engine = engine

    def stop(self, timeout: float | None = None) -> bool:
        """Stop gracefully: stop accepting, let in-flight requests finish, close idle connections.

        Waits at most *timeout* seconds (default: ``config.shutdown_timeout``).
        Returns True if everything finished in time. Stopping a server that is not
        running does nothing and returns True.
        """
        engine = self._engine
        if engine is None:
            return True
        return engine.stop(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped or *timeout* seconds passed; True if stopped."""
        engine = self._engine
        if engine is None:
            return True
        return engine.wait(timeout)

    def serve(self) -> None:
        """Start if needed and serve in the foreground until stopped.

        Returns once :meth:`stop` is called from another thread, or after a
        graceful stop on SIGTERM (handled only when called from the main thread;
        the previous handler is restored afterwards). On Ctrl-C it stops
        gracefully and re-raises :class:`KeyboardInterrupt`.
        """
        if not self.running:
            self.start()
        self._serve_started()

    def _serve_started(self) -> None:
        """The body of :meth:`serve` once started: block until stopped, handling SIGTERM and Ctrl-C.

        Never (re)starts the server, so a stop() racing with the caller just makes it return.
        """
        terminate = threading.Event()
        restore = _on_sigterm(terminate)
        try:
            while not self.wait(_POLL_SECONDS):
                if terminate.is_set():
                    log.info("received SIGTERM: stopping gracefully")
                    self._graceful_stop()
                    return
        except KeyboardInterrupt:
            log.info("interrupted: stopping gracefully")
            self._graceful_stop()
            raise
        finally:
            restore()

    def _graceful_stop(self) -> None:
        if not self.stop():
            log.warning(
                "graceful stop: requests were still in flight after %g seconds", self._config.shutdown_timeout
            )

    @property
    def addresses(self) -> list[Address]:
        """The bound addresses (real ports, port 0 resolved); raises RuntimeError before start()."""
        return self._started_engine().addresses

    @property
    def url(self) -> str:
        """The first address as a URL (see :func:`format_url`); raises RuntimeError before start()."""
        return format_url(self.addresses[0])

    def stats(self) -> dict[str, int]:
        """Engine counters: threads, busy_threads, queued, connections, requests (completed).

        Raises RuntimeError before start().
        """
        return self._started_engine().stats()

    def _started_engine(self) -> _morello.Engine:
        engine = self._engine
        if engine is None:
            raise RuntimeError("the server has not been started")
        return engine

    def __enter__(self) -> Server:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        if self._engine is None:
            return "<morello.Server (not started)>"
        urls = " ".join(format_url(a) for a in self._engine.addresses)
        return f"<morello.Server {'running' if self.running else 'stopped'} {urls}>"


def _on_sigterm(event: threading.Event) -> Callable[[], None]:
    """In the main thread, make SIGTERM set *event*; return a function restoring the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        event.set()

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        # None means the previous handler was not installed from Python: fall back to the default.
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

    return restore
