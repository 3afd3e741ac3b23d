//! Checks of the gateway's own state that the simulation and the `core_steps` fuzz body share.

use crate::gateway::Gateway;
use crate::ids::ClientId;
use crate::time::Instant;

/// Why a paused client should not be paused, if it should not: a socket is paused only while
/// its window (messages or bytes, queued plus un-acked) or the global budget is full, and
/// resumed as soon as neither is (guarantee 2).
pub(crate) fn paused_without_cause(gw: &Gateway, client: ClientId) -> Option<String> {
    let cfg = gw.config();
    let ws = gw.inspect().socket(client)?;
    let limit = if ws.can_hibernate {
        cfg.socket_window_bytes
    } else {
        cfg.opening_buffer_bytes
    };
    let bytes = ws.queued_bytes + ws.unacked_bytes;
    let messages = ws.queued_messages + ws.unacked_messages;
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
    let view = gw.inspect();
    let sockets = view.clients().count();
    let slack = sockets * (message_bytes + 16 * cfg.socket_window_messages);
    if gw.held_bytes() > cfg.pending_budget_bytes + slack {
        return Err(format!(
            "{} bytes held exceed the budget of {} (+ {slack} for {sockets} sockets)",
            gw.held_bytes(),
            cfg.pending_budget_bytes
        ));
    }
    for id in view.clients() {
        if let Some(ws) = view.socket(id) {
            let messages = ws.queued_messages + ws.unacked_messages;
            if messages > cfg.socket_window_messages + 1 {
                return Err(format!(
                    "{id}: {messages} messages held ({} queued), window {}",
                    ws.queued_messages, cfg.socket_window_messages
                ));
            }
            if ws.unacked_messages > 1 && ws.unacked_bytes > cfg.socket_window_bytes {
                return Err(format!(
                    "{id}: {} un-acked bytes exceed the window",
                    ws.unacked_bytes
                ));
            }
        }
    }
    for (idx, held) in view.runner_outboxes() {
        if held > 10_000 {
            return Err(format!("{idx:?} holds {held} frames"));
        }
    }
    Ok(())
}
