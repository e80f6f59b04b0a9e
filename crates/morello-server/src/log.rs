//! Log records raised where the GIL is not held (the IO thread), delivered to Python's
//! `logging` later by a thread that takes the GIL anyway.

use std::sync::Mutex;

/// Severity of a deferred record, mapped to `logging` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `logging.INFO`
    Info,
    /// `logging.WARNING`
    Warning,
    /// `logging.ERROR`
    Error,
}

impl Level {
    /// The numeric `logging` level.
    pub fn as_logging(&self) -> u32 {
        match self {
            Level::Info => 20,
            Level::Warning => 30,
            Level::Error => 40,
        }
    }
}

/// Most records kept while nobody drains them; later ones are counted and summarised.
const MAX_PENDING: usize = 1000;

/// A queue of records waiting for the GIL.
#[derive(Debug, Default)]
pub struct LogSink {
    pending: Mutex<(Vec<(Level, String)>, usize)>,
}

impl LogSink {
    /// Queues a record (never blocks on Python).
    pub fn push(&self, level: Level, message: String) {
        let mut guard = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if guard.0.len() < MAX_PENDING {
            guard.0.push((level, message));
        } else {
            guard.1 += 1;
        }
    }

    /// Takes the queued records, plus a summary record if some were dropped.
    pub fn take(&self) -> Vec<(Level, String)> {
        let mut guard = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut records = std::mem::take(&mut guard.0);
        let dropped = std::mem::take(&mut guard.1);
        if dropped > 0 {
            records.push((
                Level::Warning,
                format!("{dropped} more log records were dropped"),
            ));
        }
        records
    }

    /// True when records wait.
    pub fn is_empty(&self) -> bool {
        let guard = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.is_empty() && guard.1 == 0
    }
}
