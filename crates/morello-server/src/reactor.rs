//! The connection layer: one IO thread owns every listener and connection.
//!
//! It accepts, reads, decodes request heads and bodies with the codec, hands complete heads to
//! the worker pool, writes responses, and enforces every timeout. It never touches Python and
//! never holds the GIL. Workers talk to it only through each request's [`Exchange`] and the
//! [`Notifier`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use morello_http::{DateCache, Event, Framing, HeadBuffers, RequestDecoder};
use slab::Slab;

use crate::config::EngineConfig;
use crate::exchange::{BodyError, Exchange, Notifier, OutItem, BODY_BUFFER, KEEP_CAPACITY};
use crate::listener::{Listener, Stream};
use crate::log::{Level, LogSink};
use crate::pool::{Pool, Stats};
use crate::wsgi::{Client, Job, ListenerInfo};

/// The waker's token; listeners count down from just below it, connections up from 0.
const WAKER: Token = Token(usize::MAX);
/// Bytes read per `read(2)` call (and the size of an active connection's read buffer; idle
/// connections hold none). 32 KiB takes a request with a 16 KiB body in one read: with 16 KiB
/// the `echo` benchmark made two reads a request, and ran 3.5% slower.
const READ_CHUNK: usize = 32 * 1024;
/// Bytes of pipelined input buffered while the application runs; more waits in the kernel.
const PIPELINE_BUFFER: usize = 64 * 1024;
/// Body bytes in one piece from which the IO thread hands its read buffer to the worker rather
/// than copying them out (the buffer is replaced by a fresh allocation). Copying 16 KiB took
/// as long as all the rest of the IO thread's user-space work on the `echo` benchmark (a 16 KiB
/// POST); below a few KiB, a copy is cheaper than the allocation that replaces the buffer.
const HANDOFF_MIN: usize = 4 * 1024;
/// Body bytes discarded after a response whose application did not read the whole body,
/// before giving up and closing instead.
const MAX_DRAIN: u64 = 1024 * 1024;
/// How long a closing connection is read (and discarded) after its last response, so that
/// unread client data does not turn the close into a reset that destroys the response.
const LINGER: Duration = Duration::from_secs(2);
/// Pause after the process runs out of file descriptors before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Average request time (microseconds) above which the IO thread stops batching.
const PREEMPT_ABOVE_US: u64 = 300;
/// Average request time (microseconds) below which it batches again.
const BATCH_BELOW_US: u64 = 150;
/// Read buffers kept for reuse, so idle connections hold none.
const SPARE_BUFFERS: usize = 256;
/// Finished exchanges and request heads kept for new requests, and written response buffers
/// kept for workers to fill again. Without them each request made (and freed, often on the
/// other thread) an exchange, its output queue, a head's two buffers and a response buffer;
/// freeing a batch of them cost glibc's `free` some 560 instructions a request on the IO
/// thread. The pools together hold at most a few MiB (buffers up to [`KEEP_CAPACITY`]).
const SPARE_EXCHANGES: usize = 128;
const SPARE_OUT: usize = 128;
/// Written buffers handed back to a response still in production (see `Shared::spare`).
const SPARE_BACK: usize = 2;
/// Pipelined responses: a complete response whose connection already has the next request
/// buffered is held, to leave together with the responses after it in one write, while the
/// held bytes stay under `HOLD_LIMIT` and the oldest has waited less than `HOLD_TIME`.
/// Sixteen pipelined hello requests then cost one `writev` instead of sixteen `write`s: the
/// kernel's send and loopback-delivery path was most of the IO thread's time.
const HOLD_LIMIT: usize = 64 * 1024;
const HOLD_TIME: Duration = Duration::from_millis(2);

/// Stop requests from the engine.
#[derive(Debug, Default)]
pub struct StopFlag {
    requested: AtomicBool,
    timeout: std::sync::Mutex<Duration>,
}

