//! `start_response`, `write()` and the framing of what an application returns.
//!
//! The head is sent with the first non-empty body chunk (or at the end), as PEP 3333 asks, so a
//! `start_response` first called inside a generator is honoured and an error before any body
//! can still become a clean 500. Everything the application gives is validated before a byte
//! is queued: a bad status or header never reaches the wire.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use morello_http::{
    is_hop_by_hop, plan_response, validate_header_name, validate_header_value, validate_status,
    write_chunk_size, write_head_block, BodyFraming, DateCache, FieldBlock, RequestHead,
    RequestInfo, ResponsePlan, Version, LAST_CHUNK,
};
use pyo3::exceptions::{PyAssertionError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::config::EngineConfig;
use crate::exchange::{BodyError, Exchange, OutItem, KEEP_CAPACITY};
use crate::pybytes::SharedBytes;
use crate::wsgi::file_wrapper::FileWrapper;
use crate::wsgi::is_sequence;

/// Body chunks at least this large are queued by reference rather than copied.
const SHARE_MIN: usize = 8 * 1024;

thread_local! {
    static DATE: RefCell<DateCache> = RefCell::new(DateCache::new());
}

/// How a request ended, for the runner to log.
pub enum Outcome {
    /// Served (or the client went away, which is not an error of the server's).
    Done,
    /// The application raised; log the traceback.
    AppError(PyErr),
    /// The application broke a rule; log the message.
    Logged(String),
}

/// Why producing the response stopped early.
enum Stop {
    /// The client is gone; stop quietly.
    Gone,
    /// An exception (from the app, or raised for an app's mistake).
    Error(PyErr),
}

impl From<PyErr> for Stop {
    fn from(e: PyErr) -> Self {
        Stop::Error(e)
    }
}

/// The response state shared by `start_response`, `write()` and the runner.
struct State {
    exchange: Arc<Exchange>,
    info: RequestInfo,
    protocol: Version,
    status: Option<(Vec<u8>, u16)>,
    /// The application's fields, rendered (without Content-Length on 1xx and 204).
    fields: FieldBlock,
    content_length: Option<u64>,
    plan: Option<ResponsePlan>,
    head_sent: bool,
    body_sent: u64,
    mismatch: Option<String>,
    /// An empty buffer for the next piece of output (the IO thread's spare, at first).
    spare: Vec<u8>,
}

impl State {
    fn head_bytes(
        &mut self,
        buf: &mut Vec<u8>,
        known_length: Option<u64>,
    ) -> Result<ResponsePlan, Stop> {
        let Some(code) = self.status.as_ref().map(|(_, code)| *code) else {
            return Err(Stop::Error(PyAssertionError::new_err(
                "the application returned a body without calling start_response()",
            )));
        };
        let bodiless = self.info.is_head || code < 200 || code == 204 || code == 304;
        let computed = if self.content_length.is_none() && !bodiless {
            known_length
        } else {
            None
        };
        let plan = plan_response(
            self.info,
            self.protocol,
            code,
            self.content_length.or(computed),
        );
        if let Some(n) = computed {
            let mut digits = itoa_buf();
            self.fields
                .push(b"Content-Length", format_u64(&mut digits, n));
        }
        let status = self.status.as_ref().map_or(&[][..], |(s, _)| s.as_slice());
        DATE.with(|d| {
            let mut d = d.borrow_mut();
            write_head_block(
                buf,
                &plan,
                status,
                &self.fields,
                d.get_at(coarse_now()),
                crate::SERVER_SOFTWARE.as_bytes(),
            );
        });
        self.plan = Some(plan);
        self.head_sent = true;
        Ok(plan)
    }

    /// Frames `data` (and the end of the body when `last`) and queues it on the exchange.
    /// When `obj` is the `bytes` object `data` comes from and the chunk is large, it is queued
    /// by reference instead of copied (see [`crate::pybytes`]).
    fn send(
        &mut self,
        data: &[u8],
        obj: Option<&Bound<'_, PyBytes>>,
        last: bool,
    ) -> Result<(), Stop> {
        // One allocation of the right size: head (if due), chunk framing and a copied body.
        let inline = if data.len() < SHARE_MIN || obj.is_none() {
            data.len()
        } else {
            0
        };
        let head_room = if self.plan.is_none() {
            256 + self.fields.as_bytes().len()
        } else {
            0
        };
        let mut buf = std::mem::take(&mut self.spare);
        buf.reserve(head_room + inline + 24);
        let plan = match self.plan {
            Some(plan) => plan,
            None => self.head_bytes(&mut buf, last.then_some(data.len() as u64))?,
        };
        // Body bytes, either appended to `buf` or shared, then `tail` (chunk framing).
        let mut body: &[u8] = &[];
        let mut tail: &[u8] = &[];
        let mut short = false;
        match plan.framing {
            BodyFraming::NoBody => {}
            BodyFraming::Length(n) => {
                let remaining = n.saturating_sub(self.body_sent);
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                if take < data.len() && self.mismatch.is_none() {
                    self.mismatch = Some(format!(
                        "the application sent more than its Content-Length of {n} bytes; the excess was dropped"
                    ));
                }
                body = &data[..take];
                self.body_sent += take as u64;
                if last && self.body_sent < n {
                    short = true;
                    self.mismatch = Some(format!(
                        "the application sent {} bytes of its Content-Length of {n}; the connection was closed",
                        self.body_sent
                    ));
                }
            }
            BodyFraming::Chunked => {
                if !data.is_empty() {
                    write_chunk_size(&mut buf, data.len());
                    body = data;
                    tail = if last { b"\r\n0\r\n\r\n" } else { b"\r\n" };
                } else if last {
                    tail = LAST_CHUNK;
                }
                self.body_sent += data.len() as u64;
            }
            BodyFraming::CloseDelimited => {
                body = data;
                self.body_sent += data.len() as u64;
            }
        }
        let share = match obj {
            Some(obj) if body.len() >= SHARE_MIN && body.len() == data.len() => {
                Some(SharedBytes::new(obj))
            }
            _ => {
                buf.extend_from_slice(body);
                buf.extend_from_slice(tail);
                tail = &[];
                None
            }
        };
        if buf.is_empty() && share.is_none() && !last {
            self.spare = buf;
            return Ok(());
        }
        // A Content-Length body ends with its last byte, before the application's iterator
        // says so (see below).
        let complete = matches!(plan.framing, BodyFraming::Length(n) if self.body_sent >= n);
        let mut shared = self.exchange.lock();
        if shared.client_gone {
            return Err(Stop::Gone);
        }
        if shared.finished {
            // The response ended early (below) or was aborted: nothing more goes out. Bytes past
            // the Content-Length were dropped above, and their mismatch is logged.
            buf.clear();
            self.spare = buf;
            return Ok(());
        }
        shared.head_sent = true;
        shared.out_pending += buf.len();
        // Small pieces that the IO thread has not taken yet join the last one, up to a buffer
        // the IO thread recycles (`KEEP_CAPACITY`), and `buf` stays here for the next piece;
        // a new piece takes a buffer the IO thread handed back. A generator of 100 x 1 KiB
        // chunks used to allocate 100 buffers per response in the worker's malloc arena, each
        // freed by the IO thread: the arena grew and was trimmed again, and page faults and
        // page zeroing took a tenth of the CPU on `stream`.
        match shared.out.back_mut() {
            Some(OutItem::Bytes(last)) if last.len() + buf.len() <= KEEP_CAPACITY => {
                if last.capacity() < last.len() + buf.len() {
                    last.reserve_exact(KEEP_CAPACITY - last.len());
                }
                last.extend_from_slice(&buf);
                buf.clear();
                self.spare = buf;
            }
            _ if buf.is_empty() => self.spare = buf,
            _ => {
                shared.out.push_back(OutItem::Bytes(buf));
                self.spare = shared.spare.pop().unwrap_or_default();
            }
        }
        if let Some(item) = share {
            shared.out_pending += body.len() + tail.len();
            shared.out.push_back(OutItem::Shared(item));
            if !tail.is_empty() {
                shared.out.push_back(OutItem::Bytes(tail.to_vec()));
            }
        }
        // The response ends here when this is the last piece, or when it completes a
        // Content-Length body and the request body is all in (the IO thread can go on to the
        // next request while the application still reads `wsgi.input` from the exchange).
        // Frameworks return iterators with a Content-Length (werkzeug's ClosingIterator,
        // Django's HttpResponse), whose end the server would otherwise learn one `next()`
        // later: by then the IO thread has woken for the body and written it, and it would
        // have to wake a second time for the end: on the `flask` benchmark, in phases where
        // those wake-ups preempt the worker, 1.6 wake-ups and 4.8 context switches per
        // request. Ending here wakes it once per response.
        if last || (complete && shared.body_eof) {
            shared.finished = true;
            shared.abort = short;
            shared.keep_alive = plan.keep_alive && self.mismatch.is_none();
        }
        drop(shared);
        self.exchange.notify_io();
        Ok(())
    }

    /// Queues the head and a file region sent with `sendfile(2)`.
    fn send_file(&mut self, file: super::file_wrapper::RegularFile) -> Result<(), Stop> {
        let mut len = file.remaining;
        if let Some(n) = self.content_length {
            len = len.min(n);
        }
        let mut buf = std::mem::take(&mut self.spare);
        buf.reserve(256);
        let plan = self.head_bytes(&mut buf, Some(len))?;
        let send_body = !matches!(plan.framing, BodyFraming::NoBody);
        if let Some(n) = self.content_length {
            if send_body && len < n {
                self.mismatch = Some(format!(
                    "the file has {len} bytes of the Content-Length of {n}"
                ));
            }
        }
        let mut shared = self.exchange.lock();
        if shared.client_gone {
            return Err(Stop::Gone);
        }
        shared.head_sent = true;
        shared.out_pending += buf.len();
        shared.out.push_back(OutItem::Bytes(buf));
        if send_body && len > 0 {
            shared.out_pending += usize::try_from(len).unwrap_or(usize::MAX);
            shared.out.push_back(OutItem::File {
                file: file.file,
                offset: file.offset,
                len,
            });
        }
        shared.finished = true;
        shared.abort = self.mismatch.is_some();
        shared.keep_alive = plan.keep_alive && self.mismatch.is_none();
        drop(shared);
        self.exchange.notify_io();
        Ok(())
    }
}

/// The wall clock at the kernel tick's resolution (a few milliseconds), for the `Date` header.
/// `CLOCK_REALTIME_COARSE` is read from the vDSO without reading the TSC, which on a virtual
/// machine costs a measurable share of a small response; the header only needs seconds.
fn coarse_now() -> std::time::SystemTime {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    match (rc, u64::try_from(ts.tv_sec)) {
        (0, Ok(secs)) => std::time::UNIX_EPOCH + Duration::from_secs(secs),
        _ => std::time::SystemTime::now(),
    }
}

/// A `str` as latin-1 bytes: borrowed from the string itself when CPython stores it one byte
/// per character (every string whose characters are all latin-1, so nearly always), copied
/// otherwise; anything outside latin-1 is an error naming `what`.
///
/// One byte per character is exactly latin-1, so the stored bytes are the answer, with no
/// scan: going through `to_str` (a UTF-8 view, then an ASCII check of it) cost about 100
/// instructions per call, five calls for a `start_response` with two headers.
fn latin1_bytes<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be str, not {}", type_name(obj))))?;
    let ptr = s.as_ptr();
    // SAFETY: `ptr` is a live `str` (checked above) and the GIL is held. A ready string's
    // character data never moves or changes while the object lives, and `obj` keeps it alive
    // for `'a`. Strings not ready (3.11's legacy representation) take the path below.
    unsafe {
        if pyo3::ffi::PyUnicode_IS_READY(ptr) != 0
            && pyo3::ffi::PyUnicode_KIND(ptr) == pyo3::ffi::PyUnicode_1BYTE_KIND
        {
            let len = usize::try_from(pyo3::ffi::PyUnicode_GET_LENGTH(ptr)).unwrap_or(0);
            let data = pyo3::ffi::PyUnicode_1BYTE_DATA(ptr);
            return Ok(Cow::Borrowed(std::slice::from_raw_parts(data, len)));
        }
    }
    let text = s.to_str()?;
    text.chars()
        .map(|c| {
            u8::try_from(u32::from(c))
                .map_err(|_| PyValueError::new_err(format!("{what} is not latin-1: {text:?}")))
        })
        .collect::<PyResult<Vec<u8>>>()
        .map(Cow::Owned)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Room for the decimal digits of any `u64`.
fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// `n` in decimal, written at the end of `buf` (no allocation, unlike `to_string`).
fn format_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// Validated `start_response` arguments.
struct Start {
    status: Vec<u8>,
    code: u16,
    fields: FieldBlock,
    content_length: Option<u64>,
}

fn parse_start(status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> PyResult<Start> {
    let status_bytes = latin1_bytes(status, "status")?.into_owned();
    let code = validate_status(&status_bytes)
        .map_err(|why| PyValueError::new_err(format!("invalid status {status_bytes:?}: {why}")))?;
    let list = headers.cast::<PyList>().map_err(|_| {
        PyTypeError::new_err(format!(
            "response headers must be a list, not {}",
            type_name(headers)
        ))
    })?;
    // RFC 9110 section 8.6: no Content-Length on 1xx and 204 responses, whatever the app says.
    let no_length = code < 200 || code == 204;
    let mut fields = FieldBlock::with_capacity(48 * list.len());
    let mut content_length = None;
    for item in list.iter() {
        let pair = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| {
                PyTypeError::new_err(format!(
                    "each header must be a (name, value) tuple, not {item}"
                ))
            })?;
        let (name_obj, value_obj) = (pair.get_item(0)?, pair.get_item(1)?);
        let name = latin1_bytes(&name_obj, "header name")?;
        let value = latin1_bytes(&value_obj, "header value")?;
        if !validate_header_name(&name) {
            return Err(PyValueError::new_err(format!(
                "invalid header name {:?}",
                String::from_utf8_lossy(&name)
            )));
        }
        if !validate_header_value(&value) {
            return Err(PyValueError::new_err(format!(
                "invalid value for header {:?}: control characters are not allowed",
                String::from_utf8_lossy(&name)
            )));
        }
        if is_hop_by_hop(&name) {
            return Err(PyValueError::new_err(format!(
                "hop-by-hop header {:?} is not allowed from a WSGI application",
                String::from_utf8_lossy(&name)
            )));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_length(&value).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "invalid Content-Length {:?}",
                    String::from_utf8_lossy(&value)
                ))
            })?;
            if content_length.is_some_and(|m| m != n) {
                return Err(PyValueError::new_err("conflicting Content-Length headers"));
            }
            let repeated = content_length.replace(n).is_some();
            if repeated || no_length {
                continue;
            }
        }
        fields.push(&name, &value);
    }
    Ok(Start {
        status: status_bytes,
        code,
        fields,
        content_length,
    })
}

fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn lock(state: &Mutex<State>) -> PyResult<MutexGuard<'_, State>> {
    state
        .try_lock()
        .map_err(|_| PyRuntimeError::new_err("the response is being written by another thread"))
}

/// The `start_response` callable of one request.
#[pyclass(module = "morello._morello", frozen)]
pub struct StartResponse {
    state: Arc<Mutex<State>>,
    output_buffer: usize,
    write_timeout: Duration,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<WriteCallable>> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        let mut st = lock(&self.state)?;
        if let Some(info) = exc_info {
            if st.head_sent {
                // PEP 3333: too late to change the response; re-raise the original error.
                let value = info.get_item(1)?;
                return Err(PyErr::from_value(value));
            }
        } else if st.status.is_some() {
            return Err(PyAssertionError::new_err(
                "start_response() called a second time without exc_info",
            ));
        }
        let start = parse_start(status, headers)?;
        st.status = Some((start.status, start.code));
        st.fields = start.fields;
        st.content_length = start.content_length;
        drop(st);
        Py::new(
            py,
            WriteCallable {
                state: Arc::clone(&self.state),
                output_buffer: self.output_buffer,
                write_timeout: self.write_timeout,
            },
        )
    }
}

/// The `write()` callable `start_response` returns (PEP 3333's imperative output).
#[pyclass(module = "morello._morello", frozen)]
pub struct WriteCallable {
    state: Arc<Mutex<State>>,
    output_buffer: usize,
    write_timeout: Duration,
}

