//! `/metrics`: the core's counters and gauges, the adapter's own, the build and the process, in
//! the Prometheus text format (0.0.4) as `prometheus-client` encodes it.
//!
//! Names follow the Prometheus conventions: everything of Torpor's starts `torpor_`, counters end
//! in `_total` (the encoder appends it), durations are `_seconds` histograms, sizes are `_bytes`;
//! the process's own are the standard `process_*` family.
//!
//! The core keeps plain numbers (it is sans-IO and knows no exporter): the core task copies them
//! into a [`CoreSample`] at scrape time and the HTTP task encodes it, so a scrape costs the core
//! a copy of a few hundred integers and no formatting.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use torpor_core::{Gateway, Histograms, Metrics};

/// The `Content-Type` of the page.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

macro_rules! adapter_counters {
    ($( $(#[doc = $doc:literal])+ $name:ident ),* $(,)?) => {
        /// Counters only the adapter can see (HTTP, WebSocket framing, the store thread).
        #[derive(Debug, Default)]
        pub(crate) struct AdapterMetrics {
            $( $(#[doc = $doc])+ pub(crate) $name: AtomicU64, )*
            /// Client closes sent, by code.
            closes: Mutex<BTreeMap<u16, u64>>,
            /// HTTP connections open and not upgraded (gauge).
            pub(crate) http_connections: AtomicU64,
        }

        impl AdapterMetrics {
            fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
                vec![$( (stringify!($name), concat!($($doc),+), self.$name.load(Ordering::Relaxed)), )*]
            }
        }
    };
}

adapter_counters! {
    /// HTTP requests the server received (all routes).
    http_server_requests,
    /// HTTP requests refused with a 4xx status by the adapter (bad route, body, upgrade).
    http_bad_requests,
    /// API requests refused for a missing or wrong token.
    admin_unauthorized,
    /// `/metrics` scrapes refused for a missing or wrong token.
    metrics_unauthorized,
    /// Requests and WebSockets through the gateway refused for a missing or wrong client
    /// token.
    gateway_unauthorized,
    /// Browser WebSockets refused because their `Origin` is not in `allowed_origins`.
    origin_rejects,
    /// Connections refused because their address already held `max_connections_per_ip`.
    ip_limit_rejects,
    /// Requests refused with 413 because their body passed a size limit.
    http_payload_too_large,
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
    /// Configuration reloads (SIGHUP) applied.
    config_reloads,
    /// Configuration reloads (SIGHUP) refused because the file was invalid.
    config_reload_failures,
    /// Online backups written (`GET /admin/backup`).
    backups,
}

impl AdapterMetrics {
    /// Counts a close the gateway sent to a client.
    pub(crate) fn count_close(&self, code: u16) {
        if let Ok(mut m) = self.closes.lock() {
            *m.entry(code).or_default() += 1;
        }
    }
}

/// What the core task hands over for one scrape.
#[derive(Debug)]
pub(crate) struct CoreSample {
    counters: Metrics,
    histograms: Histograms,
    /// `(name, help, value)`.
    gauges: Vec<(&'static str, &'static str, i64)>,
}

impl CoreSample {
    /// Copies what the core holds now.
    pub(crate) fn take(gw: &Gateway) -> Self {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Self {
            counters: gw.metrics().clone(),
            histograms: gw.histograms().clone(),
            gauges: vec![
                (
                    "runner_connections",
                    "Runner connections open.",
                    gauge(gw.runner_connection_count()),
                ),
                (
                    "client_connections",
                    "Client connections open (WebSockets and HTTP requests).",
                    gauge(gw.client_count()),
                ),
                (
                    "hibernating_sockets",
                    "Client WebSockets hibernating.",
                    gauge(gw.hibernating_socket_count()),
                ),
                (
                    "paused_sockets",
                    "Client sockets with reads paused.",
                    gauge(gw.paused_socket_count()),
                ),
                (
                    "pending_bytes",
                    "Client bytes held for actors (queued and un-acked).",
                    gauge(gw.held_bytes()),
                ),
                (
                    "hibernation_index_rows",
                    "Rows this gateway keeps in the hibernation index.",
                    gauge(gw.index_rows()),
                ),
            ],
        }
    }
}

/// One scrape's numbers: the core's sample and the adapter's counters at that moment.
#[derive(Debug)]
struct Scrape {
    core: CoreSample,
    adapter: Vec<(&'static str, &'static str, u64)>,
    closes: BTreeMap<u16, u64>,
    http_connections: i64,
}

/// Help text comes from doc comments: one line, as the format requires.
fn one_line(help: &str) -> String {
    help.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in self
            .core
            .counters
            .iter()
            .chain(self.adapter.iter().copied())
        {
            let counter = ConstCounter::new(value);
            let m = encoder.encode_descriptor(name, &one_line(help), None, MetricType::Counter)?;
            counter.encode(m)?;
        }
        let http_connections = (
            "http_connections",
            "HTTP connections open (not counting upgraded WebSockets).",
            self.http_connections,
        );
        for (name, help, value) in self.core.gauges.iter().copied().chain([http_connections]) {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(m)?;
        }
        for (name, help, h) in self.core.histograms.iter() {
            // The core counts milliseconds; Prometheus wants seconds.
            let name = name.strip_suffix("_ms").unwrap_or(name);
            let help = help.replace(" in ms", " in seconds");
            let mut m = encoder.encode_descriptor(
                name,
                &help,
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            let mut previous = 0;
            let buckets: Vec<(f64, u64)> = h
                .buckets()
                .map(|(le, cumulative)| {
                    let bound = le.map_or(f64::INFINITY, |ms| ms as f64 / 1000.0);
                    let n = cumulative - previous;
                    previous = cumulative;
                    (bound, n)
                })
                .collect();
            m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                h.sum() as f64 / 1000.0,
                h.count(),
                &buckets,
                None,
            )?;
        }
        let mut m = encoder.encode_descriptor(
            "client_closes",
            "Client WebSocket closes sent by the gateway, by close code.",
            None,
            MetricType::Counter,
        )?;
        for (code, n) in &self.closes {
            let labels = [("code", code.to_string())];
            ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// `process_*`: what the operating system says about this process, read at scrape time.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    #[cfg(target_os = "linux")]
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use procfs::WithCurrentSystemInfo as _;
        // An unreadable /proc (a sandbox without it) leaves these out rather than failing the
        // whole page.
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            let cpu = (stat.utime + stat.stime) as f64 / ticks;
            let m = encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent in seconds.",
                Some(&Unit::Seconds),
                MetricType::Counter,
            )?;
            ConstCounter::new(cpu).encode(m)?;
            let rss = i64::try_from(stat.rss_bytes().get()).unwrap_or(i64::MAX);
            let m = encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory size in bytes.",
                Some(&Unit::Bytes),
                MetricType::Gauge,
            )?;
            ConstGauge::new(rss).encode(m)?;
            let m = encoder.encode_descriptor(
                "process_virtual_memory",
                "Virtual memory size in bytes.",
                Some(&Unit::Bytes),
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::try_from(stat.vsize).unwrap_or(i64::MAX)).encode(m)?;
            if let Ok(boot) = procfs::boot_time_secs() {
                let start = boot as f64 + stat.starttime as f64 / ticks;
                let m = encoder.encode_descriptor(
                    "process_start_time",
                    "Start time of the process since unix epoch in seconds.",
                    Some(&Unit::Seconds),
                    MetricType::Gauge,
                )?;
                ConstGauge::new(start).encode(m)?;
            }
        }
        if let Ok(fds) = me.fd_count() {
            let m = encoder.encode_descriptor(
                "process_open_fds",
                "Number of open file descriptors.",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::try_from(fds).unwrap_or(i64::MAX)).encode(m)?;
        }
        if let Ok(limits) = me.limits() {
            if let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit {
                let m = encoder.encode_descriptor(
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                    None,
                    MetricType::Gauge,
                )?;
                ConstGauge::new(i64::try_from(max).unwrap_or(i64::MAX)).encode(m)?;
            }
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn encode(&self, _encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        Ok(())
    }
}

/// The whole `/metrics` page for this sample of the core.
pub(crate) fn render(core: CoreSample, adapter: &AdapterMetrics) -> String {
    let scrape = Scrape {
        core,
        adapter: adapter.counters(),
        closes: adapter.closes.lock().map(|m| m.clone()).unwrap_or_default(),
        http_connections: i64::try_from(adapter.http_connections.load(Ordering::Relaxed))
            .unwrap_or(i64::MAX),
    };
    let mut root = Registry::default();
    root.register_collector(Box::new(ProcessCollector));
    let torpor = root.sub_registry_with_prefix("torpor");
    torpor.register(
        "build",
        "Torpor's version (the value is always 1)",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    torpor.register_collector(Box::new(scrape));
    let mut out = String::with_capacity(16 * 1024);
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &root);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use torpor_core::{Instant, UnixMillis};

    fn page() -> String {
        let gw = Gateway::new(
            torpor_core::Config::default(),
            1,
            Instant::from_millis(0),
            UnixMillis(0),
        )
        .expect("default config");
        let adapter = AdapterMetrics::default();
        adapter.count_close(1008);
        adapter.count_close(1008);
        adapter.admin_unauthorized.store(3, Ordering::Relaxed);
        render(CoreSample::take(&gw), &adapter)
    }

    #[test]
    fn counters_end_in_total_and_durations_are_seconds() {
        let page = page();
        for line in [
            "# TYPE torpor_actors_created_total counter",
            "torpor_actors_created_total 0",
            "torpor_admin_unauthorized_total 3",
            "# TYPE torpor_hibernating_sockets gauge",
            "# TYPE torpor_wake_latency_seconds histogram",
            "torpor_wake_latency_seconds_bucket{le=\"0.001\"} 0",
            "torpor_wake_latency_seconds_bucket{le=\"30\"} 0",
            "torpor_wake_latency_seconds_bucket{le=\"+Inf\"} 0",
            "torpor_client_closes_total{code=\"1008\"} 2",
            "torpor_build_info{version=\"0.1.0\"} 1",
            "# HELP torpor_wake_latency_seconds Wake latency in seconds: first client frame for a \
             sleeping actor to the actor running.",
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "missing {line:?} in\n{page}"
            );
        }
        assert!(!page.contains("_ms"), "{page}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_are_present() {
        let page = page();
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(
                page.lines().any(|l| l.starts_with(name)),
                "missing {name} in\n{page}"
            );
        }
    }
}
