//! Checks of the gateway's own state that the simulation and the `core_steps` fuzz body share.

use crate::gateway::Gateway;
use crate::ids::ClientId;
use crate::time::Instant;
use crate::tunnel::ClientKind;

/// Why a paused client should not be paused, if it should not: a socket is paused only while
/// its window (messages or bytes, queued plus un-acked) or the global budget is full, and
/// resumed as soon as neither is (guarantee 2).
pub(crate) fn paused_without_cause(gw: &Gateway, client: ClientId) -> Option<String> {
    let cfg = gw.config();
    let Some(ClientKind::WebSocket(ws)) = gw.clients.map.get(&client).map(|c| &c.kind) else {
        return None;
    };
    let limit = if ws.can_hibernate {
        cfg.socket_window_bytes
    } else {
        cfg.opening_buffer_bytes
    };
    let bytes = ws.queued_bytes + ws.pending.bytes();
    let messages = ws.queued.len() + ws.pending.len();
    let window_full = bytes > limit || messages > cfg.socket_window_messages;
    let budget_full = gw.held_bytes() > cfg.pending_budget_bytes;
    (!window_full && !budget_full).then(|| {
        format!(
            "{client}: paused while neither its window ({messages} messages, {bytes} bytes) nor the budget ({} of {} bytes) is full; {:?}",
            gw.held_bytes(),
            cfg.pending_budget_bytes,
            ws.phase
        )
    })
}

/// Windows and the budget stay bounded and no deadline lies in the past. Each socket may go
/// one message past a limit before its reads pause, and queued payloads grow by their framing
/// (about 14 bytes each) when they are sent within the socket's window; `message_bytes` bounds
/// one message.
pub(crate) fn memory_bounds(
    gw: &Gateway,
    now: Instant,
    message_bytes: usize,
) -> Result<(), String> {
    let cfg = gw.config();
    if let Some(at) = gw.poll_timeout() {
        if at < now {
            return Err(format!("a deadline at {at:?} lies before now {now:?}"));
        }
    }
    let sockets = gw.clients.map.len();
    let slack = sockets * (message_bytes + 16 * cfg.socket_window_messages);
    if gw.held_bytes() > cfg.pending_budget_bytes + slack {
        return Err(format!(
            "{} bytes held exceed the budget of {} (+ {slack} for {sockets} sockets)",
            gw.held_bytes(),
            cfg.pending_budget_bytes
        ));
    }
    for (id, c) in &gw.clients.map {
        if let ClientKind::WebSocket(ws) = &c.kind {
            let messages = ws.queued.len() + ws.pending.len();
            if messages > cfg.socket_window_messages + 1 {
                return Err(format!(
                    "{id}: {messages} messages held ({} queued), window {}",
                    ws.queued.len(),
                    cfg.socket_window_messages
                ));
            }
            if ws.pending.len() > 1 && ws.pending.bytes() > cfg.socket_window_bytes {
                return Err(format!(
                    "{id}: {} un-acked bytes exceed the window",
                    ws.pending.bytes()
                ));
            }
        }
    }
    for (idx, i) in &gw.runners.instances {
        if i.outbox.len() > 10_000 {
            return Err(format!("{idx:?} holds {} frames", i.outbox.len()));
        }
    }
    Ok(())
}
