//! The WSGI environ: CGI variables, `HTTP_*` headers and the `wsgi.*` keys.

use std::sync::{Arc, Mutex};

use morello_http::{Framing, RequestHead};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use rustc_hash::FxHashMap;

use crate::config::EngineConfig;
use crate::exchange::Exchange;
use crate::wsgi::errors::ErrorStream;
use crate::wsgi::file_wrapper::FileWrapper;
use crate::wsgi::input::Input;
use crate::wsgi::Client;

/// Most distinct header names whose environ keys are kept; past it, keys are built per request.
const KEY_CACHE_SIZE: usize = 512;

extern "C" {
    /// `dict.setdefault` in C: returns the value stored under `key`, inserting `default` first
    /// if there was none (a borrowed reference; null with an exception set on failure). Part
    /// of CPython's C API since 3.4; `pyo3::ffi` does not declare it.
    fn PyDict_SetDefault(
        dict: *mut pyo3::ffi::PyObject,
        key: *mut pyo3::ffi::PyObject,
        default: *mut pyo3::ffi::PyObject,
    ) -> *mut pyo3::ffi::PyObject;
}

/// What a header name becomes in the environ.
enum Key {
    /// `CONTENT_TYPE`.
    ContentType,
    /// `CONTENT_LENGTH`.
    ContentLength,
    /// `HTTP_*`: the interned key.
    Http(Py<PyString>),
    /// A name with `_`: dropped, so `X_Forwarded_For` cannot pose as `X-Forwarded-For`.
    Dropped,
}

/// Environ keys by header name as sent (case and all), so a header costs one lookup and no
/// allocation once its name has been seen. Hashed with rustc-hash's Fx, which reads a name
/// eight bytes at a time: a fast unkeyed hash is enough for a cache of at most
/// `KEY_CACHE_SIZE` names (collisions cost probes, never correctness), and SipHash cost more
/// than the lookup it guarded.
#[derive(Default)]
pub struct KeyCache {
    keys: Mutex<FxHashMap<Vec<u8>, Key>>,
}

impl Key {
    fn clone_ref(&self, py: Python<'_>) -> Key {
        match self {
            Key::ContentType => Key::ContentType,
            Key::ContentLength => Key::ContentLength,
            Key::Http(k) => Key::Http(k.clone_ref(py)),
            Key::Dropped => Key::Dropped,
        }
    }
}

impl KeyCache {
    /// The environ key of the header `name` (added to the cache on first sight). The lock is
    /// taken per field and held for nothing that can release the GIL: a thread waiting for it
    /// holds the GIL, so the holder must never need the GIL back to finish.
    fn get(&self, py: Python<'_>, name: &[u8]) -> Key {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = keys.get(name) {
            return k.clone_ref(py);
        }
        let key = if name.contains(&b'_') {
            Key::Dropped
        } else if name.eq_ignore_ascii_case(b"content-type") {
            Key::ContentType
        } else if name.eq_ignore_ascii_case(b"content-length") {
            Key::ContentLength
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
            Key::Http(PyString::intern(py, &String::from_utf8_lossy(&k)).unbind())
        };
        if keys.len() < KEY_CACHE_SIZE {
            keys.insert(name.to_vec(), key.clone_ref(py));
        }
        key
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
    /// The connection.
    pub client: &'a Client,
}

/// Bytes as a latin-1 `str` (each byte one code point), as PEP 3333 requires for environ
/// values. `PyUnicode_DecodeLatin1` is exactly that mapping, with an ASCII fast path; going
/// through `&str` would validate UTF-8 first (2.4k instructions per request on `hello`).
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    let len = pyo3::ffi::Py_ssize_t::try_from(bytes.len()).unwrap_or(pyo3::ffi::Py_ssize_t::MAX);
    // SAFETY: the pointer and length describe `bytes`; latin-1 decoding cannot fail except on
    // memory exhaustion, handled below.
    let ptr =
        unsafe { pyo3::ffi::PyUnicode_DecodeLatin1(bytes.as_ptr().cast(), len, std::ptr::null()) };
    if ptr.is_null() {
        // Out of memory: fall back to the slow path, which reports it the usual way.
        let s: String = bytes.iter().map(|&b| char::from(b)).collect();
        return PyString::new(py, &s);
    }
    // SAFETY: a new, owned reference to a str object.
    unsafe { Bound::from_owned_ptr(py, ptr).cast_into_unchecked() }
}

