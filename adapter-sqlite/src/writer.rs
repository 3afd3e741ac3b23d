//! [`Writer`]: the one thread that owns the connection. Everything queued when it wakes runs
//! in one transaction, and every operation gets exactly one completion.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use torpor_core::{OpId, StoreRequest};

use crate::store::{BackupReport, Completion, Store};

/// Most operations in one transaction, so one huge backlog cannot delay every completion.
const MAX_BATCH: usize = 10_000;

/// Called once with the outcome of a maintenance job.
type Reply<T> = Box<dyn FnOnce(Result<T, String>) + Send>;

enum Job {
    Op(OpId, StoreRequest),
    /// An online backup to this new file, after every operation queued before it.
    Backup(PathBuf, Reply<BackupReport>),
    /// A write transaction that changes nothing (readiness).
    Probe(Reply<()>),
    Stop,
}

/// Handle to the writer thread.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    thread: Option<JoinHandle<Store>>,
}

impl Writer {
    /// Starts the thread. `on_done` receives each batch's completions, in order (for an async
    /// adapter: push them into the core's input channel). Fails only if the OS refuses a thread.
    pub fn spawn(
        mut store: Store,
        mut on_done: impl FnMut(Vec<Completion>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("torpor-sqlite".into())
            .spawn(move || {
                let mut stopping = false;
                while !stopping {
                    let Ok(first) = inbox.recv() else {
                        break;
                    };
                    let mut batch = Vec::new();
                    let mut next = Some(first);
                    // Maintenance jobs run after the operations queued before them, so a
                    // backup holds everything the core had written when it asked.
                    let mut maintenance = None;
                    while let Some(job) = next {
                        match job {
                            Job::Op(op, request) => batch.push((op, request)),
                            Job::Stop => stopping = true,
                            job @ (Job::Backup(..) | Job::Probe(_)) => maintenance = Some(job),
                        }
                        next = if batch.len() < MAX_BATCH && maintenance.is_none() && !stopping {
                            inbox.try_recv().ok()
                        } else {
                            None
                        };
                    }
                    if !batch.is_empty() {
                        on_done(store.execute(batch, wall_ms()));
                    }
                    match maintenance {
                        Some(Job::Backup(dest, reply)) => reply(store.backup_to(&dest)),
                        Some(Job::Probe(reply)) => {
                            reply(store.probe_writable().map_err(|e| e.to_string()));
                        }
                        _ => {}
                    }
                }
                store
            })?;
        Ok(Self {
            jobs,
            thread: Some(thread),
        })
    }

    /// Queues one operation. Returns `false` if the thread is gone.
    pub fn submit(&self, op: OpId, request: StoreRequest) -> bool {
        self.jobs.send(Job::Op(op, request)).is_ok()
    }

    /// Queues an online backup into the new file `dest`; `done` gets its outcome on the
    /// writer thread. Returns `false` (and drops `done`) if the thread is gone.
    pub fn backup(
        &self,
        dest: PathBuf,
        done: impl FnOnce(Result<BackupReport, String>) + Send + 'static,
    ) -> bool {
        self.jobs.send(Job::Backup(dest, Box::new(done))).is_ok()
    }

    /// Queues a probe: a write transaction that changes nothing. `done` learns whether the
    /// database took it.
    pub fn probe(&self, done: impl FnOnce(Result<(), String>) + Send + 'static) -> bool {
        self.jobs.send(Job::Probe(Box::new(done))).is_ok()
    }

    /// Executes everything queued, stops the thread and returns the store.
    pub fn shutdown(mut self) -> Option<Store> {
        // A send fails only if the thread already ended; the join below then returns at once.
        let _ = self.jobs.send(Job::Stop);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // As in `shutdown`: queued work still runs before the thread stops.
        let _ = self.jobs.send(Job::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Wall-clock milliseconds (the store stamps rows itself; the core never reads a clock).
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
