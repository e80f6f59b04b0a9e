//! The worker pool: Python threads that run applications, scheduled with the GIL in mind.
//!
//! # Scheduling rules
//!
//! 1. **A thread holding the GIL keeps it.** A worker that finishes a request takes the next
//!    queued one without releasing the GIL, so a burst of fast requests is served by one thread
//!    in one GIL tenure instead of bouncing the GIL between threads.
//! 2. **Wake a second thread only when the first is stuck.** A new request wakes an idle worker
//!    only when no worker is running it soon: none is busy, or every busy one has been on its
//!    request longer than [`STALL_AFTER`] (it is blocked: sleeping, waiting on a database).
//!    Requests that take long on average (over [`SLOW_SERVICE_US`]) always wake one: waiting
//!    for a running worker would cost a whole request. The monitor covers the rest: it wakes
//!    a worker as soon as jobs wait with no fresh runner, and one per request that has waited
//!    [`ESCALATE_AFTER`].
//! 3. **Take a job only with the GIL.** A woken worker takes its job after acquiring the GIL,
//!    so a request never waits for the GIL inside a thread that cannot run it while the GIL
//!    holder could.
//! 4. **Grow only for blocking, never for CPU.** When every worker is busy and requests wait,
//!    the monitor measures how long it takes to acquire the GIL. If the GIL is free (acquired in
//!    under [`GIL_FREE`]), the workers are blocked outside Python and more threads will help;
//!    the pool grows, up to `max_threads`. If the GIL is contended, the app is CPU-bound and
//!    more threads would only fight for it, so the pool does not grow.
//! 5. **Shrink when idle.** A worker beyond `threads` that stays idle for [`IDLE_EXIT`] exits.
//! 6. **Never wait with the GIL.** Workers wait for requests inside `Python::detach`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::wsgi::{Job, Runner};

/// How long the oldest queued request may wait before the monitor wakes or adds a worker.
pub const ESCALATE_AFTER: Duration = Duration::from_millis(2);
/// A GIL acquired faster than this is considered free (nobody is running Python).
pub const GIL_FREE: Duration = Duration::from_micros(500);
/// Consecutive fast GIL acquisitions that show the GIL is free.
pub const GIL_PROBES: u32 = 5;
/// How long a worker beyond `threads` may stay idle before it exits.
pub const IDLE_EXIT: Duration = Duration::from_secs(2);
/// How often the monitor looks at the queue while requests wait.
const TICK: Duration = Duration::from_millis(1);
/// Shortest sleep between the monitor's looks while requests wait.
const MIN_TICK: Duration = Duration::from_micros(50);
/// How long after the running worker turns stale the monitor looks again.
const STALE_MARGIN: Duration = Duration::from_micros(20);
/// Longest the monitor sleeps between looks while the GIL is saturated (one core's worth of
/// Python, see [`SATURATED_PERCENT`]) and a worker is running: each such look doubles the
/// sleep, from [`TICK`] up to this. A CPU-bound backlog (Flask at 64 connections) keeps
/// requests waiting all the time, and looking every millisecond cost the monitor 620 context
/// switches a second; backing off cut them by two thirds. Only under saturation: with fast
/// requests and a few blocking ones (`mixed`), a 4 ms look doubled the fast requests' p99,
/// because a worker that blocks with requests queued behind it is noticed a look later.
const IDLE_TICK_MAX: Duration = Duration::from_millis(4);
/// Requests slower than this on average (microseconds) wake an idle worker at once rather than
/// wait for a running one.
const SLOW_SERVICE_US: u64 = 200;
/// A busy worker whose request started longer ago than this (or twice the average request,
/// if longer, up to [`ESCALATE_AFTER`]) is taken to be blocked (sleeping, waiting on a
/// database or a slow client) rather than about to take the next job: a new job wakes an idle
/// worker when every busy one is that old. Fast requests take far less (10 to 20 us on
/// `hello`). With 250 us, fast requests queued behind one that blocked (the `mixed`
/// benchmark's 50 ms sleeps) waited that long for a second worker: the fast p99 was 1.47 ms
/// with 250 us and 1.17 ms with 100 us (medians of 6 alternating rounds), while hello's
/// throughput and the monitor's context switches stayed the same.
const STALL_AFTER: Duration = Duration::from_micros(100);
/// Slow requests (see [`SLOW_SERVICE_US`]) wake a worker at once only when on average they
/// spend at least this share (percent) of their time off the CPU: blocked in I/O rather than
/// computing. For CPU-bound requests another worker would only wait for the GIL, and the
/// hand-offs cost throughput (Flask: 15 to 20%). Waiting for the GIL counts as off the CPU:
/// N CPU-bound workers sharing it each spend 1 - 1/N of their time so, hence a threshold well
/// above one half, which two or three of them do not reach.
const BLOCKED_PERCENT: u64 = 75;
/// How often the monitor recomputes whether the GIL is saturated, while requests wait.
const SATURATION_WINDOW: Duration = Duration::from_millis(50);
/// Workers' CPU time over wall time (percent) above which the GIL counts as saturated: one
/// core's worth of Python is running, so more runners would only take turns with the GIL.
const SATURATED_PERCENT: u64 = 70;
/// Above this share the workers' CPU time is more than one core's: work outside the GIL.
const SATURATED_MAX_PERCENT: u64 = 130;
/// Most queued requests the monitor examines per tick.
const MAX_WAKE_SCAN: usize = 256;
/// Most threads added in one growth step.
const GROW_STEP: usize = 8;
/// Stack size of worker threads: the usual Linux default, as Python's own threads get.
const STACK_SIZE: usize = 8 * 1024 * 1024;