#[pymethods]
impl WriteCallable {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = data.cast::<PyBytes>().map_err(|_| {
            PyTypeError::new_err(format!("write() takes bytes, not {}", type_name(data)))
        })?;
        let result = lock(&self.state)?.send(bytes.as_bytes(), Some(bytes), false);
        match result {
            Ok(()) => wait_for_room(py, &self.state, self.output_buffer, self.write_timeout),
            Err(Stop::Gone) => Err(pyo3::exceptions::PyConnectionError::new_err(
                "client disconnected",
            )),
            Err(Stop::Error(e)) => Err(e),
        }
    }
}

/// Waits (GIL released) while more than `limit` bytes are queued for the client.
fn wait_for_room(
    py: Python<'_>,
    state: &Mutex<State>,
    limit: usize,
    timeout: Duration,
) -> PyResult<()> {
    let exchange = Arc::clone(&lock(state)?.exchange);
    // A finished response is all queued: the IO thread stops counting `out_pending` down,
    // and nothing more will be added to it.
    let gone = py.detach(|| {
        let shared = exchange.lock();
        if shared.finished || shared.out_pending <= limit {
            return shared.client_gone;
        }
        let shared = exchange.wait_until(shared, Some(timeout + Duration::from_secs(1)), |s| {
            s.client_gone || s.finished || s.out_pending <= limit / 2
        });
        shared.client_gone || (!shared.finished && shared.out_pending > limit)
    });
    if gone {
        return Err(pyo3::exceptions::PyConnectionError::new_err(
            "client disconnected",
        ));
    }
    Ok(())
}