impl StopFlag {
    /// Asks the IO thread to stop, giving in-flight requests `timeout` to finish.
    pub fn request(&self, timeout: Duration) {
        *self.timeout.lock().unwrap_or_else(|p| p.into_inner()) = timeout;
        self.requested.store(true, Ordering::Release);
    }
    fn timeout(&self) -> Duration {
        *self.timeout.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head.
    Head,
    /// A request is with the application.
    App,
    /// The response is done; discarding the rest of a body the application did not read.
    Drain,
    /// Write side shut down; discarding input until the peer closes or the linger ends.
    Closing,
}

struct Conn {
    stream: Stream,
    client: Arc<Client>,
    decoder: RequestDecoder,
    rbuf: Vec<u8>,
    rpos: usize,
    /// The socket may have bytes to read (edge-triggered: true from an event until a read
    /// finds it drained).
    readable: bool,
    /// Read until EOF or EAGAIN from now on, never trusting a short read to mean the socket
    /// is drained. Set when an event reports the peer's shutdown or an error (its EOF is read
    /// out), or TCP urgent data (`MSG_OOB`, reported as `EPOLLPRI`): a read stops at the urgent
    /// mark with more bytes queued behind it, and those raise no new event.
    read_to_eagain: bool,
    peer_eof: bool,
    wq: VecDeque<OutItem>,
    wpos: usize,
    phase: Phase,
    ex: Option<Arc<Exchange>>,
    /// The request with the application, to name it if a stop has to abandon it.
    request: Option<Arc<morello_http::RequestHead>>,
    expect_continue: bool,
    continue_sent: bool,
    body_done: bool,
    keep_alive: bool,
    drained: u64,
    /// When the current phase's clock started (head start, last body read, last write).
    since: Instant,
    idle: bool,
    timer_at: Option<Instant>,
    /// [`Stream::limit_unsent`] has been applied, at the first non-empty file (a failed
    /// `setsockopt`, or a UNIX socket, leaves the socket as it was).
    unsent_limited: bool,
    /// Complete responses are held in `wq` (see [`HOLD_LIMIT`]) since this instant.
    held_since: Option<Instant>,
    /// Bytes at the front of `wq` that belong to earlier, complete responses: written bytes
    /// count against the current exchange's `out_pending` only past them.
    held: usize,
}

/// What the IO thread needs besides its connections.
pub struct Reactor {
    poll: Poll,
    listeners: Vec<(Listener, Arc<ListenerInfo>)>,
    conns: Slab<Conn>,
    notifier: Arc<Notifier>,
    pool: Arc<Pool>,
    cfg: Arc<EngineConfig>,
    stats: Arc<Stats>,
    log: Arc<LogSink>,
    stop: Arc<StopFlag>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    spare: Vec<Vec<u8>>,
    date: DateCache,
    accept_paused_until: Option<Instant>,
    /// Accepting stopped at `max_connections`; resumes when a connection closes.
    accept_full: bool,
    stopping_until: Option<Instant>,
    news: Vec<Token>,
    /// Recycled exchanges (see [`SPARE_EXCHANGES`]).
    spare_exchanges: Vec<Arc<Exchange>>,
    /// Written response buffers, cleared, for the next jobs (see [`SPARE_OUT`]).
    spare_out: Vec<Vec<u8>>,
    /// The allocations of finished request heads, for decoders to build new heads in.
    spare_heads: Vec<HeadBuffers>,
    /// The IO thread runs as `SCHED_OTHER` (not batch) while requests are slow; see `adapt`.
    preempting: bool,
    /// The time `poll` last returned: the clock for phase starts (`Conn::since`) within one
    /// round of events. A round lasts well under the timeouts' resolution, and reading the
    /// clock once per round instead of four times per request saves a measurable share of
    /// the IO thread (the vDSO clock was 2% of the server's CPU on `hello`).
    now: Instant,
}

fn listener_token(i: usize) -> Token {
    Token(usize::MAX - 1 - i)
}

impl Reactor {
    /// Sets up the poll, registers the listeners and returns the reactor and its notifier.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mut listeners: Vec<(Listener, Arc<ListenerInfo>)>,
        pool_for: impl FnOnce(Arc<Notifier>) -> Arc<Pool>,
        cfg: Arc<EngineConfig>,
        stats: Arc<Stats>,
        log: Arc<LogSink>,
        stop: Arc<StopFlag>,
    ) -> io::Result<(Self, Arc<Notifier>)> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        let notifier = Arc::new(Notifier::new(waker, Arc::clone(&stats.parked)));
        for (i, (l, _)) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(l, listener_token(i), Interest::READABLE)?;
        }
        let pool = pool_for(Arc::clone(&notifier));
        let reactor = Self {
            poll,
            listeners,
            conns: Slab::with_capacity(1024),
            notifier: Arc::clone(&notifier),
            pool,
            cfg,
            stats,
            log,
            stop,
            timers: BinaryHeap::new(),
            spare: Vec::new(),
            date: DateCache::new(),
            accept_paused_until: None,
            accept_full: false,
            stopping_until: None,
            news: Vec::new(),
            spare_exchanges: Vec::new(),
            spare_out: Vec::new(),
            spare_heads: Vec::new(),
            preempting: false,
            now: Instant::now(),
        };
        Ok((reactor, notifier))
    }

    /// The worker pool this reactor feeds.
    pub fn pool(&self) -> Arc<Pool> {
        Arc::clone(&self.pool)
    }

    /// Runs until stopped and every connection is closed (or the shutdown timeout passes).
    /// Returns a description of each request abandoned with the application still running.
    pub fn run(mut self) -> Vec<String> {
        let mut events = Events::with_capacity(1024);
        loop {
            if self.stop.is_requested() && self.stopping_until.is_none() {
                self.begin_stop();
            }
            if let Some(until) = self.stopping_until {
                if self.conns.is_empty() {
                    return Vec::new();
                }
                if Instant::now() >= until {
                    return self.force_close_all();
                }
            }
            let timeout = self.poll_timeout();
            let polled = self.poll.poll(&mut events, timeout);
            self.now = Instant::now();
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.log.push(Level::Error, format!("poll failed: {e}"));
                    return self.force_close_all();
                }
            }
            for event in events.iter() {
                let token = event.token();
                if token == WAKER {
                    continue;
                }
                if token.0 >= usize::MAX - 1 - self.listeners.len() {
                    self.accept(usize::MAX - 1 - token.0);
                    continue;
                }
                if let Some(conn) = self.conns.get_mut(token.0) {
                    // A shutdown, an error or urgent data: readable, and read to EAGAIN.
                    let untrusted =
                        event.is_read_closed() || event.is_error() || event.is_priority();
                    if event.is_readable() || untrusted {
                        conn.readable = true;
                    }
                    if untrusted {
                        conn.read_to_eagain = true;
                    }
                    self.drive(token.0);
                }
            }
            let mut news = std::mem::take(&mut self.news);
            self.notifier.drain(&mut news);
            for token in news.iter() {
                if self.conns.contains(token.0) {
                    self.drive(token.0);
                }
            }
            self.news = news;
            self.fire_timers();
            self.adapt_policy();
            if self.accept_full
                && self
                    .cfg
                    .max_connections
                    .is_some_and(|max| self.conns.len() < max)
            {
                // Listeners are edge-triggered: connections that queued while we were full
                // raise no new event, so accept them now.
                self.accept_full = false;
                for i in 0..self.listeners.len() {
                    self.accept(i);
                }
            }
            if let Some(until) = self.accept_paused_until {
                if Instant::now() >= until {
                    self.accept_paused_until = None;
                    for i in 0..self.listeners.len() {
                        self.accept(i);
                    }
                }
            }
        }
    }

    /// Batching hand-offs (`SCHED_BATCH`) pays off when requests are short: the IO thread and
    /// a worker then trade whole batches. With slow, CPU-heavy requests it delays the IO
    /// thread's turn behind a worker until the scheduler tick, which shows in the tail: Flask
    /// at 64 connections had a p99 of 135-169 ms batched, 40-53 ms with a preempting IO thread
    /// (and 35% more throughput batched). So the IO thread preempts while the average request
    /// takes longer than `PREEMPT_ABOVE_US`, and batches again below `BATCH_BELOW_US`.
    fn adapt_policy(&mut self) {
        let service = self.stats.service_us.load(Ordering::Relaxed);
        let saturated = self.stats.saturated.load(Ordering::Relaxed);
        if !self.preempting && service > PREEMPT_ABOVE_US && !saturated {
            crate::pool::prefer_preemption();
            self.preempting = true;
        } else if self.preempting && (service < BATCH_BELOW_US || saturated) {
            crate::pool::prefer_batching();
            self.preempting = false;
        }
    }

    fn poll_timeout(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let mut next = self.timers.peek().map(|Reverse((at, _))| *at);
        for extra in [self.accept_paused_until, self.stopping_until]
            .into_iter()
            .flatten()
        {
            next = Some(next.map_or(extra, |n| n.min(extra)));
        }
        if self.stopping_until.is_some() {
            // While stopping, look at the connections regularly.
            next = Some(next.map_or(now + Duration::from_millis(50), |n| {
                n.min(now + Duration::from_millis(50))
            }));
        }
        next.map(|at| at.saturating_duration_since(now))
    }

    fn accept(&mut self, index: usize) {
        if self.accept_paused_until.is_some() || self.stopping_until.is_some() {
            return;
        }
        let Some(info) = self.listeners.get(index).map(|(_, info)| Arc::clone(info)) else {
            return;
        };
        loop {
            if self
                .cfg
                .max_connections
                .is_some_and(|max| self.conns.len() >= max)
            {
                // Leave further connections in the backlog; `close` resumes accepting.
                self.accept_full = true;
                return;
            }
            let accepted = match self.listeners.get(index) {
                Some((listener, _)) => listener.accept(),
                None => return,
            };
            match accepted {
                Ok((mut stream, peer)) => {
                    let entry = self.conns.vacant_entry();
                    let token = Token(entry.key());
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
                    ) {
                        self.log
                            .push(Level::Error, format!("cannot register a connection: {e}"));
                        continue;
                    }
                    let now = Instant::now();
                    entry.insert(Conn {
                        stream,
                        client: Arc::new(Client::new(peer, Arc::clone(&info))),
                        decoder: RequestDecoder::new(self.cfg.limits.clone()),
                        rbuf: Vec::new(),
                        rpos: 0,
                        readable: false,
                        read_to_eagain: false,
                        peer_eof: false,
                        wq: VecDeque::new(),
                        wpos: 0,
                        phase: Phase::Head,
                        ex: None,
                        request: None,
                        expect_continue: false,
                        continue_sent: false,
                        body_done: false,
                        keep_alive: true,
                        drained: 0,
                        since: now,
                        idle: false,
                        timer_at: None,
                        unsent_limited: false,
                        held_since: None,
                        held: 0,
                    });
                    self.stats.connections.fetch_add(1, Ordering::Relaxed);
                    self.arm_timer(token.0);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    match e.raw_os_error() {
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                            self.log.push(
                                Level::Error,
                                format!(
                                    "accept failed ({e}); pausing accepts for {ACCEPT_BACKOFF:?}"
                                ),
                            );
                            self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                            return;
                        }
                        // The peer gave up before we accepted (ECONNABORTED and the like).
                        _ => continue,
                    }
                }
            }
        }
    }

    /// Makes every step of progress possible on one connection, then re-arms its timer.
    fn drive(&mut self, key: usize) {
        for _ in 0..64 {
            // A bug in one connection's handling must not take the IO thread, and so every
            // other connection, down with it: contain it to that connection and log it.
            let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step(key)));
            let progressed = match step {
                Ok(Ok(p)) => p,
                Ok(Err(())) => {
                    self.close(key);
                    return;
                }
                Err(panic) => {
                    self.log.push(
                        Level::Error,
                        format!(
                            "internal error on a connection (closed): {}",
                            panic_message(&*panic)
                        ),
                    );
                    self.close(key);
                    return;
                }
            };
            if !progressed {
                if self.conns.contains(key) {
                    self.arm_timer(key);
                }
                return;
            }
        }
        // Still progressing after the round's share of steps: let the other connections go
        // first, and come back in the next round (no socket event may come to resume it).
        self.notifier.notify(Token(key));
        if self.conns.contains(key) {
            self.arm_timer(key);
        }
    }

    /// One round of work on a connection. `Ok(true)` when something changed and another round
    /// may do more; `Err(())` when the connection must be closed now.
    fn step(&mut self, key: usize) -> Result<bool, ()> {
        let mut progressed = false;
        let Some(conn) = self.conns.get_mut(key) else {
            return Err(());
        };

        // Output from the worker, and the worker's wish for body bytes. One look under the
        // exchange's lock per step (a request takes about four steps, and each lock or Arc
        // clone is a locked instruction): what it finds decides the rest of the step. News
        // that arrives after this look comes with its own notification and another step.
        // `ended`: the worker has queued its whole response (all of it is in `wq` now), with
        // whether the connection may be kept.
        let mut ended = None;
        let queued_before = conn.wq.len();
        if let Some(ex) = &conn.ex {
            let mut shared = ex.lock();
            if shared.body_wanted && conn.expect_continue && !conn.continue_sent {
                conn.continue_sent = true;
                if !shared.head_sent && !conn.body_done {
                    conn.wq
                        .push_back(OutItem::Bytes(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()));
                }
                progressed = true;
            }
            if !shared.out.is_empty() {
                conn.wq.extend(shared.out.drain(..));
                progressed = true;
            }
            if shared.finished || shared.abort {
                ended = Some(shared.keep_alive && !shared.abort);
            }
        }

        // Hold a complete response while the next request is already here (see
        // [`HOLD_LIMIT`]); held responses leave with the first output of a request that does
        // not complete in one go. The head phase lets them go when it has to wait for input.
        if conn.phase == Phase::App {
            match ended {
                // A new hold starts only when nothing queued before this step is unsent:
                // not behind earlier held bytes (no response waits longer than `HOLD_TIME`
                // for the ones after it), and not on a socket already full (the write
                // timeout keeps running, and the next request waits for the client).
                Some(keep)
                    if keep
                        && self.stopping_until.is_none()
                        && (conn.held_since.is_some() || queued_before == 0)
                        && may_hold(conn) =>
                {
                    conn.held_since.get_or_insert(self.now);
                }
                Some(_) => conn.held_since = None,
                None if conn.wq.len() != queued_before => conn.held_since = None,
                None => {}
            }
        }

        // Write what is queued.
        if !conn.wq.is_empty() && conn.held_since.is_none() {
            let written = write_queue(conn, &mut self.spare_out)?;
            if written > 0 {
                conn.since = self.now;
                let earlier = written.min(conn.held);
                conn.held -= earlier;
                // A worker still producing may wait for room in the output buffer; once the
                // response is all queued nobody reads `out_pending` any more.
                if let (Some(ex), None) = (&conn.ex, ended) {
                    let mut shared = ex.lock();
                    shared.out_pending = shared.out_pending.saturating_sub(written - earlier);
                    while shared.spare.len() < SPARE_BACK {
                        let Some(buf) = self.spare_out.pop() else {
                            break;
                        };
                        shared.spare.push(buf);
                    }
                    ex.wake_worker(&mut shared);
                }
            }
        }

        match conn.phase {
            Phase::Head => {
                if conn.rbuf.capacity() == 0 {
                    conn.rbuf = self
                        .spare
                        .pop()
                        .unwrap_or_else(|| Vec::with_capacity(READ_CHUNK));
                }
                let head_limit = self.cfg.limits.max_head_size.saturating_add(READ_CHUNK);
                loop {
                    let input = &conn.rbuf[conn.rpos..];
                    if !input.is_empty() {
                        if conn.idle {
                            conn.idle = false;
                            conn.since = self.now;
                        }
                        // A head is coming: let it reuse a finished one's allocations. (Not
                        // before: idle connections hold no buffers.)
                        if !conn.decoder.has_buffers() {
                            if let Some(buffers) = self.spare_heads.pop() {
                                conn.decoder.reuse_buffers(buffers);
                            }
                        }
                    }
                    match conn.decoder.decode(input) {
                        Ok((n, Event::Head(head))) => {
                            conn.rpos += n;
                            self.dispatch(key, head);
                            return Ok(true);
                        }
                        Ok((n, Event::NeedMore)) => {
                            conn.rpos += n;
                            if conn.peer_eof {
                                if !conn.wq.is_empty() {
                                    // Held responses go out before the close.
                                    begin_closing(conn);
                                    return Ok(true);
                                }
                                // Closed between requests, or mid-head: nothing to answer.
                                return Err(());
                            }
                            if conn.held_since.take().is_some() {
                                // No next request to wait for: send the held responses.
                                return Ok(true);
                            }
                            if !conn.readable {
                                break;
                            }
                            match fill(conn, head_limit) {
                                Fill::Data => continue,
                                Fill::Blocked => break,
                                Fill::Eof => {
                                    conn.peer_eof = true;
                                    continue;
                                }
                                Fill::Error => return Err(()),
                            }
                        }
                        Ok((n, _)) => {
                            // Data/End/Paused cannot come while waiting for a head.
                            conn.rpos += n;
                            return Err(());
                        }
                        Err(e) => {
                            let bytes = self.error_response(e.status(), e.reason());
                            self.log
                                .push(Level::Info, format!("rejected a request: {e}"));
                            let conn = self.conns.get_mut(key).ok_or(())?;
                            conn.wq.push_back(OutItem::Bytes(bytes));
                            conn.keep_alive = false;
                            begin_closing(conn);
                            return Ok(true);
                        }
                    }
                }
                if conn.rpos == conn.rbuf.len() && conn.idle {
                    // Idle keep-alive connections hold no buffer.
                    let buf = std::mem::take(&mut conn.rbuf);
                    conn.rpos = 0;
                    self.recycle(buf);
                }
            }
            Phase::App => {
                progressed |= pump_body(conn)?;
                if let Some(keep) = ended {
                    if conn.held_since.is_some() {
                        conn.held = queued_bytes(conn);
                    }
                    if conn.wq.is_empty() || conn.held_since.is_some() {
                        let keep = keep && conn.keep_alive;
                        self.finish_exchange(key, keep);
                        return Ok(true);
                    }
                }
            }
            Phase::Drain => {
                progressed |= drain_body(conn)?;
                if conn.body_done {
                    self.next_request(key);
                    return Ok(true);
                }
            }
            Phase::Closing => {
                if conn.wq.is_empty() {
                    // Discard input until the peer closes; bounded by LINGER and MAX_DRAIN.
                    loop {
                        if conn.peer_eof || conn.drained > MAX_DRAIN {
                            return Err(());
                        }
                        if !conn.readable {
                            break;
                        }
                        conn.rbuf.clear();
                        conn.rpos = 0;
                        match fill(conn, READ_CHUNK) {
                            Fill::Data => conn.drained += conn.rbuf.len() as u64,
                            Fill::Blocked => break,
                            Fill::Eof | Fill::Error => return Err(()),
                        }
                    }
                }
            }
        }
        Ok(progressed)
    }

    /// A complete head: start its exchange and queue the job (or answer 503).
    fn dispatch(&mut self, key: usize, head: morello_http::RequestHead) {
        let stopping = self.stopping_until.is_some();
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let ex = match self
            .spare_exchanges
            .pop()
            .and_then(|ex| Exchange::reuse(ex, Token(key)))
        {
            Some(ex) => ex,
            None => Exchange::new(Token(key), Arc::clone(&self.notifier)),
        };
        conn.phase = Phase::App;
        conn.expect_continue = head.expect_continue();
        conn.continue_sent = false;
        conn.body_done = false;
        conn.keep_alive = head.keep_alive() && self.cfg.keepalive.is_some() && !stopping;
        conn.since = self.now;
        conn.ex = Some(Arc::clone(&ex));
        if matches!(head.framing(), Framing::Empty) {
            // A bodiless request: finish the codec's message now, so `wsgi.input` is at EOF.
            if let Ok((n, Event::End)) = conn.decoder.decode(&[]) {
                conn.rpos += n;
                conn.body_done = true;
                ex.lock().body_eof = true;
            }
        } else if !conn.expect_continue {
            let _ = pump_body(conn);
        }
        let head = Arc::new(head);
        conn.request = Some(Arc::clone(&head));
        let job = Job {
            head,
            exchange: ex,
            client: Arc::clone(&conn.client),
            out_buf: self.spare_out.pop().unwrap_or_default(),
        };
        if let Err(job) = self.pool.push(job) {
            drop(job);
            let bytes =
                self.error_response_with(503, "all worker threads are busy", "Retry-After: 1\r\n");
            if let Some(conn) = self.conns.get_mut(key) {
                conn.ex = None;
                conn.request = None;
                conn.wq.push_back(OutItem::Bytes(bytes));
                conn.keep_alive = false;
                begin_closing(conn);
            }
        }
    }

    /// The response is fully written: keep the connection for the next request, or close.
    fn finish_exchange(&mut self, key: usize, keep_alive: bool) {
        let stopping = self.stopping_until.is_some();
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(ex) = conn.ex.take() {
            if self.spare_exchanges.len() < SPARE_EXCHANGES {
                if let Some(ex) = Exchange::recycle(ex, &mut self.spare_out, SPARE_OUT) {
                    self.spare_exchanges.push(ex);
                }
            }
        }
        if let Some(head) = conn.request.take() {
            if self.spare_heads.len() < SPARE_EXCHANGES {
                if let Ok(head) = Arc::try_unwrap(head) {
                    let buffers = head.into_buffers();
                    if buffers.capacity() <= KEEP_CAPACITY {
                        self.spare_heads.push(buffers);
                    }
                }
            }
        }
        if !keep_alive || stopping || conn.peer_eof {
            begin_closing(conn);
            return;
        }
        if conn.body_done {
            self.next_request(key);
        } else if conn.expect_continue && !conn.continue_sent {
            // The client is waiting for our go-ahead and will not send the body: close.
            begin_closing(conn);
        } else {
            conn.phase = Phase::Drain;
            conn.drained = 0;
            conn.since = self.now;
        }
    }

    fn next_request(&mut self, key: usize) {
        let stopping = self.stopping_until.is_some();
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if stopping {
            // No new requests once a stop began, even on a connection that was draining a body.
            begin_closing(conn);
            return;
        }
        conn.decoder.start_next();
        conn.phase = Phase::Head;
        conn.since = self.now;
        conn.idle = conn.rpos == conn.rbuf.len();
        if conn.rpos > 0 {
            conn.rbuf.drain(..conn.rpos);
            conn.rpos = 0;
        }
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS
            && buf.capacity() <= 4 * READ_CHUNK
            && buf.capacity() > 0
        {
            buf.clear();
            self.spare.push(buf);
        }
    }

    fn error_response(&mut self, status: u16, reason: &str) -> Vec<u8> {
        self.error_response_with(status, reason, "")
    }

    /// A complete `Connection: close` response: the standard reason phrase in the status line,
    /// `detail` (a fixed string, never client bytes) in the body.
    fn error_response_with(&mut self, status: u16, detail: &str, extra: &str) -> Vec<u8> {
        let reason = crate::status::reason_phrase(status);
        let body = format!("{status} {reason}: {detail}\n");
        let date = String::from_utf8_lossy(self.date.get()).into_owned();
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Date: {date}\r\nServer: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len(),
            crate::SERVER_SOFTWARE,
        )
        .into_bytes()
    }

    /// The instant by which the connection must make progress, for its phase.
    fn deadline(&self, conn: &Conn) -> Option<Instant> {
        let cfg = &self.cfg;
        if let Some(since) = conn.held_since {
            return Some(since + HOLD_TIME);
        }
        if !conn.wq.is_empty() {
            return Some(conn.since + cfg.write_timeout);
        }
        match conn.phase {
            Phase::Head if conn.idle => {
                Some(conn.since + cfg.keepalive.unwrap_or(cfg.header_timeout))
            }
            Phase::Head => Some(conn.since + cfg.header_timeout),
            // A complete body (every bodiless request) leaves nothing to wait for: no lock.
            Phase::App if conn.body_done => None,
            Phase::App => {
                let ex = conn.ex.as_ref()?;
                let shared = ex.lock();
                let waiting_for_body =
                    shared.body_wanted && !conn.body_done && shared.body.is_empty();
                waiting_for_body.then(|| conn.since + cfg.read_timeout)
            }
            Phase::Drain => Some(conn.since + cfg.read_timeout),
            Phase::Closing => Some(conn.since + LINGER),
        }
    }

    fn arm_timer(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        let deadline = self.deadline(conn);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(at) = deadline {
            if conn.timer_at.is_none_or(|armed| at < armed) {
                conn.timer_at = Some(at);
                self.timers.push(Reverse((at, key)));
            }
        }
    }

    fn fire_timers(&mut self) {
        // Entries of closed connections stay until they fall due; with many short connections
        // they would outnumber the live ones (connection rate × header timeout). Drop them
        // once they dominate, so the heap stays proportional to the open connections.
        if self.timers.len() > 2 * self.conns.len() + 1024 {
            let conns = &self.conns;
            self.timers.retain(|Reverse((at, key))| {
                conns.get(*key).is_some_and(|c| c.timer_at == Some(*at))
            });
            self.timers.shrink_to(2 * self.conns.len() + 1024);
        }
        let now = Instant::now();
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.timer_at != Some(at) {
                continue; // A stale entry: the connection re-armed an earlier timer since.
            }
            conn.timer_at = None;
            let Some(conn) = self.conns.get(key) else {
                continue;
            };
            match self.deadline(conn) {
                Some(deadline) if deadline <= now => self.expire(key),
                _ => self.arm_timer(key),
            }
        }
    }

    /// A connection missed its deadline.
    fn expire(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.held_since.take().is_some() {
            // Held responses waited long enough for the next one: send them now.
            conn.since = self.now;
            self.drive(key);
            return;
        }
        match conn.phase {
            Phase::Head if !conn.idle && conn.wq.is_empty() && conn.rpos < conn.rbuf.len() => {
                // Part of a head arrived, too slowly: tell the client, then close.
                let bytes = self.error_response(408, "the request head was not received in time");
                if let Some(conn) = self.conns.get_mut(key) {
                    conn.wq.push_back(OutItem::Bytes(bytes));
                    conn.keep_alive = false;
                    begin_closing(conn);
                    conn.since = Instant::now();
                }
                self.drive(key);
            }
            Phase::App if conn.wq.is_empty() => {
                if let Some(ex) = &conn.ex {
                    let mut shared = ex.lock();
                    shared.body_error = Some(BodyError::Timeout);
                    ex.wake_worker(&mut shared);
                }
                self.close(key);
            }
            _ => self.close(key),
        }
    }

    fn close(&mut self, key: usize) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if let Some(ex) = conn.ex.take() {
            let mut shared = ex.lock();
            shared.client_gone = true;
            if shared.body_error.is_none() && !conn.body_done {
                shared.body_error = Some(BodyError::Disconnected);
            }
            ex.wake_worker(&mut shared);
        }
        let buf = std::mem::take(&mut conn.rbuf);
        self.recycle(buf);
        self.stats.connections.fetch_sub(1, Ordering::Relaxed);
    }

    fn begin_stop(&mut self) {
        self.stopping_until = Some(Instant::now() + self.stop.timeout());
        for (mut listener, _) in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener);
            listener.cleanup();
        }
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.phase, Phase::Head) && c.wq.is_empty())
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            self.close(key);
        }
        for (_, conn) in self.conns.iter_mut() {
            conn.keep_alive = false;
            if conn.phase == Phase::Head {
                // Between requests with responses still to write (held for pipelining, or a
                // slow reader): write them, then close; no new request starts.
                begin_closing(conn);
            }
        }
    }

    /// Closes everything at the end of the graceful timeout. Returns a description of each
    /// request abandoned with the application still running.
    fn force_close_all(&mut self) -> Vec<String> {
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        let abandoned = self
            .conns
            .iter()
            .filter(|(_, c)| c.ex.is_some())
            .map(|(_, c)| {
                c.request
                    .as_deref()
                    .map_or_else(|| "a request".to_owned(), crate::wsgi::describe)
            })
            .collect();
        for key in keys {
            self.close(key);
        }
        for (listener, _) in self.listeners.drain(..) {
            listener.cleanup();
        }
        abandoned
    }
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

