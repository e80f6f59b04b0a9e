//! `wsgi.errors`: a text stream whose lines go to the `morello.error` logger.

use std::sync::Mutex;

use pyo3::prelude::*;

/// Longest partial line kept before it is logged anyway.
const MAX_PARTIAL: usize = 64 * 1024;

/// The `wsgi.errors` stream. Text is logged line by line at ERROR level; `flush()` logs a
/// partial line.
#[pyclass(module = "morello._morello", frozen)]
pub struct ErrorStream {
    logger: Py<PyAny>,
    partial: Mutex<String>,
}

impl ErrorStream {
    /// A stream logging to `logger`.
    pub fn new(logger: Py<PyAny>) -> Self {
        Self {
            logger,
            partial: Mutex::new(String::new()),
        }
    }

    fn emit(&self, py: Python<'_>, lines: Vec<String>) -> PyResult<()> {
        let logger = self.logger.bind(py);
        for line in lines {
            logger.call_method1("error", ("%s", line))?;
        }
        Ok(())
    }
}

#[pymethods]
impl ErrorStream {
    /// Writes text; each complete line is logged.
    fn write(&self, py: Python<'_>, text: &str) -> PyResult<usize> {
        let lines = {
            let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
            partial.push_str(text);
            let mut lines = Vec::new();
            while let Some(i) = partial.find('\n') {
                let line: String = partial.drain(..=i).collect();
                lines.push(line.trim_end_matches(['\n', '\r']).to_owned());
            }
            if partial.len() > MAX_PARTIAL {
                lines.push(std::mem::take(&mut *partial));
            }
            lines
        };
        self.emit(py, lines)?;
        Ok(text.chars().count())
    }

    /// Writes each string of `lines`.
    fn writelines(&self, py: Python<'_>, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            let line = line?;
            self.write(py, line.extract::<&str>()?)?;
        }
        Ok(())
    }

    /// Logs a pending partial line.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let line = std::mem::take(&mut *self.partial.lock().unwrap_or_else(|p| p.into_inner()));
        if line.is_empty() {
            return Ok(());
        }
        self.emit(py, vec![line])
    }
}
