//! morello's engine, built as the Python extension module `morello._morello`.
//!
//! * [`listener`]: bind syntax and listening sockets.
//! * [`reactor`]: the connection layer, one IO thread that never holds the GIL.
//! * [`exchange`]: how a connection and a worker hand each other body and response bytes.
//! * [`pool`]: the worker threads that run the application, scheduled with the GIL in mind.
//! * [`wsgi`]: the WSGI bridge (environ, `wsgi.input`, `start_response`, the response).
//! * [`engine`]: the `Engine` class Python drives.
//!
//! The HTTP/1.1 codec is the separate, IO-free crate `morello-http`.

pub mod config;
pub mod engine;
pub mod exchange;
pub mod listener;
pub mod log;
pub mod pool;
pub mod pybytes;
pub mod reactor;
pub mod sendfile;
pub mod status;
pub mod wsgi;

use pyo3::prelude::*;

/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `SERVER_SOFTWARE` and the default `Server` header.
pub const SERVER_SOFTWARE: &str = concat!("morello/", env!("CARGO_PKG_VERSION"));

/// Parses a `--bind` value: `("tcp", host, port)` or `("unix", path)`.
#[pyfunction]
fn parse_bind(py: Python<'_>, value: &str) -> PyResult<Py<PyAny>> {
    match listener::BindAddr::parse(value).map_err(pyo3::exceptions::PyValueError::new_err)? {
        listener::BindAddr::Tcp { host, port } => {
            Ok(("tcp", host, port).into_pyobject(py)?.into_any().unbind())
        }
        listener::BindAddr::Unix(path) => Ok(("unix", path.to_string_lossy().into_owned())
            .into_pyobject(py)?
            .into_any()
            .unbind()),
    }
}

#[pymodule(gil_used = true)]
fn _morello(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", VERSION)?;
    m.add("SERVER_SOFTWARE", SERVER_SOFTWARE)?;
    m.add("CONFIG_FIELDS", config::CONFIG_FIELDS.to_vec())?;
    m.add_class::<engine::Engine>()?;
    m.add_class::<wsgi::file_wrapper::FileWrapper>()?;
    m.add_class::<wsgi::input::Input>()?;
    m.add_class::<wsgi::errors::ErrorStream>()?;
    m.add_class::<wsgi::response::StartResponse>()?;
    m.add_class::<wsgi::response::WriteCallable>()?;
    m.add_function(wrap_pyfunction!(parse_bind, m)?)?;
    Ok(())
}
