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

use crate::exchange::Exchange;

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

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buf.len() - self.pos);
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        out
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
        let exchange = &self.exchange;
        let timeout = self.read_timeout + TIMEOUT_SLACK;
        let (data, eof, error) = py.detach(|| {
            let mut shared = exchange.lock();
            if !shared.body_wanted {
                shared.body_wanted = true;
                drop(shared);
                exchange.notify_io();
                shared = exchange.lock();
            }
            let mut shared = exchange.wait_until(shared, Some(timeout), |s| {
                !s.body.is_empty() || s.body_eof || s.body_error.is_some() || s.client_gone
            });
            let data = std::mem::take(&mut shared.body);
            let eof = shared.body_eof && shared.body.is_empty();
            let error = if data.is_empty() && !eof {
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
            drop(shared);
            if !data.is_empty() && !eof {
                // The IO thread may have paused reading with a full buffer: let it go on.
                exchange.notify_io();
            }
            (data, eof, error)
        });
        if let Some(message) = error {
            st.eof = true;
            return Err(PyOSError::new_err(message));
        }
        if st.pos == st.buf.len() {
            st.buf = data;
            st.pos = 0;
        } else {
            // Drop what was read before appending: the buffer holds only unread bytes, so it
            // stays within one read-ahead of the IO thread however long the body is.
            let pos = st.pos;
            st.buf.drain(..pos);
            st.pos = 0;
            st.buf.extend_from_slice(&data);
        }
        if eof {
            st.eof = true;
        }
        Ok(!st.available().is_empty() || !st.eof)
    }

    fn read_impl(&self, py: Python<'_>, size: Option<isize>) -> PyResult<Vec<u8>> {
        let mut st = self.state()?;
        match size {
            Some(n) if n >= 0 => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                while st.available().len() < n && self.fill(py, &mut st)? {}
                Ok(st.take(n))
            }
            _ => {
                while self.fill(py, &mut st)? {}
                let n = st.available().len();
                Ok(st.take(n))
            }
        }
    }

    fn readline_impl(&self, py: Python<'_>, size: Option<isize>) -> PyResult<Vec<u8>> {
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
                return Ok(st.take(end));
            }
            if avail.len() >= limit {
                return Ok(st.take(limit));
            }
            scanned = avail.len();
            if !self.fill(py, &mut st)? {
                let n = st.available().len();
                return Ok(st.take(n));
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
        let data = self.read_impl(py, size)?;
        Ok(PyBytes::new(py, &data))
    }

    /// Reads one line, including its `\n`, of at most `size` bytes.
    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.readline_impl(py, size)?;
        Ok(PyBytes::new(py, &data))
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
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, &line))?;
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
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }
}
