"""CherryPy's ``wsgiserver`` API, served by morello's engine.

Code written for CherryPy's wsgiserver runs with only its import changed::

    from morello import wsgiserver

    server = wsgiserver.CherryPyWSGIServer(('localhost', 8070), wsgi_apps, server_name='localhost')
    try:
        server.start()          # blocks until stop() (from another thread) or Ctrl-C
    except KeyboardInterrupt:
        server.stop()

The constructor's arguments map onto :class:`morello.Config` like this:

==================== =======================================================
``numthreads``       ``threads`` and ``max_threads`` (the seed's pool is fixed)
``max``              ``max_queued`` (-1, the default, means unbounded: 0)
``request_queue_size`` ``backlog``
``timeout``          ``header_timeout`` and ``read_timeout``
``server_name``      ``server_name`` (default: this machine's host name)
``protocol``         ``protocol``
==================== =======================================================

and the attributes :attr:`~CherryPyWSGIServer.keep_quoted_slash` (True: ``%2F``
stays encoded in ``PATH_INFO``, as in the seed) and
:attr:`~CherryPyWSGIServer.shutdown_timeout` (5 seconds) complete the
configuration. Every attribute may be changed between construction and
:meth:`~CherryPyWSGIServer.start`, which reads them.

morello does not implement TLS: setting ``ssl_certificate`` or
``ssl_private_key`` makes :meth:`~CherryPyWSGIServer.start` raise
:class:`SSLNotAvailable` rather than serve plain HTTP. Terminate TLS in a
reverse proxy instead.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Union

from morello._morello import SERVER_SOFTWARE
from morello.config import Config
from morello.mounts import mount_pairs, normalize_mounts
from morello.server import Server, format_url

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["CherryPyWSGIServer", "SSLNotAvailable", "WSGIPathInfoDispatcher", "WSGIServer"]

log = logging.getLogger("morello")

#: ``(host, port)`` for TCP (an IPv6 host is allowed) or a UNIX socket path.
BindAddr = Union[tuple[str, int], str]


class SSLNotAvailable(NotImplementedError):
    """Raised by :meth:`CherryPyWSGIServer.start` when an SSL certificate or key is set.

    morello serves plain HTTP only; it never ignores a TLS setting. It is a
    :class:`NotImplementedError`, hence also a :class:`RuntimeError`.
    """


class WSGIPathInfoDispatcher:
    """A WSGI application dispatching on ``PATH_INFO`` to mounted applications.

    *apps* is a dict ``{prefix: app}`` or a list of ``(prefix, app)`` pairs.
    Given to :class:`CherryPyWSGIServer`, its table is handed to the engine,
    which dispatches natively; called as an application (inside another
    server), it dispatches itself: the longest matching prefix is appended to
    ``SCRIPT_NAME`` and removed from ``PATH_INFO``; no match answers 404.
    """

    def __init__(self, apps: dict[str, WSGIApplication] | list[tuple[str, WSGIApplication]]) -> None:
        table = normalize_mounts(mount_pairs(apps))
        #: ``(prefix, app)`` pairs, longest prefix first; the root prefix is ``""``.
        self.apps: list[tuple[str, WSGIApplication]] = sorted(
            table, key=lambda pair: len(pair[0]), reverse=True
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        for prefix, app in self.apps:
            if path == prefix or path.startswith(prefix + "/"):
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix) :]
                return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]


class CherryPyWSGIServer:
    """CherryPy's ``CherryPyWSGIServer``: serve *wsgi_app* on *bind_addr*.

    *bind_addr* is ``(host, port)`` (a host name is resolved and its
    addresses tried in turn, as the seed did) or the path of a UNIX socket.
    *wsgi_app* is a WSGI application, a list of ``(script_name, app)`` pairs
    (``'/'`` is the root, with ``SCRIPT_NAME`` ``''``) or a
    :class:`WSGIPathInfoDispatcher`.
    """

    #: Set either to make :meth:`start` raise :class:`SSLNotAvailable`.
    ssl_certificate: str | None = None
    ssl_private_key: str | None = None
    #: Keep ``%2F`` encoded in ``PATH_INFO`` (the seed's behaviour).
    keep_quoted_slash: bool = True
    #: Seconds :meth:`stop` waits for in-flight requests.
    shutdown_timeout: float = 5
    #: The server's software name and version.
    version: str = SERVER_SOFTWARE

    def __init__(
        self,
        bind_addr: BindAddr,
        wsgi_app: WSGIApplication | list[tuple[str, WSGIApplication]] | WSGIPathInfoDispatcher,
        numthreads: int = 10,
        server_name: str | None = None,
        max: int = -1,
        request_queue_size: int = 5,
        timeout: float = 10,
        protocol: str = "HTTP/1.1",
    ) -> None:
        self.bind_addr = bind_addr
        self.wsgi_app = wsgi_app
        self.numthreads = numthreads
        self.server_name = server_name
        self.max = max
        self.request_queue_size = request_queue_size
        self.timeout = timeout
        self.protocol = protocol
        self._server: Server | None = None
        self._lock = threading.Lock()

    def __str__(self) -> str:
        return f"{self.__module__}.{type(self).__name__}({self.bind_addr!r})"

    @property
    def ready(self) -> bool:
        """Whether the server is listening (between :meth:`start` and :meth:`stop`)."""
        server = self._server
        return server is not None and server.running

    def to_config(self) -> Config:
        """The :class:`morello.Config` the current attributes map to (bound to the first address)."""
        return Config(
            bind=(_bind_strings(self.bind_addr)[0],),
            threads=self.numthreads or 1,
            max_threads=self.numthreads or 1,
            max_queued=self.max if self.max > 0 else 0,
            backlog=self.request_queue_size,
            header_timeout=self.timeout,
            read_timeout=self.timeout,
            shutdown_timeout=self.shutdown_timeout,
            server_name=self.server_name,
            protocol=self.protocol,
            keep_quoted_slash=self.keep_quoted_slash,
        )

    def start(self) -> None:
        """Listen and serve until :meth:`stop` is called from another thread.

        On Ctrl-C the server stops gracefully and :class:`KeyboardInterrupt`
        propagates to the caller, as in the seed. After binding a TCP address,
        :attr:`bind_addr` holds the real one (port 0 resolved).
        """
        if self.ssl_certificate or self.ssl_private_key:
            raise SSLNotAvailable(
                "morello does not implement TLS, so it will not serve with ssl_certificate or "
                "ssl_private_key set; terminate TLS in a reverse proxy and serve plain HTTP behind it"
            )
        with self._lock:
            if self.ready:
                raise RuntimeError(f"{self} is already running")
            server = self._server = self._bind()
        address = server.addresses[0]
        if not isinstance(address, str):
            self.bind_addr = address
        log.info("%s: serving %s", SERVER_SOFTWARE, format_url(address))
        server._serve_started()

    def stop(self) -> None:
        """Stop gracefully, waiting at most :attr:`shutdown_timeout` seconds for in-flight requests."""
        server = self._server
        if server is not None:
            server.stop(self.shutdown_timeout)

    def _bind(self) -> Server:
        """Start a server on the first bind address that can be bound (the others are tried in turn)."""
        config = self.to_config()
        mounts = self.wsgi_app.apps if isinstance(self.wsgi_app, WSGIPathInfoDispatcher) else self.wsgi_app
        *others, last = _bind_strings(self.bind_addr)
        for bind in others:
            try:
                return _started(Server(mounts, config=config.replace(bind=(bind,))))
            except OSError as exc:
                log.debug("cannot listen on %s (%s): trying the next address", bind, exc)
        return _started(Server(mounts, config=config.replace(bind=(last,))))


WSGIServer = CherryPyWSGIServer


def _started(server: Server) -> Server:
    server.start()
    return server


def _bind_strings(bind_addr: Any) -> list[str]:
    """The engine bind strings for a seed ``bind_addr``, in the order to try them."""
    if isinstance(bind_addr, str):
        return [f"unix:{bind_addr}"]
    host, port = bind_addr
    if host in ("", None):
        raise ValueError("use '0.0.0.0' (IPv4) or '::' (IPv6) instead of '' or None as the host")
    try:
        hosts = [str(ipaddress.ip_address(host))]
    except ValueError:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        hosts = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return [f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in hosts]
