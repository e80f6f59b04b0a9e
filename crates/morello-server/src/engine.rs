//! `Engine`: the Python-facing handle that binds, starts and stops the server.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::config::EngineConfig;
use crate::exchange::Notifier;
use crate::listener::{raise_nofile_limit, BoundAddr, Listener};
use crate::log::{Level, LogSink};
use crate::pool::{Pool, Stats};
use crate::reactor::{Reactor, StopFlag};
use crate::wsgi::{ListenerInfo, Mount, Runner};

/// Set once the IO thread has finished and the pool is closed.
#[derive(Default)]
struct Done {
    stopped: Mutex<bool>,
    cond: Condvar,
}

impl Done {
    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cond.notify_all();
    }

    fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        while !*stopped {
            stopped = match deadline {
                None => self.cond.wait(stopped).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    self.cond
                        .wait_timeout(stopped, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
        true
    }
}

struct Running {
    stop: Arc<StopFlag>,
    notifier: Arc<Notifier>,
    pool: Arc<Pool>,
    runner: Arc<Runner>,
    io_thread: Option<JoinHandle<()>>,
}

enum Phase {
    Ready(Vec<Mount>),
    Running(Running),
    Stopped,
}

/// The server engine: listeners, the IO thread and the worker pool.
#[pyclass(module = "morello._morello", frozen)]
pub struct Engine {
    cfg: Arc<EngineConfig>,
    phase: Mutex<Phase>,
    addresses: Mutex<Vec<BoundAddr>>,
    stats: Arc<Stats>,
    log: Arc<LogSink>,
    done: Arc<Done>,
}

impl Engine {
    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bind_all(&self) -> PyResult<Vec<(Listener, Arc<ListenerInfo>)>> {
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for bind in &self.cfg.binds {
            let found =
                Listener::bind(bind, self.cfg.backlog, self.cfg.unix_socket_mode).map_err(|e| {
                    PyOSError::new_err((
                        e.raw_os_error().unwrap_or(0),
                        format!("cannot bind {}: {e}", describe_bind(bind)),
                    ))
                })?;
            for listener in found {
                let addr = listener
                    .bound()
                    .map_err(|e| PyOSError::new_err(e.to_string()))?;
                let server_port = match &addr {
                    BoundAddr::Tcp(a) => a.port().to_string(),
                    BoundAddr::Unix(_) => String::new(),
                };
                bound.push(addr);
                listeners.push((listener, Arc::new(ListenerInfo::new(server_port))));
            }
        }
        *self.addresses.lock().unwrap_or_else(|p| p.into_inner()) = bound;
        Ok(listeners)
    }
}

fn describe_bind(bind: &crate::listener::BindAddr) -> String {
    match bind {
        crate::listener::BindAddr::Tcp { host, port } if host.contains(':') => {
            format!("[{host}]:{port}")
        }
        crate::listener::BindAddr::Tcp { host, port } => format!("{host}:{port}"),
        crate::listener::BindAddr::Unix(p) => format!("unix:{}", p.display()),
    }
}

#[pymethods]
impl Engine {
    /// An engine serving `mounts` (`(prefix, app)` pairs, prefixes normalised: `""` for the
    /// root, else `/x` without a trailing slash) with the settings of `config`.
    #[new]
    fn new(config: &Bound<'_, PyAny>, mounts: Vec<(String, Py<PyAny>)>) -> PyResult<Self> {
        let cfg = EngineConfig::from_py(config)?;
        let mut list = Vec::with_capacity(mounts.len());
        for (prefix, app) in mounts {
            if !(prefix.is_empty() || (prefix.starts_with('/') && !prefix.ends_with('/'))) {
                return Err(PyTypeError::new_err(format!(
                    "mount prefix {prefix:?} must be '' or start with '/' and not end with '/'"
                )));
            }
            list.push(Mount { prefix, app });
        }
        Ok(Self {
            cfg: Arc::new(cfg),
            phase: Mutex::new(Phase::Ready(list)),
            addresses: Mutex::new(Vec::new()),
            stats: Arc::new(Stats::default()),
            log: Arc::new(LogSink::default()),
            done: Arc::new(Done::default()),
        })
    }

    /// Binds every listener and starts the IO thread and the workers. Returns at once.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut phase = self.phase();
        let mounts = match std::mem::replace(&mut *phase, Phase::Stopped) {
            Phase::Ready(m) => m,
            other => {
                *phase = other;
                return Err(PyRuntimeError::new_err("the engine was started already"));
            }
        };
        let _ = raise_nofile_limit();
        let listeners = match self.bind_all() {
            Ok(l) => l,
            Err(e) => {
                *phase = Phase::Ready(mounts);
                return Err(e);
            }
        };
        let runner = Arc::new(Runner::new(
            py,
            mounts,
            Arc::clone(&self.cfg),
            Arc::clone(&self.log),
        )?);
        let stop = Arc::new(StopFlag::default());
        let cfg = Arc::clone(&self.cfg);
        let pool_runner = Arc::clone(&runner);
        let stats = Arc::clone(&self.stats);
        let (reactor, notifier) = Reactor::new(
            listeners,
            |_| {
                Pool::new(
                    pool_runner,
                    cfg.threads,
                    cfg.max_threads,
                    cfg.max_queued,
                    stats,
                )
            },
            Arc::clone(&self.cfg),
            Arc::clone(&self.stats),
            Arc::clone(&self.log),
            Arc::clone(&stop),
        )
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
        let pool = reactor.pool();
        pool.start()
            .map_err(|e| PyOSError::new_err(format!("cannot start worker threads: {e}")))?;
        let done = Arc::clone(&self.done);
        let log = Arc::clone(&self.log);
        let io_pool = Arc::clone(&pool);
        let io_thread = std::thread::Builder::new()
            .name("morello-io".into())
            .spawn(move || {
                crate::pool::prefer_batching();
                let abandoned = reactor.run();
                if !abandoned.is_empty() {
                    log.push(
                        Level::Warning,
                        format!(
                            "stop: abandoned {} request(s) still running at the graceful timeout \
                             (their connections were closed): {}",
                            abandoned.len(),
                            abandoned.join("; ")
                        ),
                    );
                }
                io_pool.close();
                done.set();
            })
            .map_err(|e| PyOSError::new_err(format!("cannot start the IO thread: {e}")))?;
        *phase = Phase::Running(Running {
            stop,
            notifier,
            pool,
            runner,
            io_thread: Some(io_thread),
        });
        Ok(())
    }

    /// Stops gracefully: stop accepting, close idle connections, let in-flight requests finish
    /// for at most `timeout` seconds (default: the configured graceful timeout). True when
    /// everything finished in time.
    #[pyo3(signature = (timeout=None))]
    fn stop(&self, py: Python<'_>, timeout: Option<f64>) -> bool {
        let timeout = timeout
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(self.cfg.shutdown_timeout);
        let (stop, notifier, pool, runner, io_thread) = {
            let mut phase = self.phase();
            match &mut *phase {
                Phase::Running(r) => (
                    Arc::clone(&r.stop),
                    Arc::clone(&r.notifier),
                    Arc::clone(&r.pool),
                    Arc::clone(&r.runner),
                    r.io_thread.take(),
                ),
                Phase::Ready(_) => {
                    *phase = Phase::Stopped;
                    self.done.set();
                    return true;
                }
                Phase::Stopped => return true,
            }
        };
        let deadline = Instant::now() + timeout;
        stop.request(timeout);
        notifier.wake();
        let done = Arc::clone(&self.done);
        let finished = py.detach(|| {
            let io_done = done.wait(Some(
                deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(200),
            ));
            if io_done {
                if let Some(t) = io_thread {
                    let _ = t.join();
                }
            }
            io_done && pool.join(deadline + Duration::from_millis(200))
        });
        if !finished {
            self.log.push(Level::Warning, "stop: some worker threads are still running an application after the graceful timeout".into());
        }
        runner.flush_logs();
        finished
    }

    /// Waits until the engine has stopped, at most `timeout` seconds. True if stopped.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> bool {
        let timeout = timeout
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(Duration::from_secs_f64);
        let done = Arc::clone(&self.done);
        py.detach(|| done.wait(timeout))
    }

    /// Whether the engine is running.
    #[getter]
    fn running(&self) -> bool {
        matches!(*self.phase(), Phase::Running(_))
            && !*self.done.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bound addresses: `(host, port)` for TCP, the path for UNIX sockets.
    #[getter]
    fn addresses<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for addr in self
            .addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            match addr {
                BoundAddr::Tcp(a) => list.append((a.ip().to_string(), a.port()))?,
                BoundAddr::Unix(p) => list.append(p.to_string_lossy().into_owned())?,
            }
        }
        Ok(list)
    }

    /// Live counters: threads, busy_threads, queued, connections, requests.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.stats;
        let d = PyDict::new(py);
        d.set_item("threads", s.threads.load(Ordering::Relaxed))?;
        d.set_item("busy_threads", s.busy.load(Ordering::Relaxed))?;
        d.set_item("queued", s.queued.load(Ordering::Relaxed))?;
        d.set_item("connections", s.connections.load(Ordering::Relaxed))?;
        d.set_item("requests", s.requests.load(Ordering::Relaxed))?;
        Ok(d)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // An engine dropped while running stops without waiting.
        if let Phase::Running(r) = &*self.phase() {
            r.stop.request(Duration::ZERO);
            r.notifier.wake();
        }
    }
}
