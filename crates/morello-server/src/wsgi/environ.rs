//! The WSGI environ: CGI variables, `HTTP_*` headers and the `wsgi.*` keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use morello_http::{Framing, RequestHead};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::config::EngineConfig;
use crate::exchange::Exchange;
use crate::listener::Peer;
use crate::wsgi::errors::ErrorStream;
use crate::wsgi::file_wrapper::FileWrapper;
use crate::wsgi::input::Input;
use crate::wsgi::ListenerInfo;

/// Most distinct `HTTP_*` keys kept interned; past it, keys are built per request.
const KEY_CACHE_SIZE: usize = 512;

/// Interned `HTTP_*` environ keys by header name, so common headers cost no allocation.
#[derive(Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<Vec<u8>, Py<PyString>>>,
}

impl KeyCache {
    fn get<'py>(&self, py: Python<'py>, key: &[u8]) -> Bound<'py, PyString> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = keys.get(key) {
            return k.bind(py).clone();
        }
        let s = latin1(py, key);
        if keys.len() < KEY_CACHE_SIZE {
            keys.insert(key.to_vec(), s.clone().unbind());
        }
        s
    }
}

/// What the environ is built from.
pub struct Request<'a> {
    /// The request head.
    pub head: &'a RequestHead,
    /// The matched mount prefix.
    pub script_name: &'a str,
    /// The decoded path after the prefix.
    pub path_info: &'a [u8],
    /// The raw query string.
    pub query: &'a [u8],
    /// The client.
    pub peer: &'a Peer,
    /// The listener.
    pub listener: &'a ListenerInfo,
}

/// Bytes as a latin-1 `str` (each byte one code point), as PEP 3333 requires for environ
/// values.
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => PyString::new(py, s),
        _ => {
            let s: String = bytes.iter().map(|&b| char::from(b)).collect();
            PyString::new(py, &s)
        }
    }
}

/// The keys every request shares, copied per request.
pub fn template<'py>(
    py: Python<'py>,
    cfg: &EngineConfig,
    logger: &Bound<'py, PyAny>,
) -> PyResult<Py<PyDict>> {
    let env = PyDict::new(py);
    env.set_item("wsgi.version", PyTuple::new(py, [1, 0])?)?;
    env.set_item("wsgi.url_scheme", "http")?;
    env.set_item("wsgi.multithread", true)?;
    env.set_item("wsgi.multiprocess", false)?;
    env.set_item("wsgi.run_once", false)?;
    env.set_item("wsgi.input_terminated", true)?;
    env.set_item(
        "wsgi.errors",
        Py::new(py, ErrorStream::new(logger.clone().unbind()))?,
    )?;
    env.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
    env.set_item("SERVER_SOFTWARE", crate::SERVER_SOFTWARE)?;
    env.set_item("SERVER_NAME", &cfg.server_name)?;
    env.set_item("SCRIPT_NAME", "")?;
    Ok(env.unbind())
}

/// Header fields in environ form: key bytes (`HTTP_X_Y`, `CONTENT_TYPE`…) and joined values.
fn collect_headers(head: &RequestHead) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(head.headers().len());
    let hide_length = head.hide_content_length() || matches!(head.framing(), Framing::Chunked);
    for (name, value) in head.headers() {
        // `X_Forwarded_For` must not pose as `X-Forwarded-For`: both map to the same key.
        if name.contains(&b'_') {
            continue;
        }
        let key: Vec<u8> = if name.eq_ignore_ascii_case(b"content-type") {
            b"CONTENT_TYPE".to_vec()
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if hide_length {
                continue;
            }
            b"CONTENT_LENGTH".to_vec()
        } else {
            let mut k = Vec::with_capacity(name.len() + 5);
            k.extend_from_slice(b"HTTP_");
            k.extend(name.iter().map(|&b| {
                if b == b'-' {
                    b'_'
                } else {
                    b.to_ascii_uppercase()
                }
            }));
            k
        };
        if let Some((_, existing)) = out.iter_mut().find(|(k, _)| *k == key) {
            // Cookie pairs are separated by "; " (RFC 6265); other fields by ", " (RFC 9110).
            let sep: &[u8] = if key == b"HTTP_COOKIE" { b"; " } else { b", " };
            if key == b"CONTENT_LENGTH" {
                continue; // The codec accepted only identical duplicates.
            }
            existing.extend_from_slice(sep);
            existing.extend_from_slice(value);
        } else {
            out.push((key, value.to_vec()));
        }
    }
    out
}

/// Builds one request's environ.
pub fn build<'py>(
    py: Python<'py>,
    req: &Request<'_>,
    template: &Bound<'py, PyDict>,
    keys: &KeyCache,
    exchange: &Arc<Exchange>,
    cfg: &EngineConfig,
) -> PyResult<Bound<'py, PyDict>> {
    let env = template.copy()?;
    let head = req.head;
    env.set_item(intern!(py, "REQUEST_METHOD"), latin1(py, head.method()))?;
    if !req.script_name.is_empty() {
        env.set_item(intern!(py, "SCRIPT_NAME"), req.script_name)?;
    }
    env.set_item(intern!(py, "PATH_INFO"), latin1(py, req.path_info))?;
    env.set_item(intern!(py, "QUERY_STRING"), latin1(py, req.query))?;
    let raw_uri = latin1(py, head.target());
    env.set_item(intern!(py, "REQUEST_URI"), &raw_uri)?;
    env.set_item(intern!(py, "RAW_URI"), raw_uri)?;
    env.set_item(
        intern!(py, "SERVER_PROTOCOL"),
        match head.version() {
            morello_http::Version::Http10 => intern!(py, "HTTP/1.0"),
            morello_http::Version::Http11 => intern!(py, "HTTP/1.1"),
        },
    )?;
    env.set_item(intern!(py, "SERVER_PORT"), &req.listener.server_port)?;
    match req.peer {
        Peer::Tcp(addr) => {
            env.set_item(intern!(py, "REMOTE_ADDR"), addr.ip().to_string())?;
            env.set_item(intern!(py, "REMOTE_PORT"), addr.port().to_string())?;
        }
        Peer::Unix => {
            env.set_item(intern!(py, "REMOTE_ADDR"), "")?;
            env.set_item(intern!(py, "REMOTE_PORT"), "")?;
        }
    }
    for (key, value) in collect_headers(head) {
        env.set_item(keys.get(py, &key), latin1(py, &value))?;
    }
    let input = Input::new(Arc::clone(exchange), cfg.read_timeout);
    env.set_item(intern!(py, "wsgi.input"), Py::new(py, input)?)?;
    Ok(env)
}