/// One request's response, driven by the runner.
pub struct Response {
    state: Arc<Mutex<State>>,
    output_buffer: usize,
    write_timeout: Duration,
}

impl Response {
    /// A response to `head` through `exchange`.
    pub fn new(
        exchange: Arc<Exchange>,
        head: &RequestHead,
        cfg: &EngineConfig,
        out_buf: Vec<u8>,
    ) -> Self {
        let mut info = head.info();
        info.keep_alive &= cfg.keepalive.is_some();
        info.asked_keep_alive &= cfg.keepalive.is_some();
        let state = State {
            exchange,
            info,
            protocol: cfg.protocol,
            status: None,
            fields: FieldBlock::default(),
            content_length: None,
            plan: None,
            head_sent: false,
            body_sent: 0,
            mismatch: None,
            spare: out_buf,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            output_buffer: cfg.output_buffer,
            write_timeout: cfg.write_timeout,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers with a short plain-text status page (404, 500…), unless a head went out already.
    pub fn simple(&self, _py: Python<'_>, code: u16, reason: &str) {
        let mut st = self.state();
        if st.head_sent {
            st.exchange.abort();
            return;
        }
        let body = format!("{code} {reason}\n");
        st.status = Some((format!("{code} {reason}").into_bytes(), code));
        st.fields = FieldBlock::default();
        st.fields
            .push(b"Content-Type", b"text/plain; charset=utf-8");
        st.content_length = None;
        st.mismatch = None;
        let _ = st.send(body.as_bytes(), None, true);
    }

    /// Calls the application and sends what it returns. `close()` is called exactly once on
    /// every path where the application returned an object.
    pub fn run_app(
        &mut self,
        py: Python<'_>,
        app: &Bound<'_, PyAny>,
        environ: Bound<'_, PyDict>,
    ) -> Outcome {
        let start = StartResponse {
            state: Arc::clone(&self.state),
            output_buffer: self.output_buffer,
            write_timeout: self.write_timeout,
        };
        let result = Py::new(py, start).and_then(|start| app.call1((environ, start)));
        let result = match result {
            Ok(r) => r,
            Err(e) => return self.fail(py, Stop::Error(e)),
        };
        let sent = self.consume(py, &result);
        let closed = close_result(py, &result);
        let outcome = match (sent, closed) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(stop), _) => Err(stop),
            (Ok(()), Err(e)) => Err(Stop::Error(e)),
        };
        match outcome {
            Ok(()) => {
                let message = self.state().mismatch.take();
                message.map_or(Outcome::Done, Outcome::Logged)
            }
            Err(stop) => self.fail(py, stop),
        }
    }

