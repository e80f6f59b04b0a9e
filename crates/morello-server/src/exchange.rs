//! The meeting point of one request's connection (owned by the IO thread) and the worker
//! thread running its application.
//!
//! The IO thread pushes decoded body bytes in and takes response bytes out; the worker does the
//! opposite. Neither ever waits on the other while holding the GIL: a worker waits on the
//! condition variable only inside `Python::detach`. The IO thread never waits at all; workers
//! wake it through the [`Notifier`].

use std::collections::VecDeque;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mio::{Token, Waker};

/// Body bytes the IO thread buffers ahead of the application before it stops reading.
pub const BODY_BUFFER: usize = 256 * 1024;

/// The largest buffer a reused exchange (or a recycled response buffer) keeps: small enough
/// that a pool of them stays small, large enough for typical requests and responses.
pub const KEEP_CAPACITY: usize = 16 * 1024;

/// A piece of response output.
#[derive(Debug)]
pub enum OutItem {
    /// Bytes to write as they are (head, body, chunk framing).
    Bytes(Vec<u8>),
    /// A large body chunk, written from the application's own `bytes` object.
    Shared(crate::pybytes::SharedBytes),
    /// A region of a regular file, sent with `sendfile(2)`.
    File {
        /// The file (a duplicate descriptor the IO thread owns).
        file: File,
        /// Where the region starts.
        offset: u64,
        /// How many bytes to send.
        len: u64,
    },
}

impl OutItem {
    /// Bytes this item will put on the wire.
    pub fn len(&self) -> usize {
        match self {
            OutItem::Bytes(b) => b.len(),
            OutItem::Shared(b) => b.as_slice().len(),
            OutItem::File { len, .. } => usize::try_from(*len).unwrap_or(usize::MAX),
        }
    }

    /// True when the item carries nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why the request body could not be read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The client closed the connection mid-body.
    Disconnected,
    /// No body bytes arrived within the read timeout.
    Timeout,
    /// The body broke the framing rules or a limit.
    Invalid(morello_http::Error),
}

impl BodyError {
    /// A message for the exception raised in `wsgi.input.read()`.
    pub fn message(&self) -> String {
        match self {
            BodyError::Disconnected => {
                "client disconnected before the request body was complete".into()
            }
            BodyError::Timeout => "timed out reading the request body".into(),
            BodyError::Invalid(e) => format!("invalid request body: {}", e.reason()),
        }
    }
}

/// State shared by the IO thread and the worker, under one mutex.
#[derive(Debug, Default)]
pub struct Shared {
    /// Decoded body bytes not yet taken by the worker, from [`Shared::body_start`] on.
    pub body: Vec<u8>,
    /// Bytes at the front of `body` that are not body: the request head that came in the same
    /// read, when the IO thread handed its whole read buffer over instead of copying the body
    /// out of it (see `reactor::HANDOFF_MIN`).
    pub body_start: usize,
    /// The body is complete (all of it is in `body` or already taken).
    pub body_eof: bool,
    /// Reading the body failed.
    pub body_error: Option<BodyError>,
    /// The worker asked for body bytes (the first read sends `100 Continue`).
    pub body_wanted: bool,
    /// Response output the IO thread has not taken yet.
    pub out: VecDeque<OutItem>,
    /// Response bytes queued and not yet written to the socket (in `out` or in the IO thread).
    pub out_pending: usize,
    /// Written output buffers (cleared) that the IO thread hands back while the response is
    /// still being produced, for its next pieces: buffers then stay with the thread that
    /// allocated them instead of being freed by the IO thread (see `wsgi::response`).
    pub spare: Vec<Vec<u8>>,
    /// The worker has queued the whole response.
    pub finished: bool,
    /// The response must not be completed: close the connection after what is queued.
    pub abort: bool,
    /// The connection may stay open after this response.
    pub keep_alive: bool,
    /// The response head has been queued.
    pub head_sent: bool,
    /// The connection is gone (write error, timeout, reset): the worker stops producing.
    pub client_gone: bool,
    /// A worker waits on the condition variable.
    pub worker_waiting: bool,
}

/// One request's exchange. See the module documentation.
#[derive(Debug)]
pub struct Exchange {
    shared: Mutex<Shared>,
    cond: Condvar,
    token: Token,
    notifier: Arc<Notifier>,
}

impl Exchange {
    /// A new exchange for the connection `token`.
    pub fn new(token: Token, notifier: Arc<Notifier>) -> Arc<Self> {
        Arc::new(Self {
            shared: Mutex::new(Shared::default()),
            cond: Condvar::new(),
            token,
            notifier,
        })
    }