/// Live counters, readable without locks (for `Engine.stats()`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Live worker threads.
    pub threads: AtomicUsize,
    /// Workers running a request.
    pub busy: AtomicUsize,
    /// Requests waiting for a worker.
    pub queued: AtomicUsize,
    /// Open connections.
    pub connections: AtomicUsize,
    /// Requests completed.
    pub requests: AtomicU64,
    /// Moving average of the time a worker spends on one request, in microseconds.
    pub service_us: AtomicU64,
    /// Running estimate of the median time a worker spends on one request, in microseconds:
    /// the typical request, which one long request barely moves (see [`step_median`]).
    pub typical_us: AtomicU64,
    /// Moving average of the share of a slow request's time spent off the CPU (percent);
    /// measured only while requests are slow.
    pub blocked_percent: AtomicU64,
    /// Busy workers waiting for their clients (request body, room in the output buffer) with
    /// the GIL released: they are not running Python (see [`crate::exchange::Notifier`]).
    pub parked: Arc<AtomicUsize>,
    /// CPU time (nanoseconds) used by the requests measured (while requests are slow).
    pub worker_cpu_ns: AtomicU64,
    /// Workers' measured CPU time made up most of the last [`SATURATION_WINDOW`]: the GIL is
    /// saturated by CPU-bound requests.
    pub saturated: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Queue {
    /// Queued jobs with the instant each was queued.
    jobs: VecDeque<(Instant, Job)>,
    /// Workers waiting for a job.
    idle: usize,
    /// Idle workers already signalled and not yet awake.
    signalled: usize,
    /// Workers that left their wait for a queued job and are acquiring the GIL to take it
    /// ([`Pool::take_job`] counts them down): about to run, like `signalled` ones.
    claiming: usize,
    /// The monitor waits on its condition variable (the queue was empty). A notify costs a
    /// futex syscall even with nobody waiting, so `push` only signals a waiting monitor.
    monitor_waiting: bool,
    /// Workers running a job.
    busy: usize,
    /// Live workers.
    live: usize,
    /// No more jobs will come; workers exit once the queue is empty.
    closed: bool,
    /// Threads (workers and the monitor) that have not yet fully left Python. `join` waits for
    /// this, not `live`: a worker leaves `live` before it releases its thread state, and the
    /// interpreter must not finalise under it.
    threads_in_python: usize,
    /// Sequence number for worker names.
    spawned: usize,
    /// When each worker's current request started (`None` while it is not busy), by the
    /// worker's slot.
    starts: Vec<Option<Instant>>,
    /// Slots of `starts` free for new workers.
    free_slots: Vec<usize>,
}

impl Queue {
    /// True if some busy worker started its request less than `stall` ago (see
    /// [`Pool::stall_after`]): it is running and will take the next job when done.
    fn has_fresh_runner(&self, now: Instant, stall: Duration) -> bool {
        self.fresh_until(stall).is_some_and(|until| now < until)
    }

