//! The engine's view of `morello.Config`.
//!
//! Options are defined once, in `morello/options.py`; the Python `Config` dataclass is generated
//! from that definition and validated there. This module only reads the validated fields by
//! name into typed Rust values. [`CONFIG_FIELDS`] lists the names read here, and a test checks
//! that it matches the Python definition, so neither side can drift.

use std::time::Duration;

use morello_http::{Limits, Version};
use pyo3::prelude::*;

use crate::listener::BindAddr;

/// The `Config` fields the engine reads, in declaration order.
pub const CONFIG_FIELDS: &[&str] = &[
    "bind",
    "threads",
    "max_threads",
    "max_queued",
    "max_connections",
    "backlog",
    "keepalive",
    "header_timeout",
    "read_timeout",
    "write_timeout",
    "shutdown_timeout",
    "limit_request_line",
    "limit_request_fields",
    "limit_request_field_size",
    "max_body_size",
    "server_name",
    "protocol",
    "keep_quoted_slash",
    "unix_socket_mode",
    "output_buffer",
];

/// Typed, immutable engine settings, built once from a Python `Config`.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where to listen.
    pub binds: Vec<BindAddr>,
    /// Worker threads that always run.
    pub threads: usize,
    /// Ceiling the pool may grow to while every thread is blocked outside the GIL.
    pub max_threads: usize,
    /// Requests that may wait for a thread; `None` means unbounded.
    pub max_queued: Option<usize>,
    /// Most open connections; `None` means no limit.
    pub max_connections: Option<usize>,
    /// Listen backlog.
    pub backlog: i32,
    /// Idle keep-alive timeout; `None` disables keep-alive.
    pub keepalive: Option<Duration>,
    /// Time allowed to receive a whole request head.
    pub header_timeout: Duration,
    /// Time allowed between reads of a request body the app waits for.
    pub read_timeout: Duration,
    /// Time allowed for a write to make progress.
    pub write_timeout: Duration,
    /// Time `stop()` waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Codec limits.
    pub limits: Limits,
    /// `SERVER_NAME`.
    pub server_name: String,
    /// Highest HTTP version spoken.
    pub protocol: Version,
    /// Keep `%2F` encoded in `PATH_INFO`.
    pub keep_quoted_slash: bool,
    /// Permissions of UNIX socket files.
    pub unix_socket_mode: u32,
    /// Cap on response bytes queued for one connection before the app is paused.
    pub output_buffer: usize,
}

fn secs(value: f64) -> Duration {
    if value.is_finite() && value > 0.0 {
        Duration::from_secs_f64(value.min(1.0e9))
    } else {
        Duration::ZERO
    }
}

fn field<'py, T: FromPyObjectOwned<'py>>(config: &Bound<'py, PyAny>, name: &str) -> PyResult<T> {
    config.getattr(name)?.extract::<T>().map_err(|e| {
        let err: PyErr = e.into();
        pyo3::exceptions::PyTypeError::new_err(format!("config.{name}: {}", err.value(config.py())))
    })
}

use pyo3::conversion::FromPyObjectOwned;

impl EngineConfig {
    /// Reads every field of [`CONFIG_FIELDS`] from a Python `Config` object.
    pub fn from_py(config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let bind: Vec<String> = field(config, "bind")?;
        let binds = bind
            .iter()
            .map(|b| BindAddr::parse(b).map_err(pyo3::exceptions::PyValueError::new_err))
            .collect::<PyResult<Vec<_>>>()?;
        if binds.is_empty() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "bind: at least one address is needed",
            ));
        }
        let threads: usize = field(config, "threads")?;
        let max_threads: usize = field(config, "max_threads")?;
        let max_queued: usize = field(config, "max_queued")?;
        let keepalive: f64 = field(config, "keepalive")?;
        let protocol: String = field(config, "protocol")?;
        let limits = Limits {
            max_request_line: field(config, "limit_request_line")?,
            max_header_count: field(config, "limit_request_fields")?,
            max_field_size: field(config, "limit_request_field_size")?,
            max_body_size: field(config, "max_body_size")?,
            ..Limits::default()
        };
        Ok(Self {
            binds,
            threads: threads.max(1),
            max_threads: max_threads.max(threads.max(1)),
            max_queued: (max_queued > 0).then_some(max_queued),
            max_connections: {
                let n: usize = field(config, "max_connections")?;
                (n > 0).then_some(n)
            },
            backlog: field::<i64>(config, "backlog")?.clamp(1, i64::from(i32::MAX)) as i32,
            keepalive: (keepalive > 0.0).then(|| secs(keepalive)),
            header_timeout: secs(field(config, "header_timeout")?),
            read_timeout: secs(field(config, "read_timeout")?),
            write_timeout: secs(field(config, "write_timeout")?),
            shutdown_timeout: secs(field(config, "shutdown_timeout")?),
            limits,
            server_name: field(config, "server_name")?,
            protocol: if protocol == "HTTP/1.0" {
                Version::Http10
            } else {
                Version::Http11
            },
            keep_quoted_slash: field(config, "keep_quoted_slash")?,
            unix_socket_mode: field(config, "unix_socket_mode")?,
            output_buffer: field::<usize>(config, "output_buffer")?.max(4096),
        })
    }
}
