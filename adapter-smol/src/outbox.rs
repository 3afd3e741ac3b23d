//! [`Outbox`]: one WebSocket's outbound queue and read gate, shared by the core task (which
//! queues frames and pauses reads), the socket's reader and its writer.
//!
//! Two channels would do the same job, but an idle socket would then carry two channel
//! allocations (~1.5 KiB); this is one small allocation. One task waits on an outbox (a client
//! socket's task, which reads and writes; a runner link's writer), so one waker slot serves
//! every wait and nothing is allocated to wait.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use crate::links::WsOut;

/// Client bytes a socket's reader may have on their way to the core task.
pub(crate) const READ_AHEAD: usize = 64 * 1024;

#[derive(Default)]
pub(crate) struct Outbox {
    items: Mutex<VecDeque<WsOut>>,
    /// Payload bytes queued and not yet written.
    unsent: AtomicUsize,
    /// Parties that may still queue: the core task and the socket's reader.
    producers: AtomicUsize,
    /// Client bytes the reader handed to the core task that it has not taken yet.
    unread: AtomicUsize,
    /// Reads are paused by the core.
    paused: AtomicBool,
    /// The core task let go of the socket (it closed it, or shut down).
    detached: AtomicBool,
    /// The waiting task: woken when something is queued, the last producer leaves, `paused`
    /// or `detached` changes, or the core task takes client bytes.
    waiter: AtomicWaker,
}

impl Outbox {
    /// An outbox with both producers present.
    pub(crate) fn new() -> Self {
        Self {
            producers: AtomicUsize::new(2),
            ..Self::default()
        }
    }

    /// Queues a frame; returns the unsent bytes now queued.
    pub(crate) fn push(&self, item: WsOut) -> usize {
        let len = item.len();
        // Counted before the writer can see the item, so its `sent` never runs ahead.
        let unsent = self.unsent.fetch_add(len, Ordering::Relaxed) + len;
        if let Ok(mut items) = self.items.lock() {
            items.push_back(item);
        }
        self.waiter.wake();
        unsent
    }

    /// Takes everything queued.
    pub(crate) fn take(&self, into: &mut VecDeque<WsOut>) {
        if let Ok(mut items) = self.items.lock() {
            into.append(&mut items);
        }
    }

    /// Drops everything queued (a client too slow to read gets its close next, not after the
    /// backlog that made it too slow).
    pub(crate) fn discard(&self) {
        if let Ok(mut items) = self.items.lock() {
            let dropped: usize = items.iter().map(WsOut::len).sum();
            items.clear();
            self.unsent.fetch_sub(dropped, Ordering::Relaxed);
        }
    }

    /// The writer put `n` payload bytes on the wire.
    pub(crate) fn sent(&self, n: usize) {
        self.unsent.fetch_sub(n, Ordering::Relaxed);
    }

    fn has_items(&self) -> bool {
        self.items.lock().map(|i| !i.is_empty()).unwrap_or(false)
    }

    /// Waits until something is queued (`true`) or nothing ever will be (`false`).
    pub(crate) async fn ready(&self) -> bool {
        self.wait_until(|o| {
            (o.has_items() || o.producers.load(Ordering::Acquire) == 0).then(|| o.has_items())
        })
        .await
    }

    /// Waits until `done` gives a value, re-checking after every wake. The waker is registered
    /// before the check, so a change between the two is never missed.
    async fn wait_until<T>(&self, done: impl Fn(&Self) -> Option<T>) -> T {
        poll_fn(|cx| {
            if let Some(v) = done(self) {
                return Poll::Ready(v);
            }
            self.waiter.register(cx.waker());
            done(self).map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }

    /// A producer leaves (the core task's link dropped, or the reader ended).
    pub(crate) fn producer_done(&self) {
        self.producers.fetch_sub(1, Ordering::AcqRel);
        self.waiter.wake();
    }

    /// The core task pauses (`true`) or resumes reads.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
        self.waiter.wake();
    }

    /// The core task let go of this socket.
    pub(crate) fn detach(&self) {
        self.detached.store(true, Ordering::Release);
        self.waiter.wake();
        self.producer_done();
    }

    /// The reader handed `n` client bytes to the core task.
    pub(crate) fn handed(&self, n: usize) -> usize {
        self.unread.fetch_add(n, Ordering::AcqRel) + n
    }

    /// The core task took `n` client bytes.
    pub(crate) fn taken(&self, n: usize) {
        let before = self.unread.fetch_sub(n, Ordering::AcqRel);
        if before >= READ_AHEAD && before - n < READ_AHEAD {
            self.waiter.wake();
        }
    }

    /// Waits while more than [`READ_AHEAD`] bytes are on their way to the core, so a pause
    /// takes effect within that much of the window (the event queue is shared by all
    /// sockets and must not hold one socket's backlog).
    pub(crate) async fn read_ahead_room(&self) {
        self.wait_until(|o| {
            (o.is_detached() || o.unread.load(Ordering::Acquire) < READ_AHEAD).then_some(())
        })
        .await;
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    pub(crate) fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    /// Waits until the pause state differs from `paused`, or the socket is detached.
    pub(crate) async fn control_changed(&self, paused: bool) {
        self.wait_until(|o| (o.is_detached() || o.is_paused() != paused).then_some(()))
            .await;
    }
}