    /// Readies an exchange that served its request for the reactor's pool: its state reset,
    /// the allocations of its buffers kept (up to [`KEEP_CAPACITY`]), and the output buffers
    /// handed back to it ([`Shared::spare`]) returned to `spare_out` while it holds fewer than
    /// `keep`. `None` if anything else still holds it (a worker finishing, or an application
    /// keeping `start_response`); it is then freed when the last holder lets go.
    pub fn recycle(
        mut this: Arc<Self>,
        spare_out: &mut Vec<Vec<u8>>,
        keep: usize,
    ) -> Option<Arc<Self>> {
        let ex = Arc::get_mut(&mut this)?;
        let shared = ex.shared.get_mut().unwrap_or_else(|p| p.into_inner());
        for buf in shared.spare.drain(..) {
            if spare_out.len() >= keep {
                break;
            }
            spare_out.push(buf);
        }
        let mut body = std::mem::take(&mut shared.body);
        let mut out = std::mem::take(&mut shared.out);
        body.clear();
        out.clear();
        if body.capacity() > KEEP_CAPACITY {
            body = Vec::new();
        }
        *shared = Shared {
            body,
            out,
            ..Shared::default()
        };
        Some(this)
    }

    /// Takes a recycled exchange (see [`Exchange::recycle`]) for connection `token`. `None`
    /// if it is shared after all.
    pub fn reuse(mut this: Arc<Self>, token: Token) -> Option<Arc<Self>> {
        Arc::get_mut(&mut this)?.token = token;
        Some(this)
    }

    /// Locks the shared state. A poisoned lock (a panic elsewhere) is recovered: the state is
    /// plain data, valid at every step.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes a worker waiting on this exchange (IO thread side).
    pub fn wake_worker(&self, shared: &mut Shared) {
        if shared.worker_waiting {
            self.cond.notify_all();
        }
    }

    /// Ends the response without completing it: the IO thread writes what is queued, then
    /// closes the connection. A response already complete (every byte of its body queued)
    /// stays complete: a failure after that (in `close()`, or in the application's iterator
    /// after its last byte) is logged, and the connection is kept.
    pub fn abort(&self) {
        let mut shared = self.lock();
        if shared.finished {
            return;
        }
        shared.abort = true;
        shared.finished = true;
        drop(shared);
        self.notify_io();
    }

    /// Tells the IO thread this exchange has news (worker side).
    pub fn notify_io(&self) {
        self.notifier.notify(self.token);
    }

    /// Worker side: waits (GIL released by the caller) until `ready` holds or `timeout` passes.
    /// Returns the guard; the caller re-checks its condition.
    pub fn wait_until<'a>(
        &'a self,
        mut guard: MutexGuard<'a, Shared>,
        timeout: Option<Duration>,
        ready: impl Fn(&Shared) -> bool,
    ) -> MutexGuard<'a, Shared> {
        let deadline = timeout.map(|t| Instant::now() + t);
        if ready(&guard) {
            return guard;
        }
        let parked = self.notifier.parked();
        parked.fetch_add(1, Ordering::Relaxed);
        while !ready(&guard) {
            guard.worker_waiting = true;
            guard = match deadline {
                None => self.cond.wait(guard).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    self.cond
                        .wait_timeout(guard, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
            guard.worker_waiting = false;
        }
        guard.worker_waiting = false;
        parked.fetch_sub(1, Ordering::Relaxed);
        guard
    }
}

/// How workers wake the IO thread: a queue of connection tokens with news, and a `mio::Waker`
/// written only when the IO thread is not already due to look at the queue.
#[derive(Debug)]
pub struct Notifier {
    queue: Mutex<Vec<Token>>,
    pending: AtomicBool,
    waker: Waker,
    /// Workers waiting in [`Exchange::wait_until`] (GIL released) for their client: busy
    /// workers that are not running Python. The pool reads it through [`Notifier::parked`].
    parked: Arc<AtomicUsize>,
}

impl Notifier {
    /// A notifier waking `waker`.
    pub fn new(waker: Waker, parked: Arc<AtomicUsize>) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            waker,
            parked,
        }
    }

    /// The number of workers waiting for their clients (see the field).
    pub fn parked(&self) -> &AtomicUsize {
        &self.parked
    }

    /// Queues `token` and wakes the IO thread if it is not already awake for the queue.
    pub fn notify(&self, token: Token) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(token);
        if !self.pending.swap(true, Ordering::AcqRel) {
            // A failed wake can only mean the poll is gone, i.e. the engine is stopping.
            let _ = self.waker.wake();
        }
    }

    /// Wakes the IO thread without news (stop requests).
    pub fn wake(&self) {
        self.pending.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// IO thread side: takes the queued tokens into `into` (cleared first).
    pub fn drain(&self, into: &mut Vec<Token>) {
        self.pending.store(false, Ordering::Release);
        into.clear();
        std::mem::swap(
            &mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()),
            into,
        );
    }
}