    fn fail(&self, py: Python<'_>, stop: Stop) -> Outcome {
        let Stop::Error(err) = stop else {
            return Outcome::Done;
        };
        // An error caused by the request body (malformed, too large, too slow, cut short) is
        // the client's, whatever the application made of it: answer for the body, not 500.
        let body_error = self.state().exchange.lock().body_error;
        match body_error {
            Some(BodyError::Invalid(e)) => {
                self.simple(py, e.status(), crate::status::reason_phrase(e.status()));
                Outcome::Logged(format!("rejected the request body: {e}"))
            }
            Some(BodyError::Timeout) => {
                self.simple(py, 408, "Request Timeout");
                Outcome::Logged("timed out reading the request body".into())
            }
            Some(BodyError::Disconnected) => Outcome::Done,
            None => {
                self.simple(py, 500, "Internal Server Error");
                Outcome::AppError(err)
            }
        }
    }

    /// Sends the application's iterable.
    fn consume(&self, py: Python<'_>, result: &Bound<'_, PyAny>) -> Result<(), Stop> {
        if result.is_none()
            || result.is_instance_of::<PyBytes>()
            || result.is_instance_of::<PyString>()
        {
            return Err(Stop::Error(PyTypeError::new_err(format!(
                "the application must return an iterable of bytes, not {}",
                type_name(result)
            ))));
        }
        if let Ok(wrapper) = result.cast::<FileWrapper>() {
            if let Some(file) = wrapper.get().regular_file(py) {
                return lock(&self.state)?.send_file(file);
            }
        }
        if is_sequence(result) {
            // A list or tuple: the whole body is known, so it is framed with a Content-Length
            // and queued in one piece.
            let len = result.len()?;
            if len == 1 {
                let item = result.get_item(0)?;
                let bytes = chunk_bytes(&item)?;
                return lock(&self.state)?.send(bytes.as_bytes(), Some(bytes), true);
            }
            let mut body = Vec::new();
            for item in result.try_iter()? {
                let item = item?;
                body.extend_from_slice(chunk_bytes(&item)?.as_bytes());
            }
            return lock(&self.state)?.send(&body, None, true);
        }
        for item in result.try_iter()? {
            let item = item?;
            let bytes = chunk_bytes(&item)?;
            if bytes.as_bytes().is_empty() {
                continue;
            }
            lock(&self.state)?.send(bytes.as_bytes(), Some(bytes), false)?;
            wait_for_room(py, &self.state, self.output_buffer, self.write_timeout)
                .map_err(|_| Stop::Gone)?;
        }
        lock(&self.state)?.send(&[], None, true)
    }
}

fn chunk_bytes<'a, 'py>(item: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyBytes>> {
    item.cast::<PyBytes>().map_err(|_| {
        PyTypeError::new_err(format!(
            "the application must yield bytes, not {}",
            type_name(item)
        ))
    })
}

/// Calls `result.close()` if it has one (PEP 3333).
fn close_result(py: Python<'_>, result: &Bound<'_, PyAny>) -> PyResult<()> {
    if is_sequence(result) {
        return Ok(());
    }
    match result.getattr(intern!(py, "close")) {
        Ok(close) => close.call0().map(|_| ()),
        Err(_) => Ok(()),
    }
}