    /// When the most recently started busy worker will have run its request for `stall`
    /// (`None` if no worker is busy): until then some worker counts as running.
    fn fresh_until(&self, stall: Duration) -> Option<Instant> {
        if self.busy == 0 {
            return None;
        }
        self.starts.iter().flatten().max().map(|&t| t + stall)
    }

    fn take_slot(&mut self) -> usize {
        self.free_slots.pop().unwrap_or_else(|| {
            self.starts.push(None);
            self.starts.len() - 1
        })
    }

    fn release_slot(&mut self, slot: usize) {
        if let Some(start) = self.starts.get_mut(slot) {
            *start = None;
            self.free_slots.push(slot);
        }
    }

    fn set_start(&mut self, slot: usize, start: Option<Instant>) {
        if let Some(s) = self.starts.get_mut(slot) {
            *s = start;
        }
    }
}

/// The pool. Shared by the IO thread (which pushes jobs), the workers and the monitor.
pub struct Pool {
    queue: Mutex<Queue>,
    work: Condvar,
    monitor: Condvar,
    exited: Condvar,
    min_threads: usize,
    max_threads: usize,
    max_queued: Option<usize>,
    runner: Arc<Runner>,
    /// Live counters.
    pub stats: Arc<Stats>,
}

impl Pool {
    /// A pool running `runner`; call [`Pool::start`] to spawn its threads.
    pub fn new(
        runner: Arc<Runner>,
        min_threads: usize,
        max_threads: usize,
        max_queued: Option<usize>,
        stats: Arc<Stats>,
    ) -> Arc<Self> {
        Arc::new(Self {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            monitor: Condvar::new(),
            exited: Condvar::new(),
            min_threads,
            max_threads: max_threads.max(min_threads),
            max_queued,
            runner,
            stats,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spawns the `threads` workers and the monitor.
    pub fn start(self: &Arc<Self>) -> std::io::Result<()> {
        for _ in 0..self.min_threads {
            self.spawn_worker()?;
        }
        self.lock().threads_in_python += 1;
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("morello-monitor".into())
            .spawn(move || {
                pool.monitor_main();
                pool.thread_done();
            });
        if let Err(e) = spawned {
            self.thread_done();
            return Err(e);
        }
        Ok(())
    }

    fn spawn_worker(self: &Arc<Self>) -> std::io::Result<()> {
        let (n, slot) = {
            let mut q = self.lock();
            q.live += 1;
            q.threads_in_python += 1;
            q.spawned += 1;
            (q.spawned, q.take_slot())
        };
        self.stats.threads.fetch_add(1, Ordering::Relaxed);
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("morello-worker-{n}"))
            .stack_size(STACK_SIZE)
            .spawn(move || pool.worker_main(slot));
        if let Err(e) = spawned {
            {
                let mut q = self.lock();
                q.live -= 1;
                q.release_slot(slot);
            }
            self.stats.threads.fetch_sub(1, Ordering::Relaxed);
            self.thread_done();
            return Err(e);
        }
        Ok(())
    }

    /// Queues a job. Gives it back when the queue is full (the caller answers 503) or closed.
    pub fn push(&self, job: Job) -> Result<(), Job> {
        let mut q = self.lock();
        if q.closed || self.max_queued.is_some_and(|max| q.jobs.len() >= max) {
            return Err(job);
        }
        let was_empty = q.jobs.is_empty();
        let now = Instant::now();
        q.jobs.push_back((now, job));
        self.stats.queued.store(q.jobs.len(), Ordering::Relaxed);
        // Fast requests: the running worker will get to this one soon, keep the GIL with it.
        // Slow ones (blocking I/O, or long CPU work): waiting for it costs a whole request.
        let slow = self.requests_block();
        // A worker already signalled counts as running: without that, a batch of N requests
        // pushed before the first woken worker runs would wake N workers. Busy workers whose
        // requests all started long ago are blocked, not running (the `mixed` benchmark's
        // sleeping requests): they do not count.
        let runner_ahead =
            q.signalled + q.claiming > 0 || q.has_fresh_runner(now, self.stall_after());
        if (!runner_ahead || slow) && q.idle > q.signalled {
            q.signalled += 1;
            self.work.notify_one();
        }
        // The monitor watches a non-empty queue, whether or not a worker was just woken: that
        // worker may itself block (take a slow request) with jobs still queued behind it.
        if was_empty && q.monitor_waiting {
            q.monitor_waiting = false;
            self.monitor.notify_one();
        }
        Ok(())
    }

    fn pop_locked(&self, q: &mut Queue) -> Option<Job> {
        let (_, job) = q.jobs.pop_front()?;
        self.stats.queued.store(q.jobs.len(), Ordering::Relaxed);
        Some(job)
    }

    /// Worker side, GIL released: waits until a job is queued. False tells the worker to exit.
    ///
    /// The job is not taken here but by [`Pool::take_job`], once the worker holds the GIL: a
    /// job taken before would wait for the GIL inside this thread, while the thread holding
    /// the GIL could have run it at once (up to the 5 ms switch interval later, which showed
    /// as the fast requests' p99 on the `mixed` benchmark).
    fn wait_for_work(&self, slot: usize) -> bool {
        let mut q = self.lock();
        // True after a wait that ended by timing out: the worker has been idle for IDLE_EXIT.
        let mut waited_once = false;
        loop {
            // With the GIL saturated by CPU-bound requests, the busy workers serve the queue;
            // another runner would only take turns with them (and hold a request meanwhile).
            let may_run = self.running_busy(&q) == 0 || !self.saturated() || q.closed;
            if may_run && !q.jobs.is_empty() {
                q.claiming += 1;
                return true;
            }
            // Leave the pool under the lock, so two idle workers can never both see room
            // above `threads` and both exit.
            let idle_too_long = waited_once && q.live > self.min_threads;
            if q.closed || idle_too_long {
                q.live -= 1;
                q.release_slot(slot);
                self.stats.threads.fetch_sub(1, Ordering::Relaxed);
                return false;
            }
            q.idle += 1;
            let (guard, timeout) = self
                .work
                .wait_timeout(q, IDLE_EXIT)
                .unwrap_or_else(|p| p.into_inner());
            q = guard;
            q.idle -= 1;
            q.signalled = q.signalled.saturating_sub(1);
            waited_once = timeout.timed_out();
        }
    }

    /// Worker side, GIL held: takes the next job, if another worker has not taken it first,
    /// and counts the worker busy.
    fn take_job(&self, slot: usize, now: Instant) -> Option<Job> {
        let mut q = self.lock();
        q.claiming = q.claiming.saturating_sub(1);
        let job = self.pop_locked(&mut q)?;
        q.set_start(slot, Some(now));
        q.busy += 1;
        self.stats.busy.store(q.busy, Ordering::Relaxed);
        Some(job)
    }

    /// Worker side, GIL held: the next job if one is queued, without waiting. When there is
    /// none the worker is no longer busy.
    fn next_job(&self, slot: usize, now: Instant) -> Option<Job> {
        let mut q = self.lock();
        // With the GIL saturated, runners beyond one step back, so that one worker serves the
        // backlog request after request instead of several sharing the GIL.
        let job = if self.running_busy(&q) > 1 && self.saturated() {
            None
        } else {
            self.pop_locked(&mut q)
        };
        q.set_start(slot, job.as_ref().map(|_| now));
        if job.is_none() {
            q.busy -= 1;
            self.stats.busy.store(q.busy, Ordering::Relaxed);
        }
        job
    }

    fn worker_main(self: Arc<Self>, slot: usize) {
        prefer_batching();
        let mut preempting = false;
        Python::attach(|py| loop {
            if !py.detach(|| self.wait_for_work(slot)) {
                break;
            }
            // One clock read per request: each request ends where the next one's time starts.
            let mut started = Instant::now();
            let Some(mut job) = self.take_job(slot, started) else {
                continue;
            };
            loop {
                // Blocking requests: a worker whose wait ends should run at once, not after
                // the thread on the core yields (batching pays off for short requests only).
                let want_preemption = self.requests_block();
                if want_preemption != preempting {
                    if want_preemption {
                        prefer_preemption();
                    } else {
                        prefer_batching();
                    }
                    preempting = want_preemption;
                }
                // While requests are slow, learn whether they block or compute (one
                // thread-CPU clock read on each side; fast requests skip it).
                let cpu_before = (self.stats.service_us.load(Ordering::Relaxed) > SLOW_SERVICE_US)
                    .then(thread_cpu_time)
                    .flatten();
                let exchange = Arc::clone(&job.exchange);
                // A bug in the bridge must not cost the pool a thread: contain it to the request,
                // whose connection is closed after whatever was already queued.
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.runner.run(py, job)
                }));
                if let Err(panic) = ran {
                    exchange.abort();
                    self.runner
                        .log_internal_error(py, crate::reactor::panic_message(&*panic));
                }
                drop(exchange);
                let ended = Instant::now();
                let wall = ended.saturating_duration_since(started);
                self.record_service(wall);
                // Only read the clock again when it was read before: the thread-CPU clock
                // is a real system call, not a vDSO read (it cost fast requests one
                // `clock_gettime` each until this check).
                if let Some(before) = cpu_before {
                    if let Some(after) = thread_cpu_time() {
                        self.record_blocked(wall, after.saturating_sub(before));
                    }
                }
                started = ended;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                match self.next_job(slot, ended) {
                    Some(next) => job = next,
                    None => break,
                }
            }
        });
        // `wait_for_work` took this worker out of `live` under the lock already.
        self.thread_done();
    }

    /// Requests are slow and mostly blocked (and the GIL has room): a new one should not wait
    /// for a running worker.
    fn requests_block(&self) -> bool {
        self.stats.service_us.load(Ordering::Relaxed) > SLOW_SERVICE_US
            && self.stats.blocked_percent.load(Ordering::Relaxed) >= BLOCKED_PERCENT
            && !self.saturated()
    }

    /// Busy workers that are not waiting for their clients: the ones running Python (or
    /// blocked inside the application, which the pool cannot see).
    fn running_busy(&self, q: &Queue) -> usize {
        q.busy
            .saturating_sub(self.stats.parked.load(Ordering::Relaxed))
    }

    /// The GIL is saturated by CPU-bound requests (see [`Stats::saturated`]).
    fn saturated(&self) -> bool {
        self.stats.saturated.load(Ordering::Relaxed)
    }

    /// How long a busy worker's request may have run before the worker counts as blocked:
    /// twice the typical (median) request, within [`STALL_AFTER`]..=[`ESCALATE_AFTER`].
    ///
    /// The median, not the mean: on `mixed`, one 50 ms request among hundreds of 15 us ones
    /// lifted the mean past 1 ms just as that connection sent its next slow request, so the
    /// worker that took it and went to sleep counted as running for the full 2 ms while fast
    /// requests queued behind it, 117 times a second; that was the fast requests' p99.
    fn stall_after(&self) -> Duration {
        let twice_typical = Duration::from_micros(
            self.stats
                .typical_us
                .load(Ordering::Relaxed)
                .saturating_mul(2),
        );
        twice_typical.clamp(STALL_AFTER, ESCALATE_AFTER)
    }

    /// Folds a slow request's off-CPU share into its moving average (weight 1/8).
    fn record_blocked(&self, wall: Duration, cpu: Duration) {
        let cpu_ns = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
        self.stats
            .worker_cpu_ns
            .fetch_add(cpu_ns, Ordering::Relaxed);
        let wall_us = wall.as_micros().max(1);
        let off_cpu = wall.saturating_sub(cpu).as_micros();
        let sample = u64::try_from(off_cpu * 100 / wall_us)
            .unwrap_or(100)
            .min(100);
        let old = self.stats.blocked_percent.load(Ordering::Relaxed);
        self.stats
            .blocked_percent
            .store(moving_average(old, sample), Ordering::Relaxed);
    }

    /// Folds one request's duration into the moving average (weight 1/8). Races between
    /// workers lose an update at worst.
    fn record_service(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let old = self.stats.service_us.load(Ordering::Relaxed);
        self.stats
            .service_us
            .store(moving_average(old, sample), Ordering::Relaxed);
        let old = self.stats.typical_us.load(Ordering::Relaxed);
        self.stats
            .typical_us
            .store(step_median(old, sample), Ordering::Relaxed);
    }

    /// A worker or the monitor has returned from Python for good.
    fn thread_done(&self) {
        let mut q = self.lock();
        q.threads_in_python -= 1;
        self.exited.notify_all();
    }

    fn monitor_main(self: &Arc<Self>) {
        // Its looks while requests wait (every 1 ms or sooner; see `look_again`) must not
        // preempt the worker serving them.
        prefer_batching();
        let mut last_probe = Instant::now();
        let mut tick = TICK;
        let mut window = (
            Instant::now(),
            self.stats.worker_cpu_ns.load(Ordering::Relaxed),
        );
        loop {
            let mut q = self.lock();
            if q.closed {
                return;
            }
            let now = Instant::now();
            if now.saturating_duration_since(window.0) >= SATURATION_WINDOW {
                let cpu_ns = self.stats.worker_cpu_ns.load(Ordering::Relaxed);
                let wall_ns = now.saturating_duration_since(window.0).as_nanos().max(1);
                let percent = u128::from(cpu_ns.saturating_sub(window.1)) * 100 / wall_ns;
                let slow = self.stats.service_us.load(Ordering::Relaxed) > SLOW_SERVICE_US;
                // About one core's worth: the GIL's. More than that runs outside the GIL (C
                // code that releases it: hashing, compression, numpy) on several cores at
                // once, where more runners do help. (A GIL probe here was tried: a probe that
                // found the GIL free for once let several runners share it for a whole
                // window, and the unfair hand-offs between them showed as 200-600 ms tails.)
                let one_core = u128::from(SATURATED_PERCENT)..=u128::from(SATURATED_MAX_PERCENT);
                let saturated = slow && !q.jobs.is_empty() && one_core.contains(&percent);
                self.stats.saturated.store(saturated, Ordering::Relaxed);
                window = (now, cpu_ns);
            }
            if q.jobs.is_empty() {
                tick = TICK;
                q.monitor_waiting = true;
                let (mut q, _) = self
                    .monitor
                    .wait_timeout(q, Duration::from_millis(100))
                    .unwrap_or_else(|p| p.into_inner());
                q.monitor_waiting = false;
                drop(q);
                self.runner.flush_logs();
                continue;
            }
            // Requests that waited too long: whoever runs is blocked or out of the GIL. Wake an
            // idle worker for each of them; grow only when none is idle.
            let mut overdue = q
                .jobs
                .iter()
                .take(MAX_WAKE_SCAN)
                .take_while(|(at, _)| at.elapsed() > ESCALATE_AFTER)
                .count();
            let stall_after = self.stall_after();
            let now = Instant::now();
            let fresh_until = q.fresh_until(stall_after).filter(|&until| now < until);
            let running = q.signalled + q.claiming > 0 || fresh_until.is_some();
            if running && !self.requests_block() {
                // A worker is running requests and will take these next: a backlog behind a
                // CPU-bound app, which more workers would only make fight for the GIL.
                overdue = 0;
            }
            tick = if running && self.saturated() {
                (tick * 2).min(IDLE_TICK_MAX)
            } else {
                TICK
            };
            // A runner that blocks with jobs queued behind it (a sleeping request, on `mixed`)
            // may be the last thing that would have taken them: look again just as it turns
            // stale, not a whole tick later.
            let look_again = match fresh_until {
                Some(until) if tick == TICK => {
                    (until.saturating_duration_since(now) + STALE_MARGIN).clamp(MIN_TICK, TICK)
                }
                _ => tick,
            };
            if overdue == 0 && !running {
                // Jobs wait and no worker is running or about to: the one that was has
                // blocked since (a slow request taken from the queue). Do not wait for
                // ESCALATE_AFTER.
                overdue = 1;
            }
            let mut grow = 0;
            if overdue > 0 {
                let wake = overdue.min(q.idle.saturating_sub(q.signalled));
                for _ in 0..wake {
                    q.signalled += 1;
                    self.work.notify_one();
                }
                if q.idle == 0
                    && q.live < self.max_threads
                    && !q.closed
                    && last_probe.elapsed() >= TICK * 4
                {
                    grow = overdue.min(GROW_STEP).min(self.max_threads - q.live);
                }
            }
            drop(q);
            if grow > 0 {
                last_probe = Instant::now();
                if gil_is_free() {
                    for _ in 0..grow {
                        if self.spawn_worker().is_err() {
                            break;
                        }
                    }
                }
            }
            std::thread::sleep(look_again);
        }
    }

    /// Stops taking jobs; workers exit once the queue is drained.
    pub fn close(&self) {
        let mut q = self.lock();
        q.closed = true;
        self.work.notify_all();
        self.monitor.notify_all();
    }

    /// Waits until every worker and the monitor have left Python, or `deadline` passes. True if
    /// all did.
    pub fn join(&self, deadline: Instant) -> bool {
        let mut q = self.lock();
        while q.threads_in_python > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q = self
                .exited
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// True when the GIL is free: acquired in under [`GIL_FREE`] on each of [`GIL_PROBES`] tries
/// spaced [`TICK`] apart. One fast acquisition proves little: under CPU-bound contention a
/// probe that happens to start just before a forced switch (every 5 ms by default) gets the
/// GIL quickly too. Several in a row only happen when nobody wants the GIL.
fn gil_is_free() -> bool {
    for i in 0..GIL_PROBES {
        if i > 0 {
            std::thread::sleep(TICK);
        }
        let start = Instant::now();
        Python::attach(|_| ());
        if start.elapsed() >= GIL_FREE {
            return false;
        }
    }
    true
}

/// A moving average with weight 1/8 for `sample`, rounded to nearest: a steady sample is
/// reached within a few units (truncating each term instead settled up to 7 units low).
fn moving_average(old: u64, sample: u64) -> u64 {
    let sum = u128::from(old) * 7 + u128::from(sample) + 4;
    u64::try_from(sum / 8).unwrap_or(u64::MAX)
}

/// One step of a streaming median estimate: `estimate` moves towards `sample` by 1/16 of
/// itself (at least 1), whatever the sample's size. Samples above and below the median are
/// equally frequent, so the estimate settles at the median; an outlier moves it by one step
/// only. From 15 us to a steady 10 ms takes about a hundred requests.
fn step_median(estimate: u64, sample: u64) -> u64 {
    let step = (estimate / 16).max(1);
    if sample > estimate {
        estimate.saturating_add(step).min(sample)
    } else if sample < estimate {
        estimate.saturating_sub(step).max(sample)
    } else {
        estimate
    }
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec we own; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// Puts the calling thread in `SCHED_BATCH`.
///
/// The IO thread and the workers hand work to each other constantly. Under the default policy
/// a woken thread preempts the waker at once, so on a busy core every hand-off costs two
/// context switches and batches shrink to one request. A woken `SCHED_BATCH` thread instead
/// waits until the running one blocks (or the scheduler tick), so the IO thread queues every
/// request of an epoll round before a worker runs, and a worker answers every queued request
/// before the IO thread writes. Measured with `bench/run.sh hello`, server pinned to one core:
/// 45,086 → 99,020 requests/s (docs/architecture.md). Priority (nice) is unchanged; failure
/// is harmless and ignored.
pub fn prefer_batching() {
    set_policy(libc::SCHED_BATCH);
}

/// Puts the calling thread back in the default policy (`SCHED_OTHER`): woken, it preempts.
pub fn prefer_preemption() {
    set_policy(libc::SCHED_OTHER);
}

fn set_policy(policy: libc::c_int) {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid struct we own.
    let _ = unsafe { libc::sched_setscheduler(0, policy, &param) };
}

#[cfg(test)]
mod tests {
    use super::{moving_average, step_median};

    #[test]
    fn median_estimate_ignores_a_rare_outlier() {
        // 15 us requests with one 50 ms request in every 200 (the `mixed` benchmark).
        let mut median = 0;
        let mut mean = 0;
        for i in 0..2_000 {
            let sample = if i % 200 == 199 { 50_000 } else { 15 };
            median = step_median(median, sample);
            mean = moving_average(mean, sample);
        }
        assert!((14..=16).contains(&median), "median {median}");
        // Right after the outlier, the mean is thousands of microseconds; the median is not.
        assert!(mean > 1_000, "mean {mean}");
    }

    #[test]
    fn median_estimate_follows_a_change_of_workload() {
        let mut median = 15;
        let mut steps = 0;
        while median < 10_000 {
            median = step_median(median, 10_000);
            steps += 1;
            assert!(steps < 200, "median {median} after {steps} steps");
        }
        assert_eq!(median, 10_000);
        for _ in 0..200 {
            median = step_median(median, 15);
        }
        assert_eq!(median, 15);
    }

    #[test]
    fn median_estimate_settles_between_two_halves() {
        let mut median = 0;
        for i in 0..10_000u64 {
            median = step_median(median, if i % 2 == 0 { 100 } else { 300 });
        }
        assert!((100..=300).contains(&median), "median {median}");
    }
}
