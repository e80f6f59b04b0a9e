//! `wsgi.file_wrapper`: file responses, sent with `sendfile(2)` when possible.

use std::fs::File;
use std::os::unix::io::{FromRawFd, RawFd};

use pyo3::prelude::*;

/// The `wsgi.file_wrapper` type. Iterating it reads `blksize` bytes at a time (the fallback for
/// file-like objects); when it wraps a regular file the server sends the file with
/// `sendfile(2)` instead, from the file's current position.
#[pyclass(module = "morello._morello", frozen)]
pub struct FileWrapper {
    filelike: Py<PyAny>,
    blksize: usize,
}

/// A regular file found behind a wrapper: a duplicated descriptor, its position and size.
pub struct RegularFile {
    /// The duplicated descriptor, owned by the response from now on.
    pub file: File,
    /// The position to send from.
    pub offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub remaining: u64,
}

impl FileWrapper {
    /// If the wrapped object is a regular file with a descriptor, duplicates it (the app may
    /// close its object as soon as it likes) and returns it with its position and size.
    pub fn regular_file(&self, py: Python<'_>) -> Option<RegularFile> {
        let obj = self.filelike.bind(py);
        let fd: RawFd = obj.call_method0("fileno").ok()?.extract().ok()?;
        let offset: u64 = obj.call_method0("tell").ok()?.extract().ok()?;
        // SAFETY: fstat writes into a zeroed struct we own; `fd` is only read.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFREG
        {
            return None;
        }
        let size = u64::try_from(st.st_size).ok()?;
        // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we then own exclusively.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return None;
        }
        // SAFETY: `dup` is a fresh descriptor owned by nobody else.
        let file = unsafe { File::from_raw_fd(dup) };
        Some(RegularFile {
            file,
            offset,
            remaining: size.saturating_sub(offset),
        })
    }
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: isize) -> Self {
        let blksize = usize::try_from(blksize)
            .ok()
            .filter(|b| *b > 0)
            .unwrap_or(8192);
        Self { filelike, blksize }
    }

    /// The wrapped object.
    #[getter]
    fn filelike(&self, py: Python<'_>) -> Py<PyAny> {
        self.filelike.clone_ref(py)
    }

    /// The block size used when iterating.
    #[getter]
    fn blksize(&self) -> usize {
        self.blksize
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        Ok((data.len()? > 0).then_some(data))
    }

    /// Closes the wrapped object, if it can be closed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let obj = self.filelike.bind(py);
        if let Ok(close) = obj.getattr("close") {
            close.call0()?;
        }
        Ok(())
    }
}