fn begin_closing(conn: &mut Conn) {
    conn.held_since = None;
    conn.phase = Phase::Closing;
    conn.since = Instant::now();
    conn.drained = 0;
    if conn.wq.is_empty() {
        conn.stream.shutdown_write();
    }
}

/// Whether a complete response may be held for the next (see [`HOLD_LIMIT`]): the next
/// request is already buffered, this one left no body unread, and the held bytes are few.
fn may_hold(conn: &Conn) -> bool {
    conn.keep_alive
        && conn.body_done
        && !conn.peer_eof
        && conn.rpos < conn.rbuf.len()
        && queued_bytes(conn) < HOLD_LIMIT
}

/// Bytes queued in `wq` and not yet written.
fn queued_bytes(conn: &Conn) -> usize {
    conn.wq
        .iter()
        .map(OutItem::len)
        .fold(0usize, usize::saturating_add)
        .saturating_sub(conn.wpos)
}

enum Fill {
    Data,
    Blocked,
    Eof,
    Error,
}

/// Reads once into the connection's buffer, keeping at most `limit` unconsumed bytes.
fn fill(conn: &mut Conn, limit: usize) -> Fill {
    if conn.rpos > 0 && conn.rpos == conn.rbuf.len() {
        conn.rbuf.clear();
        conn.rpos = 0;
    } else if conn.rpos > READ_CHUNK {
        conn.rbuf.drain(..conn.rpos);
        conn.rpos = 0;
    }
    let pending = conn.rbuf.len() - conn.rpos;
    if pending >= limit {
        return Fill::Blocked;
    }
    let want = READ_CHUNK.min(limit - pending).max(1);
    conn.rbuf.reserve(want);
    let start = conn.rbuf.len();
    loop {
        let spare = conn.rbuf.spare_capacity_mut();
        let spare_len = spare.len();
        // Reading straight into the spare capacity avoids zeroing 16 KiB per read (4% of the
        // IO thread's time on `hello`); `std::io::Read` would need initialised memory.
        // SAFETY: `spare` is valid for `want` writable bytes (reserved above); read(2) writes
        // at most that many, and only the bytes it reports are marked initialised.
        let n = unsafe {
            libc::read(
                conn.stream.raw_fd(),
                spare.as_mut_ptr().cast(),
                want.min(spare_len),
            )
        };
        if n > 0 {
            let n = n as usize;
            // SAFETY: read(2) initialised exactly `n` bytes after `start`.
            unsafe { conn.rbuf.set_len(start + n) };
            // A short read drained the socket's receive queue: epoll(7) says so for stream
            // sockets, and bytes arriving later raise a new edge. Trusting it saves the read
            // that would only return EAGAIN, one syscall per keep-alive request. Not after a
            // shutdown or urgent data was reported (see `Conn::read_to_eagain`).
            if n < want.min(spare_len) && !conn.read_to_eagain {
                conn.readable = false;
            }
            return Fill::Data;
        }
        if n == 0 {
            conn.readable = false;
            return Fill::Eof;
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => {
                conn.readable = false;
                return Fill::Blocked;
            }
            _ => {
                conn.readable = false;
                return Fill::Error;
            }
        }
    }
}

