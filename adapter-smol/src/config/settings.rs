//! Every setting `torpor serve` reads, in one table: its key in the TOML file, its flag and
//! environment variable, its unit, range and default, what it means, and whether SIGHUP reloads
//! it. The file parser, the environment reader, `torpor config example` and CONFIGURATION.md are
//! all driven by [`SETTINGS`], so none of them can name a key another does not know.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{LogFormat, ServeConfig};

/// What values a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Whole milliseconds, in this inclusive range.
    Millis { min: u64, max: u64 },
    /// Bytes, in this inclusive range.
    Bytes { min: u64, max: u64 },
    /// A count, in this inclusive range.
    Count { min: u64, max: u64 },
    /// Any 64-bit number.
    Seed,
    /// `true` or `false` (environment: also `1`/`0`, `yes`/`no`, `on`/`off`).
    Bool,
    /// A non-empty secret; never printed.
    Secret,
    /// A non-empty string.
    Text,
    /// A file path.
    Path,
    /// `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`.
    Listen,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A list of strings (environment: comma-separated).
    List,
}

/// A parsed value, before it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// Numbers of every numeric kind.
    Int(u64),
    /// `Kind::Bool`.
    Bool(bool),
    /// Strings, paths, addresses and choices.
    Text(String),
    /// `Kind::List`.
    List(Vec<String>),
}

/// One setting.
#[derive(Debug)]
pub(crate) struct Setting {
    /// Its key in the file: `name` or `section.name`.
    pub(crate) key: &'static str,
    /// `--flag`, if there is one.
    pub(crate) flag: Option<&'static str>,
    /// `TORPOR_*`, if there is one.
    pub(crate) env: Option<&'static str>,
    pub(crate) kind: Kind,
    /// The default as written in the file; `None` when unset by default.
    pub(crate) default: Option<&'static str>,
    /// What it does (one paragraph).
    pub(crate) doc: &'static str,
    /// Whether SIGHUP applies a changed value (otherwise it needs a restart).
    pub(crate) reload: bool,
    /// Stores a checked value.
    pub(crate) apply: fn(&mut ServeConfig, Value),
}

const SECOND: u64 = 1_000;
const DAY: u64 = 86_400 * SECOND;
const GIB: u64 = 1 << 30;

fn int(v: &Value) -> u64 {
    match v {
        Value::Int(n) => *n,
        _ => 0,
    }
}

fn ms(v: &Value) -> Duration {
    Duration::from_millis(int(v))
}

fn size(v: &Value) -> usize {
    usize::try_from(int(v)).unwrap_or(usize::MAX)
}

fn text(v: Value) -> String {
    match v {
        Value::Text(s) => s,
        _ => String::new(),
    }
}

fn list(v: Value) -> Vec<String> {
    match v {
        Value::List(l) => l,
        _ => Vec::new(),
    }
}

