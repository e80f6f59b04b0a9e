//! `wsgi.input`: the request body as a read-only binary stream.
//!
//! Bytes are streamed from the IO thread through the exchange: nothing buffers the whole body.
//! The first read tells the IO thread the body is wanted (which sends `100 Continue` when the
//! client asked for it). Waiting for bytes releases the GIL. Reads never go past the body and
//! never block once it has ended.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::exchange::{Exchange, Shared};

/// Extra time a reader waits beyond the read timeout before giving up by itself; normally the
/// IO thread reports the timeout first.
const TIMEOUT_SLACK: Duration = Duration::from_secs(5);

struct State {
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl State {
    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// The next `n` bytes (fewer if fewer are buffered) as a new `bytes`, copied once.
    fn take<'py>(&mut self, py: Python<'py>, n: usize) -> Bound<'py, PyBytes> {
        let n = n.min(self.buf.len() - self.pos);
        let out = PyBytes::new(py, &self.buf[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        out
    }
}

/// What one look at the exchange found (see [`take_body`]).
struct Taken {
    /// Body bytes were moved into the stream's buffer.
    data: bool,
    /// Where the unread bytes start in the stream's buffer (not 0 when the buffer came from
    /// the IO thread with the request head still in front of the body).
    start: usize,
    /// The body has ended (all of it is in the stream's buffer or read).
    eof: bool,
    /// Why the body cannot be read on (nothing was taken).
    error: Option<String>,
}

/// Whether a read has something to take: bytes, the end, an error, or a gone client.
fn ready(shared: &Shared) -> bool {
    shared.body.len() > shared.body_start
        || shared.body_eof
        || shared.body_error.is_some()
        || shared.client_gone
}

/// Moves the exchange's body bytes to the end of `buf` (`buf` holds only unread bytes). When
/// `buf` is empty the two buffers trade places, so no bytes are copied and the IO thread gets
/// an allocation back to fill.
fn take_body(shared: &mut Shared, buf: &mut Vec<u8>) -> Taken {
    let data = shared.body.len() > shared.body_start;
    let mut start = 0;
    if buf.is_empty() {
        std::mem::swap(buf, &mut shared.body);
        start = shared.body_start;
    } else {
        buf.extend_from_slice(shared.body.get(shared.body_start..).unwrap_or_default());
    }
    shared.body.clear();
    shared.body_start = 0;
    let eof = shared.body_eof;
    let error = if !data && !eof {
        Some(shared.body_error.map(|e| e.message()).unwrap_or_else(|| {
            if shared.client_gone {
                "client disconnected".to_owned()
            } else {
                "timed out reading the request body".to_owned()
            }
        }))
    } else {
        None
    };
    Taken {
        data,
        start,
        eof,
        error,
    }
}

/// The `wsgi.input` stream of one request.
#[pyclass(module = "morello._morello", frozen)]
pub struct Input {
    exchange: Arc<Exchange>,
    read_timeout: Duration,
    state: Mutex<State>,
}

impl Input {
    /// A stream reading `exchange`'s body.
    pub fn new(exchange: Arc<Exchange>, read_timeout: Duration) -> Self {
        Self {
            exchange,
            read_timeout,
            state: Mutex::new(State {
                buf: Vec::new(),
                pos: 0,
                eof: false,
            }),
        }
    }

    fn state(&self) -> PyResult<std::sync::MutexGuard<'_, State>> {
        // Each read holds the state for its whole duration; a second thread reading the same
        // stream at once is an application bug, reported rather than deadlocked on.
        self.state
            .try_lock()
            .map_err(|_| PyRuntimeError::new_err("wsgi.input is being read by another thread"))
    }

    /// Appends the next body bytes to the state's buffer. False at the end of the body.
    fn fill(&self, py: Python<'_>, st: &mut State) -> PyResult<bool> {
        if st.eof {
            return Ok(false);
        }
        // The buffer keeps only unread bytes, so it stays within one read-ahead of the IO
        // thread however long the body is.
        if st.pos == st.buf.len() {
            st.buf.clear();
        } else {
            let pos = st.pos;
            st.buf.drain(..pos);
        }
        st.pos = 0;
        let exchange = &self.exchange;
        // Bytes (or the end, or an error) already waiting are taken without releasing the GIL:
        // the lock is only ever held for moments, and a request whose body came with its head
        // (most of them) then costs no GIL hand-over at all. Otherwise the wait releases it.
        let mut shared = exchange.lock();
        let first = !shared.body_wanted;
        shared.body_wanted = true;
        let taken = if ready(&shared) {
            let taken = take_body(&mut shared, &mut st.buf);
            drop(shared);
            // The first read of an unfinished body may have to send `100 Continue`.
            if first && !taken.eof {
                exchange.notify_io();
            }
            taken
        } else {
            drop(shared);
            let timeout = self.read_timeout + TIMEOUT_SLACK;
            let buf = &mut st.buf;
            py.detach(|| {
                if first {
                    exchange.notify_io();
                }
                let shared = exchange.lock();
                let mut shared = exchange.wait_until(shared, Some(timeout), ready);
                take_body(&mut shared, buf)
            })
        };
        st.pos = taken.start;
        if taken.data && !taken.eof {
            // The IO thread may have paused reading with a full buffer: let it go on.
            exchange.notify_io();
        }
        if let Some(message) = taken.error {
            st.eof = true;
            return Err(PyOSError::new_err(message));
        }
        if taken.eof {
            st.eof = true;
        }
        Ok(!st.available().is_empty() || !st.eof)
    }

    fn read_impl<'py>(
        &self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut st = self.state()?;
        match size {
            Some(n) if n >= 0 => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                while st.available().len() < n && self.fill(py, &mut st)? {}
                Ok(st.take(py, n))
            }
            _ => {
                while self.fill(py, &mut st)? {}
                let n = st.available().len();
                Ok(st.take(py, n))
            }
        }
    }

    fn readline_impl<'py>(
        &self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let limit = match size {
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => usize::MAX,
        };
        let mut st = self.state()?;
        let mut scanned = 0;
        loop {
            let avail = st.available();
            if let Some(i) = memchr_newline(&avail[scanned..]) {
                let end = (scanned + i + 1).min(limit);
                return Ok(st.take(py, end));
            }
            if avail.len() >= limit {
                return Ok(st.take(py, limit));
            }
            scanned = avail.len();
            if !self.fill(py, &mut st)? {
                let n = st.available().len();
                return Ok(st.take(py, n));
            }
        }
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[pymethods]
impl Input {
    /// Reads at most `size` bytes (all of the rest with no size, `-1` or `None`). Returns fewer
    /// only at the end of the body.
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        self.read_impl(py, size)
    }

    /// Reads one line, including its `\n`, of at most `size` bytes.
    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        self.readline_impl(py, size)
    }

    /// Reads lines until the end, or until their total size reaches `hint`.
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<isize>) -> PyResult<Bound<'py, PyList>> {
        let lines = PyList::empty(py);
        let hint = hint
            .filter(|h| *h > 0)
            .map(|h| usize::try_from(h).unwrap_or(usize::MAX));
        let mut total = 0usize;
        loop {
            let line = self.readline_impl(py, None)?;
            let len = line.as_bytes().len();
            if len == 0 {
                break;
            }
            total += len;
            lines.append(line)?;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.readline_impl(py, None)?;
        Ok((!line.as_bytes().is_empty()).then_some(line))
    }
}
