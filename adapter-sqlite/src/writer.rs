//! [`Writer`]: the one thread that owns the connection. Everything queued when it wakes runs
//! in one transaction, and every operation gets exactly one completion.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use torpor_core::{OpId, StoreRequest};

use crate::store::{Completion, Store};

/// Most operations in one transaction, so one huge backlog cannot delay every completion.
const MAX_BATCH: usize = 10_000;

enum Job {
    Op(OpId, StoreRequest),
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
                    while let Some(job) = next {
                        match job {
                            Job::Op(op, request) => batch.push((op, request)),
                            Job::Stop => stopping = true,
                        }
                        next = if batch.len() < MAX_BATCH {
                            inbox.try_recv().ok()
                        } else {
                            None
                        };
                    }
                    if !batch.is_empty() {
                        on_done(store.execute(batch, wall_ms()));
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