fn flag(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

macro_rules! gateway_ms {
    ($key:literal, $field:ident, $default:literal, $min:expr, $max:expr, $doc:literal) => {
        Setting {
            key: concat!("gateway.", $key),
            flag: None,
            env: None,
            kind: Kind::Millis {
                min: $min,
                max: $max,
            },
            default: Some($default),
            doc: $doc,
            reload: true,
            apply: |c, v| c.core.$field = ms(&v),
        }
    };
}

macro_rules! gateway_size {
    ($key:literal, $field:ident, $kind:ident, $default:literal, $min:expr, $max:expr, $doc:literal) => {
        Setting {
            key: concat!("gateway.", $key),
            flag: None,
            env: None,
            kind: Kind::$kind {
                min: $min,
                max: $max,
            },
            default: Some($default),
            doc: $doc,
            reload: true,
            apply: |c, v| c.core.$field = size(&v),
        }
    };
}

/// Every setting, in the order `torpor config example` prints them.
pub(crate) static SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        flag: Some("--listen"),
        env: Some("TORPOR_LISTEN"),
        kind: Kind::Listen,
        default: Some("127.0.0.1:6420"),
        doc: "Address to listen on for runners, clients, the API and /metrics. A non-loopback \
              address needs runner_token and admin_token, or insecure = true.",
        reload: false,
        apply: |c, v| {
            if let Ok(addr) = parse_listen(&text(v)) {
                c.listen = addr;
            }
        },
    },
    Setting {
        key: "database",
        flag: Some("--database"),
        env: Some("TORPOR_DATABASE"),
        kind: Kind::Path,
        default: Some("torpor.db"),
        doc: "SQLite database file (created with its tables if missing; its directory must \
              exist). Holds the actor registry, actor KV and SQLite pages, and the hibernation \
              index. Only one torpor may open it; copy it while running with `torpor backup`.",
        reload: false,
        apply: |c, v| c.database = PathBuf::from(text(v)),
    },
    Setting {
        key: "runner_token",
        flag: Some("--runner-token"),
        env: Some("TORPOR_RUNNER_TOKEN"),
        kind: Kind::Secret,
        default: None,
        doc: "Token runners and envoys must present (`rivet_token.<token>` subprotocol, as \
              RIVET_TOKEN sets it). Unset: any runner may connect.",
        reload: true,
        apply: |c, v| c.core.runner_token = Some(text(v)),
    },
    Setting {
        key: "admin_token",
        flag: Some("--admin-token"),
        env: Some("TORPOR_ADMIN_TOKEN"),
        kind: Kind::Secret,
        default: None,
        doc: "Token the admin API requires (`Authorization: Bearer <token>`); also accepted \
              wherever the client or metrics token is. Unset: the API is open.",
        reload: true,
        apply: |c, v| c.admin_token = Some(text(v)),
    },
    Setting {
        key: "client_token",
        flag: Some("--client-token"),
        env: Some("TORPOR_CLIENT_TOKEN"),
        kind: Kind::Secret,
        default: None,
        doc: "Token clients must present through /gateway (`/gateway/{actor}@{token}/`, \
              `x-rivet-token`, a `rivet_token.<token>` subprotocol or `Authorization: Bearer`) \
              and on the client's actor routes. Unset: the gateway is open.",
        reload: true,
        apply: |c, v| c.client_token = Some(text(v)),
    },
    Setting {
        key: "metrics_token",
        flag: Some("--metrics-token"),
        env: Some("TORPOR_METRICS_TOKEN"),
        kind: Kind::Secret,
        default: None,
        doc: "Token a Prometheus scrape of /metrics presents (`Authorization: Bearer`), so the \
              scraper need not hold the admin token. /metrics takes this token or the admin \
              token; with neither set it is open.",
        reload: true,
        apply: |c, v| c.metrics_token = Some(text(v)),
    },
    Setting {
        key: "insecure",
        flag: Some("--insecure"),
        env: Some("TORPOR_INSECURE"),
        kind: Kind::Bool,
        default: Some("false"),
        doc: "Allow a non-loopback listen address without runner and admin tokens (logged as a \
              warning at startup).",
        reload: false,
        apply: |c, v| c.insecure = flag(&v),
    },
    Setting {
        key: "log",
        flag: Some("--log"),
        env: Some("TORPOR_LOG"),
        kind: Kind::Text,
        default: Some("info"),
        doc: "Log filter in tracing's EnvFilter syntax, e.g. `info`, `warn,torpor_smol=debug`. \
              `info` tells each runner's, actor's and socket's story; `debug` adds requests.",
        reload: true,
        apply: |c, v| c.log = text(v),
    },
    Setting {
        key: "log_format",
        flag: Some("--log-format"),
        env: Some("TORPOR_LOG_FORMAT"),
        kind: Kind::Choice(&["human", "json"]),
        default: Some("human"),
        doc: "`human` lines, or `json`: one object per line with the span fields (request_id, \
              actor_id) flattened in, for log shippers.",
        reload: false,
        apply: |c, v| {
            c.log_format = if text(v) == "json" {
                LogFormat::Json
            } else {
                LogFormat::Human
            }
        },
    },
    Setting {
        key: "threads",
        flag: Some("--threads"),
        env: Some("TORPOR_THREADS"),
        kind: Kind::Count { min: 1, max: 256 },
        default: Some("1"),
        doc: "Executor threads. The core is one task, so more threads mostly add cross-thread \
              wake-ups (see BENCHMARKS.md); raise it for heavy per-connection work.",
        reload: false,
        apply: |c, v| c.threads = size(&v),
    },
    Setting {
        key: "namespaces",
        flag: None,
        env: None,
        kind: Kind::List,
        default: Some("[\"default\"]"),
        doc: "Namespaces that exist at startup (`default` is always added). More can be created \
              through POST /namespaces.",
        reload: false,
        apply: |c, v| {
            let mut namespaces = list(v);
            if !namespaces.iter().any(|n| n == "default") {
                namespaces.insert(0, "default".to_owned());
            }
            c.core.namespaces = namespaces;
        },
    },
    Setting {
        key: "http_header_timeout_ms",
        flag: None,
        env: None,
        kind: Kind::Millis {
            min: 1,
            max: 10 * 60 * SECOND,
        },
        default: Some("30000"),
        doc: "Time a client has to send a whole request head, counted from the connection's \
              start or its previous response (so it also ends idle keep-alive connections).",
        reload: false,
        apply: |c, v| c.http_header_timeout = ms(&v),
    },
    Setting {
        key: "allowed_origins",
        flag: None,
        env: Some("TORPOR_ALLOWED_ORIGINS"),
        kind: Kind::List,
        default: Some("[]"),
        doc: "Origins (`https://app.example.com`, exact, case-insensitive) whose browser \
              WebSockets the gateway accepts; others get 403 and count in \
              torpor_origin_rejects_total. Requests without an Origin header (non-browser \
              clients) are not affected. Empty: every origin.",
        reload: true,
        apply: |c, v| c.allowed_origins = list(v),
    },
    Setting {
        key: "max_connections_per_ip",
        flag: None,
        env: Some("TORPOR_MAX_CONNECTIONS_PER_IP"),
        kind: Kind::Count {
            min: 0,
            max: 1_000_000,
        },
        default: Some("0"),
        doc: "Most open connections (HTTP and WebSocket) from one client address; more are \
              answered 429 and count in torpor_ip_limit_rejects_total. Behind a trusted proxy, \
              the address is the one X-Forwarded-For names. 0: no limit.",
        reload: true,
        apply: |c, v| c.max_connections_per_ip = size(&v),
    },
    Setting {
        key: "trusted_proxies",
        flag: None,
        env: Some("TORPOR_TRUSTED_PROXIES"),
        kind: Kind::List,
        default: Some("[]"),
        doc: "Addresses of reverse proxies (e.g. `127.0.0.1`) whose X-Forwarded-For header \
              names the client: its last entry is used in logs and for max_connections_per_ip. \
              From other peers the header is ignored.",
        reload: true,
        // Entries are checked (each must be an IP address) when the configuration is resolved.
        apply: |c, v| c.trusted_proxies = list(v),
    },
    Setting {
        key: "gateway.seed",
        flag: None,
        env: None,
        kind: Kind::Seed,
        default: None,
        doc: "Seed of the gateway's randomness (actor ids, request ids, jitter). Unset: drawn \
              from the operating system's random source, so ids cannot be predicted. Set it \
              only for reproducible tests.",
        reload: false,
        apply: |c, v| c.seed = Some(int(&v)),
    },
    gateway_ms!(
        "runner_init_timeout_ms",
        runner_init_timeout,
        "5000",
        1,
        10 * 60 * SECOND,
        "A runner must send its init message this soon after connecting."
    ),
    gateway_ms!(
        "runner_ping_interval_ms",
        runner_ping_interval,
        "3000",
        1,
        10 * 60 * SECOND,
        "Interval between pings to each runner."
    ),
    gateway_ms!(
        "runner_pong_timeout_ms",
        runner_pong_timeout,
        "15000",
        1,
        10 * 60 * SECOND,
        "A runner whose last pong is older than this is disconnected (must exceed \
         runner_ping_interval_ms)."
    ),
    gateway_ms!(
        "runner_lost_threshold_ms",
        runner_lost_threshold,
        "15000",
        1,
        DAY,
        "A disconnected runner's actors are lost (and started elsewhere) after this unless the \
         same runner key reconnects. Sent to runners too."
    ),
    gateway_ms!(
        "actor_start_timeout_ms",
        actor_start_timeout,
        "30000",
        1,
        DAY,
        "An actor must report running this soon after its start command."
    ),
    gateway_ms!(
        "actor_stop_timeout_ms",
        actor_stop_timeout,
        "30000",
        1,
        DAY,
        "An actor must report stopped this soon after its stop command."
    ),
    gateway_ms!(
        "websocket_open_timeout_ms",
        websocket_open_timeout,
        "15000",
        1,
        DAY,
        "A runner must answer a WebSocket open this soon."
    ),
    gateway_ms!(
        "http_response_timeout_ms",
        http_response_timeout,
        "300000",
        1,
        DAY,
        "A runner must start an HTTP response this soon."
    ),
    gateway_ms!(
        "ack_timeout_ms",
        ack_timeout,
        "30000",
        1,
        DAY,
        "An attached hibernatable socket closes (1011 torpor.ack_timeout) when its oldest \
         un-acked message has waited this long."
    ),
    gateway_ms!(
        "wake_deadline_ms",
        wake_deadline,
        "90000",
        1,
        DAY,
        "Hibernating sockets close (1011 torpor.actor_wake_timeout) if their actor is not \
         running this long after a wake began."
    ),
    gateway_ms!(
        "hibernation_eligible_threshold_ms",
        hibernation_eligible_threshold,
        "90000",
        2 * SECOND,
        DAY,
        "Hibernation index rows older than this are garbage; live rows are refreshed every half \
         of it."
    ),
    gateway_ms!(
        "store_retry_base_ms",
        store_retry_base,
        "100",
        1,
        10 * 60 * SECOND,
        "First retry delay of a failed store write; doubles per attempt."
    ),
    gateway_ms!(
        "store_retry_max_ms",
        store_retry_max,
        "10000",
        1,
        DAY,
        "Longest delay between store retries."
    ),
    gateway_ms!(
        "crash_restart_delay_ms",
        crash_restart_delay,
        "1000",
        1,
        DAY,
        "An actor that crashes again within crash_streak_reset_ms restarts only after this \
         delay, doubled per further crash (the first crash restarts at once)."
    ),
    gateway_ms!(
        "crash_restart_delay_max_ms",
        crash_restart_delay_max,
        "30000",
        1,
        DAY,
        "Longest delay before a crash-looping actor starts again."
    ),
    gateway_ms!(
        "crash_streak_reset_ms",
        crash_streak_reset,
        "600000",
        1,
        DAY,
        "A crash this long after the previous one counts as the first again."
    ),
    gateway_size!(
        "socket_window_bytes",
        socket_window_bytes,
        Bytes,
        "4194304",
        1,
        4 * GIB,
        "Un-acked bytes one hibernatable socket may have outstanding before its reads pause."
    ),
    gateway_size!(
        "socket_window_messages",
        socket_window_messages,
        Count,
        "32767",
        1,
        32_767,
        "Un-acked messages one socket may have outstanding (at most 32767, half the index \
         space)."
    ),
    gateway_size!(
        "pending_budget_bytes",
        pending_budget_bytes,
        Bytes,
        "536870912",
        1,
        1 << 40,
        "Bytes held for actors across all sockets (un-acked plus queued) before reads pause; \
         also the budget for HTTP request bodies in flight."
    ),
    gateway_size!(
        "client_outbound_max_bytes",
        client_outbound_max_bytes,
        Bytes,
        "4194304",
        1,
        4 * GIB,
        "A client whose unsent actor → client bytes pass this does not read: its WebSocket \
         closes with 1008 torpor.client_too_slow, a streamed response is aborted."
    ),
    gateway_size!(
        "max_hibernating_per_actor",
        max_hibernating_per_actor,
        Count,
        "32768",
        1,
        10_000_000,
        "Most hibernatable sockets per actor; beyond it new ones close with 1013."
    ),
    gateway_size!(
        "max_forward_message_bytes",
        max_forward_message_bytes,
        Bytes,
        "20971520",
        1,
        32 << 20,
        "Largest client message forwarded to a runner; larger ones close with 1009 (the npm \
         runner refuses payloads over 20 MiB)."
    ),
    gateway_size!(
        "opening_buffer_bytes",
        opening_buffer_bytes,
        Bytes,
        "1048576",
        1,
        GIB,
        "Client bytes buffered per socket before the runner accepts its open; beyond it reads \
         pause."
    ),
    gateway_size!(
        "max_waiting_requests_per_actor",
        max_waiting_requests_per_actor,
        Count,
        "1024",
        1,
        10_000_000,
        "Most client requests queued per actor while it starts; beyond it new ones get 503."
    ),
    gateway_size!(
        "max_runners",
        max_runners,
        Count,
        "1024",
        1,
        1_000_000,
        "Most runner connections at once."
    ),
    gateway_size!(
        "max_clients",
        max_clients,
        Count,
        "1000000",
        1,
        100_000_000,
        "Most client connections (WebSockets and HTTP requests in flight) at once; more are \
         refused with 503."
    ),
    Setting {
        key: "gateway.wake_on_close",
        flag: None,
        env: None,
        kind: Kind::Bool,
        default: Some("true"),
        doc: "Wake an actor when a client closes its hibernating socket, so its close handler \
              runs promptly.",
        reload: true,
        apply: |c, v| c.core.wake_on_close = flag(&v),
    },
];

