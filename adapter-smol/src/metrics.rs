//! `/metrics`: the core's counters and gauges plus the adapter's own, in Prometheus text format.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use torpor_core::Gateway;

macro_rules! adapter_counters {
    ($( $(#[doc = $doc:literal])+ $name:ident ),* $(,)?) => {
        /// Counters only the adapter can see (HTTP, WebSocket framing, the store thread).
        #[derive(Debug, Default)]
        pub(crate) struct AdapterMetrics {
            $( $(#[doc = $doc])+ pub(crate) $name: AtomicU64, )*
            /// Client closes sent, by code.
            closes: Mutex<std::collections::BTreeMap<u16, u64>>,
            /// HTTP connections open and not upgraded (gauge).
            pub(crate) http_connections: AtomicU64,
        }

        impl AdapterMetrics {
            fn counters(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
                [$( (stringify!($name), concat!($($doc),+), self.$name.load(Ordering::Relaxed)), )*]
                    .into_iter()
            }
        }
    };
}

adapter_counters! {
    /// HTTP requests the server received (all routes).
    http_server_requests,
    /// HTTP requests refused with a 4xx status by the adapter (bad route, body, upgrade).
    http_bad_requests,
    /// API requests (and `/metrics` scrapes) refused for a missing or wrong token.
    admin_unauthorized,
    /// Requests and WebSockets through the gateway refused for a missing or wrong client
    /// token.
    gateway_unauthorized,
    /// Client frames over the maximum message size (closed with 1009).
    client_oversize_frames,
    /// Client text frames that were not UTF-8 (closed with 1007).
    client_invalid_utf8,
    /// Client WebSocket protocol violations (closed with 1002).
    client_protocol_errors,
    /// Runner WebSocket protocol violations or oversize frames.
    runner_protocol_errors,
    /// Clients whose unsent actor → client bytes passed the limit (WebSockets closed with 1008,
    /// streamed HTTP responses aborted).
    clients_too_slow,
    /// HTTP requests refused with 503 because the request bodies held at once would pass the
    /// budget.
    http_body_budget_rejects,
    /// HTTP connections closed for not sending a request head in time (idle keep-alive
    /// connections included).
    http_header_timeouts,
}

impl AdapterMetrics {
    /// Counts a close the gateway sent to a client.
    pub(crate) fn count_close(&self, code: u16) {
        if let Ok(mut m) = self.closes.lock() {
            *m.entry(code).or_default() += 1;
        }
    }
}

/// The whole `/metrics` page.
pub(crate) fn render(gw: &Gateway, adapter: &AdapterMetrics) -> String {
    let mut out = String::with_capacity(8 * 1024);
    for (name, help, value) in gw.metrics().iter().chain(adapter.counters()) {
        metric(&mut out, name, help, "counter", value);
    }
    let gauges = [
        (
            "runner_connections",
            "Runner connections open.",
            gw.runner_connection_count(),
        ),
        (
            "client_connections",
            "Client connections open (WebSockets and HTTP requests).",
            gw.client_count(),
        ),
        (
            "hibernating_sockets",
            "Client WebSockets hibernating.",
            gw.hibernating_socket_count(),
        ),
        (
            "paused_sockets",
            "Client sockets with reads paused.",
            gw.paused_socket_count(),
        ),
        (
            "pending_bytes",
            "Client bytes held for actors (queued and un-acked).",
            gw.held_bytes(),
        ),
        (
            "hibernation_index_rows",
            "Rows this gateway keeps in the hibernation index.",
            gw.index_rows(),
        ),
    ];
    let adapter_gauges = [(
        "http_connections",
        "HTTP connections open (not counting upgraded WebSockets).",
        adapter.http_connections.load(Ordering::Relaxed) as usize,
    )];
    for (name, help, value) in gauges.into_iter().chain(adapter_gauges) {
        metric(&mut out, name, help, "gauge", value as u64);
    }
    for (name, help, h) in gw.histograms().iter() {
        let _ = writeln!(
            out,
            "# HELP torpor_{name} {help}\n# TYPE torpor_{name} histogram"
        );
        for (le, n) in h.buckets() {
            let le = le.map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "torpor_{name}_bucket{{le=\"{le}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "torpor_{name}_sum {}\ntorpor_{name}_count {}",
            h.sum(),
            h.count()
        );
    }
    let _ = writeln!(
        out,
        "# HELP torpor_client_closes Client WebSocket closes sent by the gateway, by code.\n\
         # TYPE torpor_client_closes counter"
    );
    if let Ok(m) = adapter.closes.lock() {
        for (code, n) in m.iter() {
            let _ = writeln!(out, "torpor_client_closes{{code=\"{code}\"}} {n}");
        }
    }
    out
}

fn metric(out: &mut String, name: &str, help: &str, kind: &str, value: u64) {
    // Help text comes from doc comments: one line, as the format requires.
    let help = help.trim().replace('\n', " ");
    let _ = writeln!(
        out,
        "# HELP torpor_{name} {help}\n# TYPE torpor_{name} {kind}\ntorpor_{name} {value}"
    );
}
