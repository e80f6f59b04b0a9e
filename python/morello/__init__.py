"""morello: a thread-pooled WSGI server whose engine is written in Rust.

The heir of CherryPy's wsgiserver. Use :class:`Server` from Python, the
``morello`` command (``python -m morello``) from a shell, or
:mod:`morello.wsgiserver` for code written for CherryPy's wsgiserver.
"""

from morello import wsgiserver
from morello._morello import SERVER_SOFTWARE, FileWrapper, __version__
from morello.config import Config
from morello.server import Server

__all__ = ["SERVER_SOFTWARE", "Config", "FileWrapper", "Server", "__version__", "wsgiserver"]
