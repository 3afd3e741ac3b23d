//! The core task: owns the [`Gateway`], feeds it events from connection tasks, timers and the
//! store writer, and carries out every output.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant as StdInstant};

use smol::Timer;
use smol::channel::{Receiver, Sender};
use smol::future;
use torpor_core::{
    AdminError, AdminReply, AdminReqId, ClientId, CloseFrame, Gateway, Input, Instant, OpId,
    Output, RunnerConnId, StoreFailure, UnixMillis,
};
use torpor_sqlite::Writer;
use tracing::{debug, error, info, warn};

use crate::links::{Event, HttpLink, HttpOut, SocketLink, Verdict, WsOut};
use crate::metrics::{AdapterMetrics, CoreSample};
use crate::story::Story;

/// Most events handled per wake before outputs and timers get a turn (fairness, not batching:
/// outputs are drained after every input as the core requires).
const BATCH: usize = 256;

/// Close sent to client sockets when the gateway shuts down.
pub(crate) const SHUTDOWN_CLOSE: u16 = 1012;

pub(crate) struct Hub {
    gw: Gateway,
    start: StdInstant,
    writer: Option<Writer>,
    metrics: Arc<AdapterMetrics>,
    outbound_max: usize,
    /// The operator's logs of runners, actors and sockets.
    story: Story,
    runners: HashMap<RunnerConnId, PendingLink<SocketLink>>,
    clients: HashMap<ClientId, PendingLink<SocketLink>>,
    http: HashMap<ClientId, HttpLink>,
    admin: HashMap<AdminReqId, Sender<Result<AdminReply, AdminError>>>,
    next_admin: u64,
    /// Inputs raised while executing outputs; fed once the outbox is empty (the core refuses
    /// inputs while outputs are queued).
    deferred: Vec<Input>,
}

/// A socket's link, plus the upgrade verdict until the core gives one.
struct PendingLink<L> {
    link: L,
    verdict: Option<Sender<Verdict>>,
}

impl<L> PendingLink<L> {
    /// Answers the upgrade request, if it is still waiting (the requester may be gone).
    fn answer(&mut self, verdict: Verdict) {
        if let Some(v) = self.verdict.take() {
            let _ = v.try_send(verdict);
        }
    }
}

fn shutting_down() -> Verdict {
    Verdict::Reject {
        status: 503,
        reason: "gateway shutting down".to_owned(),
    }
}

