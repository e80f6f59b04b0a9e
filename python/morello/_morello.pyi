"""Type stubs for morello's engine, the Rust extension module ``morello._morello``.

Checked against the built module by ``python -m mypy.stubtest morello._morello`` (``make lint``).
"""

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Final, Literal, final

from _typeshed.wsgi import WSGIApplication
from typing_extensions import Self

from morello.config import Config

__all__ = [
    "__version__",
    "SERVER_SOFTWARE",
    "CONFIG_FIELDS",
    "Engine",
    "FileWrapper",
    "Input",
    "ErrorStream",
    "StartResponse",
    "WriteCallable",
    "parse_bind",
]

__version__: Final[str]
SERVER_SOFTWARE: Final[str]
#: The Config fields the engine reads.
CONFIG_FIELDS: Final[list[str]]

@final
class Engine:
    """Listeners, connections and the worker pool serving one mount table."""

    def __new__(cls, config: Config, mounts: list[tuple[str, WSGIApplication]]) -> Self: ...
    def start(self) -> None: ...
    @property
    def addresses(self) -> list[tuple[str, int] | str]: ...
    def stop(self, timeout: float | None = None) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    @property
    def running(self) -> bool: ...
    def stats(self) -> dict[str, int]: ...

@final
class FileWrapper:
    """``wsgi.file_wrapper``: iterates over a file-like object in blocks."""

    def __new__(cls, filelike: Any, blksize: int = 8192) -> Self: ...
    @property
    def filelike(self) -> Any: ...
    @property
    def blksize(self) -> int: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...
    def close(self) -> None: ...

@final
class Input:
    """``wsgi.input``: the request body."""

    def read(self, size: int | None = None) -> bytes: ...
    def readline(self, size: int | None = None) -> bytes: ...
    def readlines(self, hint: int | None = None) -> list[bytes]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...

@final
class ErrorStream:
    """``wsgi.errors``: each line written is logged."""

    def write(self, text: str) -> int: ...
    def writelines(self, lines: Iterable[str]) -> None: ...
    def flush(self) -> None: ...

@final
class WriteCallable:
    """The ``write()`` callable returned by ``start_response``."""

    def __call__(self, data: bytes) -> None: ...

@final
class StartResponse:
    """The ``start_response`` callable given to applications."""

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: tuple[type[BaseException], BaseException, TracebackType] | None = None,
    ) -> WriteCallable: ...

def parse_bind(value: str) -> tuple[Literal["tcp"], str, int] | tuple[Literal["unix"], str]: ...