/// The setting with this file key.
pub(crate) fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The file key of a core [`torpor_core::Config`] field, for the core's validation errors.
pub(crate) fn key_of_core_field(field: &str) -> String {
    for candidate in [
        format!("gateway.{field}_ms"),
        format!("gateway.{field}"),
        field.to_owned(),
    ] {
        if find(&candidate).is_some() {
            return candidate;
        }
    }
    format!("gateway.{field}")
}

/// `localhost:PORT` (IPv4 loopback), or an IP socket address.
pub(crate) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{port}` is not a port number (0 to 65535)"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        format!(
            "`{s}` is not an address to listen on; write IP:PORT (`0.0.0.0:6420`, \
             `[::]:6420`) or localhost:PORT"
        )
    })
}

/// The usual spellings of a boolean in an environment variable.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

impl Kind {
    /// What the setting accepts, for error messages.
    pub(crate) fn expects(self) -> String {
        match self {
            Self::Millis { min, max } => format!("whole milliseconds from {min} to {max}"),
            Self::Bytes { min, max } => format!("a size in bytes from {min} to {max}"),
            Self::Count { min, max } => format!("a whole number from {min} to {max}"),
            Self::Seed => "a whole number (0 to 2^64-1)".to_owned(),
            Self::Bool => "true or false".to_owned(),
            Self::Secret | Self::Text => "a non-empty string".to_owned(),
            Self::Path => "a file path (a string)".to_owned(),
            Self::Listen => {
                "an address such as \"127.0.0.1:6420\" or \"localhost:6420\"".to_owned()
            }
            Self::Choice(words) => format!("one of {}", quoted(words)),
            Self::List => "a list of strings".to_owned(),
        }
    }

    /// Checks a number against the range.
    fn check_int(self, n: u64) -> Result<Value, String> {
        match self {
            Self::Millis { min, max } | Self::Bytes { min, max } | Self::Count { min, max }
                if !(min..=max).contains(&n) =>
            {
                Err(format!("{n} is out of range: expected {}", self.expects()))
            }
            _ => Ok(Value::Int(n)),
        }
    }

    /// Checks a string for the string kinds.
    fn check_text(self, s: &str) -> Result<Value, String> {
        match self {
            Self::Secret | Self::Text | Self::Path if s.is_empty() => Err(format!(
                "must not be empty (leave it out for the default){}",
                if self == Self::Secret {
                    "; an unset token disables its check"
                } else {
                    ""
                }
            )),
            Self::Listen => parse_listen(s).map(|_| Value::Text(s.to_owned())),
            Self::Choice(words) if !words.contains(&s) => {
                Err(format!("`{s}` is not allowed: expected {}", self.expects()))
            }
            _ => Ok(Value::Text(s.to_owned())),
        }
    }

    /// Parses a value given as text (a flag or an environment variable).
    pub(crate) fn parse_str(self, s: &str) -> Result<Value, String> {
        match self {
            Self::Millis { .. } | Self::Bytes { .. } | Self::Count { .. } | Self::Seed => {
                let n = s.trim().parse::<u64>().map_err(|_| {
                    format!("`{s}` is not a whole number: expected {}", self.expects())
                })?;
                self.check_int(n)
            }
            Self::Bool => parse_bool(s).map(Value::Bool).ok_or_else(|| {
                format!("`{s}` is not a boolean: expected 1, true, yes, on, 0, false, no or off")
            }),
            Self::List => Ok(Value::List(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            _ => self.check_text(s),
        }
    }

    /// Parses a value from the TOML file; the error says what was found instead.
    pub(crate) fn parse_toml(self, v: &toml::de::DeValue<'_>) -> Result<Value, String> {
        use toml::de::DeValue;
        let wrong = || format!("expected {}, found {}", self.expects(), v.type_str());
        match (self, v) {
            (
                Self::Millis { .. } | Self::Bytes { .. } | Self::Count { .. } | Self::Seed,
                DeValue::Integer(i),
            ) => {
                let digits = i.as_str().replace('_', "");
                let n = u64::from_str_radix(
                    digits
                        .trim_start_matches("0x")
                        .trim_start_matches("0o")
                        .trim_start_matches("0b")
                        .trim_start_matches('+'),
                    i.radix(),
                )
                .map_err(|_| {
                    format!(
                        "{} is out of range: expected {}",
                        i.as_str(),
                        self.expects()
                    )
                })?;
                self.check_int(n)
            }
            (Self::Bool, DeValue::Boolean(b)) => Ok(Value::Bool(*b)),
            (Self::List, DeValue::Array(items)) => items
                .iter()
                .map(|item| item.get_ref().as_str().map(str::to_owned).ok_or_else(wrong))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List),
            (
                Self::Secret | Self::Text | Self::Path | Self::Listen | Self::Choice(_),
                DeValue::String(s),
            ) => self.check_text(s),
            _ => Err(wrong()),
        }
    }
}

fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A commented TOML file with every setting at its default (`torpor config example`).
pub fn example() -> String {
    let mut out = String::from(
        "# torpor.toml: every setting with its default. Generated by `torpor config example`;\n\
         # check a file with `torpor config check FILE`. Precedence: --flag, then TORPOR_*\n\
         # environment variable, then this file, then the default. Settings marked\n\
         # \"Reloads on SIGHUP\" change in a running torpor on `kill -HUP`; the others need a\n\
         # restart.\n",
    );
    let mut section = "";
    for s in SETTINGS {
        let (sect, name) = s.key.split_once('.').unwrap_or(("", s.key));
        if sect != section {
            section = sect;
            out.push_str(&format!("\n[{sect}]\n"));
        }
        out.push('\n');
        for line in wrap(s.doc, 96) {
            out.push_str(&format!("# {line}\n"));
        }
        let mut facts = format!("Value: {}.", s.kind.expects());
        if let Some(f) = s.flag {
            facts.push_str(&format!(" Flag: {f}."));
        }
        if let Some(e) = s.env {
            facts.push_str(&format!(" Environment: {e}."));
        }
        facts.push_str(if s.reload {
            " Reloads on SIGHUP."
        } else {
            " Needs a restart."
        });
        for line in wrap(&facts, 96) {
            out.push_str(&format!("# {line}\n"));
        }
        match s.default {
            Some(d) => out.push_str(&format!("{name} = {}\n", toml_literal(s.kind, d))),
            None => out.push_str(&format!("# {name} = (unset)\n")),
        }
    }
    out
}

fn toml_literal(kind: Kind, default: &str) -> String {
    match kind {
        Kind::Secret | Kind::Text | Kind::Path | Kind::Listen | Kind::Choice(_) => {
            format!("\"{default}\"")
        }
        _ => default.to_owned(),
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