impl Hub {
    pub(crate) fn new(
        gw: Gateway,
        start: StdInstant,
        writer: Writer,
        metrics: Arc<AdapterMetrics>,
    ) -> Self {
        let outbound_max = gw.config().client_outbound_max_bytes;
        Self {
            gw,
            start,
            writer: Some(writer),
            metrics,
            outbound_max,
            story: Story::default(),
            runners: HashMap::new(),
            clients: HashMap::new(),
            http: HashMap::new(),
            admin: HashMap::new(),
            next_admin: 0,
            deferred: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        now_since(self.start)
    }

    /// Runs until [`Event::Shutdown`] or until every sender is gone; then closes all sockets
    /// and flushes the store.
    pub(crate) async fn run(mut self, events: Receiver<Event>) {
        self.drain();
        // One timer, re-armed only when the core's next deadline changes: registering a timer
        // wakes the reactor (an eventfd write and read, a timerfd update), which per event
        // would cost more syscalls than the socket I/O itself.
        let mut timer = Timer::never();
        let mut armed = None;
        loop {
            let wake = self
                .gw
                .poll_timeout()
                .map(|at| self.start + Duration::from_millis(at.as_millis()));
            // Due deadlines first: under a steady stream of events the receive below is always
            // ready, and the timer beside it would never be polled.
            if wake.is_some_and(|at| at <= StdInstant::now()) {
                let now = self.now();
                self.feed_timeout(now);
                continue;
            }
            if wake != armed {
                match wake {
                    Some(at) => timer.set_at(at),
                    None => timer = Timer::never(),
                }
                armed = wake;
            }
            let next = if armed.is_some() {
                future::or(async { Some(events.recv().await) }, async {
                    (&mut timer).await;
                    None
                })
                .await
            } else {
                Some(events.recv().await)
            };
            match next {
                None => {
                    // A fired timer is spent; the next deadline arms it again.
                    armed = None;
                    let now = self.now();
                    self.feed_timeout(now);
                }
                Some(Err(_)) => break,
                Some(Ok(first)) => {
                    if !self.on_event(first) {
                        break;
                    }
                    let mut stop = false;
                    for _ in 1..BATCH {
                        let Ok(ev) = events.try_recv() else { break };
                        if !self.on_event(ev) {
                            stop = true;
                            break;
                        }
                    }
                    if stop {
                        break;
                    }
                }
            }
        }
        // Closed first, so a store thread reporting completions fails fast instead of
        // blocking on a full queue nobody reads any more.
        drop(events);
        self.shutdown();
    }

    fn feed_timeout(&mut self, now: Instant) {
        if let Err(e) = self.gw.handle_timeout(now, wall()) {
            error!(error = %e, "core refused a timeout");
        }
        self.drain();
    }

    fn feed(&mut self, input: Input) {
        let now = self.now();
        if let Err(e) = self.gw.handle(now, wall(), input) {
            error!(error = %e, "core refused an input");
        }
        self.drain();
    }

    /// Returns `false` on shutdown.
    fn on_event(&mut self, ev: Event) -> bool {
        match ev {
            Event::Input(input) => {
                // The adapter's own bookkeeping first; the core decides everything else.
                match &input {
                    Input::RunnerClosed { conn } => {
                        self.runners.remove(conn);
                    }
                    Input::ClientClosed { client, close } => {
                        self.story.client_closed(*client, close.as_ref());
                        self.clients.remove(client);
                    }
                    Input::ClientMessage { client, frame } => {
                        if let Some(c) = self.clients.get(client) {
                            c.link.outbox.taken(frame.len());
                        }
                    }
                    // A request already answered needs no cancelling.
                    Input::HttpCancelled { client } if self.http.remove(client).is_none() => {
                        return true;
                    }
                    _ => {}
                }
                self.feed(input);
            }
            Event::RunnerConnect {
                conn,
                peer,
                params,
                link,
                verdict,
            } => {
                self.story.runner_address(conn, peer);
                self.runners.insert(
                    conn,
                    PendingLink {
                        link,
                        verdict: Some(verdict),
                    },
                );
                self.feed(Input::RunnerConnect { conn, params });
            }
            Event::ClientWebSocket {
                client,
                peer,
                actor,
                path,
                headers,
                link,
                verdict,
            } => {
                self.story.client_address(client, peer);
                self.clients.insert(
                    client,
                    PendingLink {
                        link,
                        verdict: Some(verdict),
                    },
                );
                self.feed(Input::ClientWebSocket {
                    client,
                    actor,
                    path,
                    headers,
                });
            }
            Event::Http {
                client,
                actor,
                method,
                path,
                headers,
                body,
                reply,
            } => {
                self.http.insert(client, reply);
                self.feed(Input::HttpRequest {
                    client,
                    actor,
                    method,
                    path,
                    headers,
                    body,
                });
            }
            Event::Admin { command, reply } => {
                self.next_admin += 1;
                let req = AdminReqId::new(self.next_admin);
                self.admin.insert(req, reply);
                self.feed(Input::Admin { req, command });
            }
            Event::StoreDone(completions) => {
                for (op, result) in completions {
                    if let Err(e) = &result {
                        warn!(%op, error = %e, "store operation failed");
                    }
                    self.feed(Input::StoreDone { op, result });
                }
            }
            Event::Metrics { reply } => {
                // The requester may have gone; nothing to do then.
                let _ = reply.try_send(CoreSample::take(&self.gw));
            }
            Event::Backup { dest, reply } => {
                let submitted = self.writer.as_ref().is_some_and(|w| {
                    w.backup(dest, move |result| {
                        let _ = reply.try_send(result);
                    })
                });
                if !submitted {
                    error!("store writer thread is gone: backup refused");
                }
            }
            Event::Ready { reply } => {
                let submitted = self.writer.as_ref().is_some_and(|w| {
                    let reply = reply.clone();
                    w.probe(move |result| {
                        let _ = reply.try_send(result);
                    })
                });
                if !submitted {
                    let _ = reply.try_send(Err("the store writer thread is gone".to_owned()));
                }
            }
            Event::Reconfigure(config) => match self.gw.reconfigure(*config) {
                Ok(()) => {
                    self.outbound_max = self.gw.config().client_outbound_max_bytes;
                    info!("gateway settings reloaded");
                }
                Err(e) => error!(error = %e, "gateway settings not reloaded"),
            },
            Event::Shutdown => return false,
        }
        true
    }

    /// Carries out every queued output, then any inputs that raised.
    fn drain(&mut self) {
        loop {
            while let Some(out) = self.gw.poll_output() {
                self.execute(out);
            }
            if self.deferred.is_empty() {
                break;
            }
            let now = self.now();
            for input in std::mem::take(&mut self.deferred) {
                if let Err(e) = self.gw.handle(now, wall(), input) {
                    error!(error = %e, "core refused an input");
                }
                while let Some(out) = self.gw.poll_output() {
                    self.execute(out);
                }
            }
        }
        while let Some(notice) = self.gw.poll_notice() {
            self.story.tell(notice);
        }
    }

    fn execute(&mut self, out: Output) {
        match out {
            Output::AcceptRunner { conn } => {
                if let Some(r) = self.runners.get_mut(&conn) {
                    r.answer(Verdict::Accept);
                }
            }
            Output::RejectRunner {
                conn,
                status,
                reason,
            } => {
                self.story.runner_refused(conn);
                info!(%conn, status, %reason, "runner refused");
                if let Some(mut r) = self.runners.remove(&conn) {
                    r.answer(Verdict::Reject { status, reason });
                }
            }
            Output::SendRunner { conn, bytes } => {
                if let Some(r) = self.runners.get(&conn) {
                    r.link.outbox.push(WsOut::Binary(bytes));
                }
            }
            Output::CloseRunner { conn, close } => {
                info!(%conn, code = close.code, reason = %close.reason, "closing runner");
                if let Some(r) = self.runners.remove(&conn) {
                    r.link.outbox.push(WsOut::Close(close));
                }
            }
            Output::AcceptClient { client } => {
                if let Some(c) = self.clients.get_mut(&client) {
                    c.answer(Verdict::Accept);
                }
            }
            Output::RejectClient {
                client,
                status,
                reason,
            } => {
                self.story.refused(client);
                // Refusals for capacity are an operator's business; a wrong actor id is not.
                if status >= 500 || status == 429 {
                    info!(%client, status, %reason, "client refused: a limit was reached");
                } else {
                    debug!(%client, status, %reason, "client refused");
                }
                if let Some(mut c) = self.clients.remove(&client) {
                    c.answer(Verdict::Reject { status, reason });
                }
            }
            Output::SendClient { client, frame } => self.send_client(client, frame),
            Output::CloseClient { client, close } => {
                self.story.gateway_closed(client, &close);
                if let Some(c) = self.clients.remove(&client) {
                    self.metrics.count_close(close.code);
                    if c.link.reported_full {
                        c.link.outbox.discard();
                    }
                    c.link.outbox.push(WsOut::Close(close));
                }
            }
            Output::PauseClientReads { client } => {
                if let Some(c) = self.clients.get(&client) {
                    c.link.outbox.set_paused(true);
                }
            }
            Output::ResumeClientReads { client } => {
                if let Some(c) = self.clients.get(&client) {
                    c.link.outbox.set_paused(false);
                }
            }
            Output::HttpResponse {
                client,
                status,
                headers,
                body,
                streaming,
            } => {
                let head = HttpOut::Head {
                    status,
                    headers,
                    body,
                    streaming,
                };
                let reply = if streaming {
                    self.http.get(&client).cloned()
                } else {
                    self.http.remove(&client)
                };
                if let Some(link) = reply {
                    let _ = link.reply.try_send(head);
                }
            }
            Output::HttpBodyChunk {
                client,
                data,
                finish,
            } => self.send_http_chunk(client, data, finish),
            Output::HttpAbort { client } => {
                if let Some(link) = self.http.remove(&client) {
                    let _ = link.reply.try_send(HttpOut::Abort);
                }
            }
            Output::Store { op, request } => {
                let submitted = self.writer.as_ref().is_some_and(|w| w.submit(op, request));
                if !submitted {
                    self.store_gone(op);
                }
            }
            Output::AdminReply { req, reply } => {
                if let Some(tx) = self.admin.remove(&req) {
                    let _ = tx.try_send(reply);
                }
            }
        }
    }

    /// A streamed response chunk. Past the outbound limit the core hears that the client does
    /// not read (once) and decides; the chunk is dropped, as the response will be aborted.
    fn send_http_chunk(&mut self, client: ClientId, data: Vec<u8>, finish: bool) {
        let Some(link) = self.http.get_mut(&client) else {
            return;
        };
        if link.reported_full {
            // The core aborts this response: a later chunk, even the last, must not reach the
            // client, or it would see a complete response with chunks missing.
            return;
        }
        let len = data.len();
        let unsent = link.unsent.fetch_add(len, Ordering::AcqRel) + len;
        if finish {
            if let Some(link) = self.http.remove(&client) {
                let _ = link.reply.try_send(HttpOut::Chunk { data, finish });
            }
        } else if unsent > self.outbound_max {
            link.reported_full = true;
            self.metrics
                .clients_too_slow
                .fetch_add(1, Ordering::Relaxed);
            self.deferred.push(Input::ClientOutboundFull { client });
        } else {
            let _ = link.reply.try_send(HttpOut::Chunk { data, finish });
        }
    }

    fn send_client(&mut self, client: ClientId, frame: torpor_core::ClientFrame) {
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        let out = match frame {
            torpor_core::ClientFrame::Text(t) => WsOut::Text(t),
            torpor_core::ClientFrame::Binary(b) => WsOut::Binary(b.into()),
        };
        let unsent = c.link.outbox.push(out);
        if unsent > self.outbound_max && !c.link.reported_full {
            c.link.reported_full = true;
            self.metrics
                .clients_too_slow
                .fetch_add(1, Ordering::Relaxed);
            self.deferred.push(Input::ClientOutboundFull { client });
        }
    }

    /// The writer thread is gone: the op fails like an I/O error, so the core's retry and
    /// failure paths apply.
    fn store_gone(&mut self, op: OpId) {
        let result = Err(StoreFailure::Io("store writer stopped".to_owned()));
        self.deferred.push(Input::StoreDone { op, result });
    }

    /// Graceful shutdown: 1012 to every client, a close to every runner, then the store's
    /// queued writes complete before the writer thread ends.
    fn shutdown(&mut self) {
        let close = CloseFrame::new(SHUTDOWN_CLOSE, "torpor.shutting_down");
        // The core learns that every client is gone, so actors see their sockets close and the
        // index rows are deleted before the store stops.
        let clients: Vec<ClientId> = self.clients.keys().copied().collect();
        for client in clients {
            if let Some(mut c) = self.clients.remove(&client) {
                c.answer(shutting_down());
                self.metrics.count_close(SHUTDOWN_CLOSE);
                c.link.outbox.push(WsOut::Close(close.clone()));
            }
            self.feed(Input::ClientClosed {
                client,
                close: Some(close.clone()),
            });
        }
        for (_, mut r) in self.runners.drain() {
            r.answer(shutting_down());
            r.link.outbox.push(WsOut::Close(close.clone()));
        }
        for (_, link) in self.http.drain() {
            let _ = link.reply.try_send(HttpOut::Abort);
        }
        for (_, tx) in self.admin.drain() {
            let _ = tx.try_send(Err(AdminError::Unavailable(
                "gateway shutting down".to_owned(),
            )));
        }
        if let Some(writer) = self.writer.take() {
            if writer.shutdown().is_none() {
                error!("store writer thread panicked");
            }
        }
        info!("core stopped");
    }
}

/// Core time: milliseconds since the process started serving.
pub(crate) fn now_since(start: StdInstant) -> Instant {
    let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    Instant::from_millis(ms)
}

/// Wall clock for the core, from the store's clock so both agree.
pub(crate) fn wall() -> UnixMillis {
    UnixMillis(torpor_sqlite::wall_ms())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use torpor_core::{Config, Gateway, Instant, UnixMillis};
    use torpor_sqlite::Store;

    use super::*;

    fn hub(outbound_max: usize) -> Hub {
        let config = Config {
            client_outbound_max_bytes: outbound_max,
            ..Config::default()
        };
        let gw = Gateway::new(config, 1, Instant::from_millis(0), UnixMillis(0)).unwrap();
        let store = Store::open_in_memory().unwrap();
        let writer = Writer::spawn(store, |_| {}).unwrap();
        Hub::new(gw, StdInstant::now(), writer, Arc::default())
    }

    /// Once the client is reported as not reading, nothing more of its response reaches it —
    /// not even the last chunk, which would make a response with chunks missing look whole.
    #[test]
    fn a_response_reported_full_gets_no_later_chunk() {
        let mut hub = hub(4);
        let client = ClientId::new(7);
        let (tx, rx) = smol::channel::unbounded();
        let link = HttpLink {
            reply: tx,
            unsent: Arc::new(AtomicUsize::new(0)),
            reported_full: false,
        };
        hub.http.insert(client, link);
        hub.send_http_chunk(client, b"abc".to_vec(), false);
        hub.send_http_chunk(client, b"defg".to_vec(), false); // 7 unsent > 4
        hub.send_http_chunk(client, b"h".to_vec(), true);
        let mut got = Vec::new();
        while let Ok(out) = rx.try_recv() {
            got.push(match out {
                HttpOut::Chunk { data, finish } => (data, finish),
                _ => panic!("unexpected output"),
            });
        }
        assert_eq!(got, vec![(b"abc".to_vec(), false)]);
        assert!(matches!(
            hub.deferred.as_slice(),
            [Input::ClientOutboundFull { client: c }] if *c == client
        ));
        assert_eq!(hub.metrics.clients_too_slow.load(Ordering::Relaxed), 1);
    }
}