/// Most buffers gathered into one `writev(2)`.
const MAX_IOV: usize = 16;

/// Writes queued output until the socket would block, gathering consecutive byte items into
/// one `writev(2)` (a head and its body leave in one call). Returns the bytes written; `Err`
/// when the connection is broken.
fn write_queue(conn: &mut Conn, spare_out: &mut Vec<Vec<u8>>) -> Result<usize, ()> {
    let mut written = 0;
    loop {
        let Conn {
            wq,
            wpos,
            stream,
            unsent_limited,
            ..
        } = &mut *conn;
        let result = match wq.front_mut() {
            None => break,
            Some(OutItem::File { file, offset, len }) => {
                if *len == 0 {
                    wq.pop_front();
                    continue;
                }
                if !*unsent_limited {
                    stream.limit_unsent(crate::sendfile::UNSENT_LIMIT);
                    *unsent_limited = true;
                }
                match crate::sendfile::send(stream, file, offset, len) {
                    // The file is shorter than promised: the response cannot be completed.
                    Ok(0) => return Err(()),
                    Ok(n) => {
                        written += n;
                        continue;
                    }
                    Err(e) => Err(e),
                }
            }
            Some(_) => {
                let mut slices = [io::IoSlice::new(&[]); MAX_IOV];
                let mut count = 0;
                for (i, item) in wq.iter().enumerate() {
                    let bytes = match item {
                        OutItem::Bytes(b) => b.as_slice(),
                        OutItem::Shared(b) => b.as_slice(),
                        OutItem::File { .. } => break,
                    };
                    let bytes = if i == 0 {
                        &bytes[(*wpos).min(bytes.len())..]
                    } else {
                        bytes
                    };
                    slices[count] = io::IoSlice::new(bytes);
                    count += 1;
                    if count == MAX_IOV {
                        break;
                    }
                }
                // One slice (a whole small response, the usual case) goes out with
                // `write(2)`: the kernel's `writev` path first copies and checks the vector.
                if count == 1 {
                    stream.write(&slices[0])
                } else {
                    stream.write_vectored(&slices[..count])
                }
            }
        };
        match result {
            Ok(0) => {
                if advance(conn, 0, spare_out) {
                    continue;
                }
                return Err(());
            }
            Ok(n) => {
                written += n;
                advance(conn, n, spare_out);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => return Err(()),
        }
    }
    if conn.wq.is_empty() && conn.phase == Phase::Closing {
        conn.stream.shutdown_write();
    }
    Ok(written)
}

/// Marks `n` written bytes of the queue done, popping finished items (their buffers go to
/// `spare_out`, as room allows). True if an empty item was popped (a zero-length write made
/// progress after all).
fn advance(conn: &mut Conn, mut n: usize, spare_out: &mut Vec<Vec<u8>>) -> bool {
    let mut popped_empty = false;
    while let Some(item) = conn.wq.front() {
        if matches!(item, OutItem::File { .. }) {
            break;
        }
        let left = item.len().saturating_sub(conn.wpos);
        if left == 0 {
            popped_empty = true;
        } else if n < left {
            conn.wpos += n;
            break;
        }
        n -= left;
        if let Some(OutItem::Bytes(mut buf)) = conn.wq.pop_front() {
            if spare_out.len() < SPARE_OUT && buf.capacity() <= KEEP_CAPACITY {
                buf.clear();
                spare_out.push(buf);
            }
        }
        conn.wpos = 0;
    }
    popped_empty
}

/// Moves decoded body bytes from the connection buffer into the exchange, reading the socket
/// as needed, until the body ends or the exchange holds [`BODY_BUFFER`] bytes.
fn pump_body(conn: &mut Conn) -> Result<bool, ()> {
    if conn.body_done || (conn.expect_continue && !conn.continue_sent) {
        return Ok(false);
    }
    let Some(ex) = conn.ex.clone() else {
        return Ok(false);
    };
    let mut progressed = false;
    loop {
        {
            let shared = ex.lock();
            if shared.body.len().saturating_sub(shared.body_start) >= BODY_BUFFER {
                return Ok(progressed);
            }
        }
        let input = &conn.rbuf[conn.rpos..];
        match conn.decoder.decode(input) {
            Ok((n, Event::Data(data))) => {
                let len = data.len();
                let mut shared = ex.lock();
                // A body that runs to the end of the read buffer (the usual POST: head and
                // body in one read, nothing pipelined after) is handed over with the buffer
                // itself; the worker's `wsgi.input` then reads it where it lies.
                if len >= HANDOFF_MIN
                    && conn.rpos + n == conn.rbuf.len()
                    && shared.body.len() == shared.body_start
                {
                    shared.body_start = conn.rbuf.len() - len;
                    std::mem::swap(&mut shared.body, &mut conn.rbuf);
                    conn.rbuf.clear();
                    conn.rpos = 0;
                } else {
                    shared.body.extend_from_slice(data);
                    conn.rpos += n;
                }
                ex.wake_worker(&mut shared);
                drop(shared);
                progressed = true;
            }
            Ok((n, Event::End)) => {
                conn.rpos += n;
                conn.body_done = true;
                let mut shared = ex.lock();
                shared.body_eof = true;
                ex.wake_worker(&mut shared);
                return Ok(true);
            }
            Ok((n, _)) => {
                conn.rpos += n;
                if conn.peer_eof {
                    return body_failed(conn, &ex, BodyError::Disconnected);
                }
                if !conn.readable {
                    return Ok(progressed);
                }
                match fill(conn, PIPELINE_BUFFER.max(READ_CHUNK * 4)) {
                    Fill::Data => {
                        conn.since = Instant::now();
                        progressed = true;
                    }
                    Fill::Blocked => return Ok(progressed),
                    Fill::Eof => conn.peer_eof = true,
                    Fill::Error => return body_failed(conn, &ex, BodyError::Disconnected),
                }
            }
            Err(e) => return body_failed(conn, &ex, BodyError::Invalid(e)),
        }
    }
}

fn body_failed(conn: &mut Conn, ex: &Exchange, why: BodyError) -> Result<bool, ()> {
    conn.body_done = true;
    conn.keep_alive = false;
    let mut shared = ex.lock();
    shared.body_error = Some(why);
    ex.wake_worker(&mut shared);
    Ok(true)
}

/// Discards the rest of a body nobody read, so the next request can be parsed.
fn drain_body(conn: &mut Conn) -> Result<bool, ()> {
    let mut progressed = false;
    loop {
        let input = &conn.rbuf[conn.rpos..];
        match conn.decoder.decode(input) {
            Ok((n, Event::Data(data))) => {
                conn.drained += data.len() as u64;
                conn.rpos += n;
                progressed = true;
                if conn.drained > MAX_DRAIN {
                    return Err(());
                }
            }
            Ok((n, Event::End)) => {
                conn.rpos += n;
                conn.body_done = true;
                return Ok(true);
            }
            Ok((n, _)) => {
                conn.rpos += n;
                if conn.peer_eof || !conn.readable {
                    return if conn.peer_eof {
                        Err(())
                    } else {
                        Ok(progressed)
                    };
                }
                match fill(conn, READ_CHUNK * 4) {
                    Fill::Data => {
                        conn.since = Instant::now();
                        progressed = true;
                    }
                    Fill::Blocked => return Ok(progressed),
                    Fill::Eof | Fill::Error => return Err(()),
                }
            }
            Err(_) => return Err(()),
        }
    }
}
