//! The WSGI bridge (PEP 3333): runs one request through an application on a worker thread.
//!
//! * [`environ`] builds the environ dict from the decoded head.
//! * [`input`] is `wsgi.input`, streaming the body from the IO thread.
//! * [`response`] is `start_response`, `write()` and the framing of what the app returns.
//! * [`errors`] is `wsgi.errors`, writing to the `morello.error` logger.
//! * [`file_wrapper`] is `wsgi.file_wrapper`, sent with `sendfile(2)` when it wraps a real file.

pub mod environ;
pub mod errors;
pub mod file_wrapper;
pub mod input;
pub mod response;

use std::sync::Arc;

use morello_http::{percent_decode_path, split_target, RequestHead};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::config::EngineConfig;
use crate::exchange::Exchange;
use crate::listener::Peer;
use crate::log::LogSink;
use response::{Outcome, Response};

/// What the engine tells applications about the listener a request came through.
pub struct ListenerInfo {
    /// `SERVER_PORT`: the bound port, or empty for a UNIX socket.
    pub server_port: String,
    /// `server_port` as a `str`, made once by the first request's worker.
    port_str: PyOnceLock<Py<PyString>>,
}

impl ListenerInfo {
    /// The information for a listener bound to `server_port` (empty for a UNIX socket).
    pub fn new(server_port: String) -> Self {
        Self {
            server_port,
            port_str: PyOnceLock::new(),
        }
    }

    /// `SERVER_PORT` as a `str`.
    pub(crate) fn port_str<'py>(&self, py: Python<'py>) -> &Bound<'py, PyString> {
        self.port_str
            .get_or_init(py, || PyString::new(py, &self.server_port).unbind())
            .bind(py)
    }
}

/// One accepted connection as the environ describes it; shared by all its requests, so the
/// `REMOTE_ADDR` and `REMOTE_PORT` strings are made once per connection, not per request.
pub struct Client {
    /// The peer address.
    pub peer: Peer,
    /// The listener it came through.
    pub listener: Arc<ListenerInfo>,
    /// `REMOTE_ADDR` and `REMOTE_PORT`, made by the first request's worker.
    remote: PyOnceLock<(Py<PyString>, Py<PyString>)>,
}

impl Client {
    /// A connection from `peer` accepted on `listener`.
    pub fn new(peer: Peer, listener: Arc<ListenerInfo>) -> Self {
        Self {
            peer,
            listener,
            remote: PyOnceLock::new(),
        }
    }

    /// `REMOTE_ADDR` and `REMOTE_PORT` as `str`s (both empty for a UNIX socket peer).
    pub(crate) fn remote<'a, 'py>(
        &'a self,
        py: Python<'py>,
    ) -> (&'a Bound<'py, PyString>, &'a Bound<'py, PyString>) {
        let (addr, port) = self.remote.get_or_init(py, || match &self.peer {
            Peer::Tcp(a) => (
                PyString::new(py, &a.ip().to_string()).unbind(),
                PyString::new(py, &a.port().to_string()).unbind(),
            ),
            Peer::Unix => (
                PyString::new(py, "").unbind(),
                PyString::new(py, "").unbind(),
            ),
        });
        (addr.bind(py), port.bind(py))
    }
}

/// One request for the pool: a complete head and the exchange to answer through.
pub struct Job {
    /// The validated request head.
    pub head: Arc<RequestHead>,
    /// Where the body comes from and the response goes.
    pub exchange: Arc<Exchange>,
    /// The connection it came on.
    pub client: Arc<Client>,
    /// An empty buffer (with room, if the IO thread had a written one to spare) for the
    /// response's first piece.
    pub out_buf: Vec<u8>,
}

/// An application mounted at a `SCRIPT_NAME` prefix.
pub struct Mount {
    /// The prefix (`""` for the root), no trailing slash.
    pub prefix: String,
    /// The WSGI callable.
    pub app: Py<PyAny>,
}

/// Everything a worker needs to run requests; shared by all workers.
pub struct Runner {
    mounts: Vec<Mount>,
    template: Py<PyDict>,
    cfg: Arc<EngineConfig>,
    logger: Py<PyAny>,
    log: Arc<LogSink>,
    keys: environ::KeyCache,
}