/// `REQUEST_METHOD`: the common methods as interned strings (no allocation), others decoded.
fn method<'py>(py: Python<'py>, method: &[u8]) -> Bound<'py, PyString> {
    let common = match method {
        b"GET" => intern!(py, "GET"),
        b"POST" => intern!(py, "POST"),
        b"HEAD" => intern!(py, "HEAD"),
        b"PUT" => intern!(py, "PUT"),
        b"DELETE" => intern!(py, "DELETE"),
        b"PATCH" => intern!(py, "PATCH"),
        b"OPTIONS" => intern!(py, "OPTIONS"),
        _ => return latin1(py, method),
    };
    common.clone()
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
    // The keys every request sets, with placeholder values: `build` then replaces values in
    // the copy rather than inserting keys. All of them are set on every request.
    for key in PER_REQUEST_KEYS {
        env.set_item(PyString::intern(py, key), py.None())?;
    }
    // And the keys whose usual value the template holds: `build` replaces them only when the
    // request differs (a `GET` of a path without a query over HTTP/1.1 skips all three; each
    // replacement is some 150 instructions of CPython's dict code).
    env.set_item(intern!(py, "REQUEST_METHOD"), intern!(py, "GET"))?;
    env.set_item(intern!(py, "QUERY_STRING"), intern!(py, ""))?;
    env.set_item(intern!(py, "SERVER_PROTOCOL"), intern!(py, "HTTP/1.1"))?;
    // Room for the request's headers. CPython copies a dict with its hash table's size, so
    // growing the template's table once (one spare key, inserted then deleted) gives every
    // copy room for some twenty header keys: a request with a dozen headers costs no resize
    // (740 instructions per request on `hello` before). This relies on how CPython copies
    // dicts; where it differs the copy is only slower, never different.
    env.set_item(SPARE_KEY, py.None())?;
    env.del_item(SPARE_KEY)?;
    Ok(env.unbind())
}

/// The keys [`build`] sets on every request (`SCRIPT_NAME`, `REQUEST_METHOD`, `QUERY_STRING`
/// and `SERVER_PROTOCOL` have template values).
const PER_REQUEST_KEYS: [&str; 7] = [
    "PATH_INFO",
    "REQUEST_URI",
    "RAW_URI",
    "SERVER_PORT",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "wsgi.input",
];

/// A key inserted into the template and deleted again, to grow its table (see [`template`]).
const SPARE_KEY: &str = "morello.spare";

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
    // The template holds GET, an empty QUERY_STRING and HTTP/1.1.
    if head.method() != b"GET" {
        env.set_item(intern!(py, "REQUEST_METHOD"), method(py, head.method()))?;
    }
    if !req.script_name.is_empty() {
        env.set_item(intern!(py, "SCRIPT_NAME"), req.script_name)?;
    }
    env.set_item(intern!(py, "PATH_INFO"), latin1(py, req.path_info))?;
    if !req.query.is_empty() {
        env.set_item(intern!(py, "QUERY_STRING"), latin1(py, req.query))?;
    }
    let raw_uri = latin1(py, head.target());
    env.set_item(intern!(py, "REQUEST_URI"), &raw_uri)?;
    env.set_item(intern!(py, "RAW_URI"), raw_uri)?;
    if head.version() == morello_http::Version::Http10 {
        env.set_item(intern!(py, "SERVER_PROTOCOL"), intern!(py, "HTTP/1.0"))?;
    }
    env.set_item(intern!(py, "SERVER_PORT"), req.client.listener.port_str(py))?;
    let (remote_addr, remote_port) = req.client.remote(py);
    env.set_item(intern!(py, "REMOTE_ADDR"), remote_addr)?;
    env.set_item(intern!(py, "REMOTE_PORT"), remote_port)?;
    let hide_length = head.hide_content_length() || matches!(head.framing(), Framing::Chunked);
    for (name, value) in head.headers() {
        let key = match keys.get(py, name) {
            Key::Dropped => continue,
            Key::ContentLength if hide_length => continue,
            Key::ContentLength => intern!(py, "CONTENT_LENGTH").clone(),
            Key::ContentType => intern!(py, "CONTENT_TYPE").clone(),
            Key::Http(k) => k.bind(py).clone(),
        };
        let value = latin1(py, value);
        // Inserted unless the key is there already: one hash lookup where `get_item` then
        // `set_item` made two (13 fewer per browser request). The dict's length says which
        // happened; comparing the returned object with `value` would not, as CPython shares
        // the empty and one-character strings.
        let before = env.len();
        // SAFETY: `env`, `key` and `value` are live objects and the GIL is held; the result
        // is a borrowed reference (or null with an exception set), used only below.
        let existing = unsafe { PyDict_SetDefault(env.as_ptr(), key.as_ptr(), value.as_ptr()) };
        if existing.is_null() {
            return Err(PyErr::fetch(py));
        }
        if env.len() == before && !key.to_str()?.eq("CONTENT_LENGTH") {
            // A repeated field (the template holds no header keys): join the values. Cookie
            // pairs are separated by "; " (RFC 6265), other fields by ", " (RFC 9110); the
            // codec accepts repeated Content-Length only when the values are identical.
            // SAFETY: a borrowed reference to the value in `env`, which holds it.
            let existing = unsafe { Bound::from_borrowed_ptr(py, existing) };
            let sep = if key.to_str()? == "HTTP_COOKIE" {
                "; "
            } else {
                ", "
            };
            let joined = format!("{}{sep}{}", existing.extract::<&str>()?, value.to_str()?);
            env.set_item(&key, joined)?;
        }
    }
    let input = Input::new(Arc::clone(exchange), cfg.read_timeout);
    env.set_item(intern!(py, "wsgi.input"), Py::new(py, input)?)?;
    Ok(env)
}