impl Runner {
    /// Builds the runner: sorts mounts longest prefix first and prepares the environ template.
    pub fn new(
        py: Python<'_>,
        mut mounts: Vec<Mount>,
        cfg: Arc<EngineConfig>,
        log: Arc<LogSink>,
    ) -> PyResult<Self> {
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        let logger = py
            .import("logging")?
            .call_method1("getLogger", ("morello.error",))?
            .unbind();
        let template = environ::template(py, &cfg, logger.bind(py))?;
        Ok(Self {
            mounts,
            template,
            cfg,
            logger,
            log,
            keys: environ::KeyCache::default(),
        })
    }

    /// The longest mount whose prefix is the path or a whole-segment prefix of it.
    fn route(&self, path: &[u8]) -> Option<&Mount> {
        self.mounts.iter().find(|m| {
            let p = m.prefix.as_bytes();
            p.is_empty()
                || (path.starts_with(p) && (path.len() == p.len() || path[p.len()] == b'/'))
        })
    }

    /// Runs one request to completion (GIL held; waits release it).
    pub fn run(&self, py: Python<'_>, job: Job) {
        crate::pybytes::empty_bin(py);
        let Job {
            head,
            exchange,
            client,
            out_buf,
        } = job;
        let mut response = Response::new(Arc::clone(&exchange), &head, &self.cfg, out_buf);
        let target = split_target(head.target());
        let path = percent_decode_path(target.path, self.cfg.keep_quoted_slash);
        let Some(mount) = self.route(&path) else {
            response.simple(py, 404, "Not Found");
            return;
        };
        let script_len = mount.prefix.len();
        let environ = environ::build(
            py,
            &environ::Request {
                head: &head,
                script_name: &mount.prefix,
                path_info: &path[script_len..],
                query: target.query,
                client: &client,
            },
            self.template.bind(py),
            &self.keys,
            &exchange,
            &self.cfg,
        );
        let environ = match environ {
            Ok(e) => e,
            Err(err) => {
                self.log_exception(py, "building the WSGI environ failed", err);
                response.simple(py, 500, "Internal Server Error");
                return;
            }
        };
        let outcome = response.run_app(py, mount.app.bind(py), environ);
        match outcome {
            Outcome::Done => {}
            Outcome::AppError(err) => self.log_exception(
                py,
                &format!("error in WSGI application for {}", describe(&head)),
                err,
            ),
            Outcome::Logged(message) => {
                self.log_error(py, &format!("{message} ({})", describe(&head)))
            }
        }
    }

    /// Logs `message` with the exception's traceback to `morello.error`.
    pub fn log_exception(&self, py: Python<'_>, message: &str, err: PyErr) {
        let logger = self.logger.bind(py);
        let kwargs = PyDict::new(py);
        let logged = kwargs
            .set_item("exc_info", err.into_value(py))
            .and_then(|_| logger.call_method("error", (message,), Some(&kwargs)));
        if let Err(e) = logged {
            e.print(py);
        }
    }

    /// Logs a contained internal error (a bug of ours, not the application's).
    pub fn log_internal_error(&self, py: Python<'_>, message: &str) {
        self.log_error(
            py,
            &format!("internal error while running a request: {message}"),
        );
    }

    fn log_error(&self, py: Python<'_>, message: &str) {
        if let Err(e) = self.logger.bind(py).call_method1("error", (message,)) {
            e.print(py);
        }
    }

    /// Delivers records queued by the IO thread to `logging` and releases response objects
    /// parked by threads without the GIL. Takes the GIL only if there is work.
    pub fn flush_logs(&self) {
        if self.log.is_empty() && crate::pybytes::bin_is_empty() {
            return;
        }
        Python::attach(|py| {
            crate::pybytes::empty_bin(py);
            for (level, message) in self.log.take() {
                if let Err(e) = self
                    .logger
                    .bind(py)
                    .call_method1("log", (level.as_logging(), message))
                {
                    e.print(py);
                }
            }
        });
    }
}

/// `METHOD target` for log lines, with control characters escaped.
pub fn describe(head: &RequestHead) -> String {
    let mut out = String::with_capacity(head.method().len() + head.target().len() + 1);
    for &b in head.method().iter().chain(b" ").chain(head.target()) {
        if (0x20..0x7f).contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// True for the exact types `list` and `tuple`, whose items can be framed in one go.
pub(crate) fn is_sequence(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_exact_instance_of::<PyList>() || obj.is_exact_instance_of::<PyTuple>()
}
