//! `torpor serve` settings: command-line flags, `TORPOR_*` environment variables and an optional
//! TOML file, resolved into one validated [`ServeConfig`].
//!
//! Precedence: flag or environment variable, then the file, then the defaults. Every problem is
//! reported with the name of the setting at fault.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// The `torpor` command line.
#[derive(Debug, Parser)]
#[command(
    name = "torpor",
    version,
    about = "A WebSocket hibernation gateway for Rivet runners"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// `torpor serve` flags; each also reads a `TORPOR_*` environment variable.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:6420].
    #[arg(long, env = "TORPOR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// SQLite database file [default: ./torpor.db].
    #[arg(long, env = "TORPOR_DATABASE")]
    pub database: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "TORPOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Token runners must present (`rivet_token.<token>` subprotocol).
    #[arg(long, env = "TORPOR_RUNNER_TOKEN", hide_env_values = true)]
    pub runner_token: Option<String>,
    /// Token the admin API requires (`Authorization: Bearer <token>`).
    #[arg(long, env = "TORPOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Token clients must present through the gateway (`/gateway/{id}@{token}/`,
    /// `x-rivet-token` or a `rivet_token.<token>` subprotocol) and on `GET`/`POST`/`PUT
    /// /actors`; the admin token is accepted there too. Unset: the gateway is open.
    #[arg(long, env = "TORPOR_CLIENT_TOKEN", hide_env_values = true)]
    pub client_token: Option<String>,
    /// Allow a non-loopback listen address without tokens.
    #[arg(long, env = "TORPOR_INSECURE")]
    pub insecure: bool,
    /// Log format [default: human].
    #[arg(long, env = "TORPOR_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `torpor=debug` [default: info].
    #[arg(long, env = "TORPOR_LOG")]
    pub log: Option<String>,
    /// Executor threads [default: 1]. The core is one task, so more threads mostly add
    /// cross-thread wake-ups (see BENCHMARKS.md); raise it for heavy per-connection work.
    #[arg(long, env = "TORPOR_THREADS")]
    pub threads: Option<usize>,
}

/// The TOML file. Unknown keys are errors, so a typo never silently falls back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// SQLite database file.
    pub database: Option<PathBuf>,
    /// Runner token.
    pub runner_token: Option<String>,
    /// Admin token.
    pub admin_token: Option<String>,
    /// Client token (gateway and client actor routes).
    pub client_token: Option<String>,
    /// Allow a non-loopback address without tokens.
    pub insecure: Option<bool>,
    /// Log format.
    pub log_format: Option<LogFormat>,
    /// Log filter.
    pub log: Option<String>,
    /// Executor threads.
    pub threads: Option<usize>,
    /// Time a client has to send a whole request head, counted from the connection's start
    /// or its previous response (so it also ends idle keep-alive connections) [default: 30 s].
    pub http_header_timeout_ms: Option<u64>,
    /// Namespaces runners may join (`default` is always added).
    pub namespaces: Option<Vec<String>>,
    /// Gateway timing and limits.
    #[serde(default)]
    pub gateway: GatewaySection,
}

/// `[gateway]`: the core's knobs. Durations are whole milliseconds (`*_ms`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Seed for the gateway's randomness; drawn from the OS when absent.
    pub seed: Option<u64>,
    /// `ToServerInit` deadline.
    pub runner_init_timeout_ms: Option<u64>,
    /// Ping interval.
    pub runner_ping_interval_ms: Option<u64>,
    /// Pong deadline.
    pub runner_pong_timeout_ms: Option<u64>,
    /// Disconnect duration after which a runner's actors are lost.
    pub runner_lost_threshold_ms: Option<u64>,
    /// `Running` deadline.
    pub actor_start_timeout_ms: Option<u64>,
    /// `Stopped` deadline.
    pub actor_stop_timeout_ms: Option<u64>,
    /// WebSocket open deadline.
    pub websocket_open_timeout_ms: Option<u64>,
    /// HTTP response-start deadline.
    pub http_response_timeout_ms: Option<u64>,
    /// Ack timeout of attached hibernatable sockets.
    pub ack_timeout_ms: Option<u64>,
    /// Wake deadline of hibernating sockets.
    pub wake_deadline_ms: Option<u64>,
    /// Hibernation index eligibility threshold.
    pub hibernation_eligible_threshold_ms: Option<u64>,
    /// Un-acked bytes per socket.
    pub socket_window_bytes: Option<usize>,
    /// Un-acked messages per socket (at most 32,767).
    pub socket_window_messages: Option<usize>,
    /// Bytes held for clients across all sockets.
    pub pending_budget_bytes: Option<usize>,
    /// Per-socket actor → client queue before `torpor.client_too_slow`.
    pub client_outbound_max_bytes: Option<usize>,
    /// Hibernatable sockets per actor.
    pub max_hibernating_per_actor: Option<usize>,
    /// Largest client message forwarded to a runner.
    pub max_forward_message_bytes: Option<usize>,
    /// Most runner connections.
    pub max_runners: Option<usize>,
    /// Most client connections.
    pub max_clients: Option<usize>,
    /// Wake an actor when a client closes its hibernating socket.
    pub wake_on_close: Option<bool>,
}

/// Everything `torpor serve` needs, resolved and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Database file.
    pub database: PathBuf,
    /// Admin API token.
    pub admin_token: Option<String>,
    /// Client token: the gateway and the client's actor routes need it when set.
    pub client_token: Option<String>,
    /// A non-loopback address without tokens was explicitly allowed.
    pub insecure: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log: String,
    /// Executor threads (at least 1).
    pub threads: usize,
    /// Time a client has to send a whole request head (also ends idle keep-alive connections).
    pub http_header_timeout: Duration,
    /// Seed from the file, if any (else the adapter draws one from the OS).
    pub seed: Option<u64>,
    /// The core's configuration (validated).
    pub core: torpor_core::Config,
}

/// A setting that cannot be used, with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting, as named on the command line or in the file.
    pub setting: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting `{}`: {}", self.setting, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn error(setting: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        problem: problem.into(),
    }
}

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:6420";

/// How long a client may take to send a request head, or stay idle between requests, before
/// its connection is closed: a connection that sends nothing must not hold a descriptor
/// forever.
pub const DEFAULT_HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

impl ServeArgs {
    /// Reads the file named by `--config` (if any) and resolves everything.
    pub fn resolve(&self) -> Result<ServeConfig, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        self.resolve_with(file)
    }

    /// Resolves with an already-parsed file.
    pub fn resolve_with(&self, file: FileConfig) -> Result<ServeConfig, ConfigError> {
        let listen = match self.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| error("listen", "bad default"))?,
        };
        let mut core = torpor_core::Config::default();
        if let Some(mut namespaces) = file.namespaces {
            if !namespaces.iter().any(|n| n == "default") {
                namespaces.insert(0, "default".to_owned());
            }
            core.namespaces = namespaces;
        }
        core.runner_token = self.runner_token.clone().or(file.runner_token);
        let admin_token = self.admin_token.clone().or(file.admin_token);
        let client_token = self.client_token.clone().or(file.client_token);
        for (name, token) in [
            ("runner_token", &core.runner_token),
            ("admin_token", &admin_token),
            ("client_token", &client_token),
        ] {
            if token.as_deref() == Some("") {
                return Err(error(
                    name,
                    "must not be empty (omit it to disable the check)",
                ));
            }
        }
        apply_gateway(&mut core, &file.gateway);
        core.validate()
            .map_err(|e| error(format!("gateway.{}", e.field), e.problem))?;
        let threads = match self.threads.or(file.threads) {
            Some(0) => return Err(error("threads", "must be at least 1")),
            Some(n) => n,
            None => 1,
        };
        let http_header_timeout = match file.http_header_timeout_ms {
            Some(0) => return Err(error("http_header_timeout_ms", "must be at least 1")),
            Some(ms) => Duration::from_millis(ms),
            None => DEFAULT_HTTP_HEADER_TIMEOUT,
        };
        let insecure = self.insecure || file.insecure.unwrap_or(false);
        let open = core.runner_token.is_none() || admin_token.is_none();
        if !listen.ip().is_loopback() && open && !insecure {
            return Err(error(
                "listen",
                format!(
                    "{listen} is not a loopback address and no runner and admin tokens are set; \
                     set --runner-token and --admin-token, or pass --insecure"
                ),
            ));
        }
        Ok(ServeConfig {
            listen,
            database: self
                .database
                .clone()
                .or(file.database)
                .unwrap_or_else(|| PathBuf::from("torpor.db")),
            admin_token,
            client_token,
            insecure,
            log_format: self
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Human),
            log: self
                .log
                .clone()
                .or(file.log)
                .unwrap_or_else(|| "info".to_owned()),
            threads,
            http_header_timeout,
            seed: file.gateway.seed,
            core,
        })
    }
}

/// Parses a TOML configuration file.
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| error("config", format!("cannot read {}: {e}", path.display())))?;
    parse_file(&text).map_err(|e| error(format!("config ({})", path.display()), e.problem))
}

/// Parses TOML text; the error names the offending key where TOML can tell.
pub fn parse_file(text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| error("config", e.message().to_owned()))
}

fn ms(v: Option<u64>, slot: &mut Duration) {
    if let Some(v) = v {
        *slot = Duration::from_millis(v);
    }
}

fn set<T: Copy>(v: Option<T>, slot: &mut T) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn apply_gateway(c: &mut torpor_core::Config, g: &GatewaySection) {
    ms(g.runner_init_timeout_ms, &mut c.runner_init_timeout);
    ms(g.runner_ping_interval_ms, &mut c.runner_ping_interval);
    ms(g.runner_pong_timeout_ms, &mut c.runner_pong_timeout);
    ms(g.runner_lost_threshold_ms, &mut c.runner_lost_threshold);
    ms(g.actor_start_timeout_ms, &mut c.actor_start_timeout);
    ms(g.actor_stop_timeout_ms, &mut c.actor_stop_timeout);
    ms(g.websocket_open_timeout_ms, &mut c.websocket_open_timeout);
    ms(g.http_response_timeout_ms, &mut c.http_response_timeout);
    ms(g.ack_timeout_ms, &mut c.ack_timeout);
    ms(g.wake_deadline_ms, &mut c.wake_deadline);
    ms(
        g.hibernation_eligible_threshold_ms,
        &mut c.hibernation_eligible_threshold,
    );
    set(g.socket_window_bytes, &mut c.socket_window_bytes);
    set(g.socket_window_messages, &mut c.socket_window_messages);
    set(g.pending_budget_bytes, &mut c.pending_budget_bytes);
    set(
        g.client_outbound_max_bytes,
        &mut c.client_outbound_max_bytes,
    );
    set(
        g.max_hibernating_per_actor,
        &mut c.max_hibernating_per_actor,
    );
    set(
        g.max_forward_message_bytes,
        &mut c.max_forward_message_bytes,
    );
    set(g.max_runners, &mut c.max_runners);
    set(g.max_clients, &mut c.max_clients);
    set(g.wake_on_close, &mut c.wake_on_close);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let mut argv = vec!["torpor", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).expect("arguments parse").command {
            Command::Serve(a) => a,
        }
    }

    #[test]
    fn defaults_listen_on_loopback_with_the_default_database() {
        let c = serve(&[]).resolve_with(FileConfig::default()).unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(c.database, PathBuf::from("torpor.db"));
        assert_eq!((c.log_format, c.log.as_str()), (LogFormat::Human, "info"));
        assert_eq!(c.core, torpor_core::Config::default());
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file = parse_file(
            r#"
            listen = "127.0.0.1:7000"
            database = "/tmp/file.db"
            log_format = "json"
            namespaces = ["staging"]
            [gateway]
            ack_timeout_ms = 5000
            socket_window_messages = 16
            wake_on_close = false
            "#,
        )
        .unwrap();
        let c = serve(&["--database", "/tmp/flag.db"])
            .resolve_with(file)
            .unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(c.database, PathBuf::from("/tmp/flag.db"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            c.core.namespaces,
            vec!["default".to_owned(), "staging".to_owned()]
        );
        assert_eq!(c.core.ack_timeout, Duration::from_secs(5));
        assert_eq!(c.core.socket_window_messages, 16);
        assert!(!c.core.wake_on_close);
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let err = parse_file("[gateway]\nack_timeout = 5\n").unwrap_err();
        assert!(err.problem.contains("ack_timeout"), "{err}");
        let err = parse_file("listne = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(err.problem.contains("listne"), "{err}");
    }

    #[test]
    fn core_validation_errors_name_the_gateway_setting() {
        let file = parse_file("[gateway]\nsocket_window_messages = 40000\n").unwrap();
        let err = serve(&[]).resolve_with(file).unwrap_err();
        assert_eq!(err.setting, "gateway.socket_window_messages");
        let file = parse_file("[gateway]\nrunner_pong_timeout_ms = 1000\n").unwrap();
        assert_eq!(
            serve(&[]).resolve_with(file).unwrap_err().setting,
            "gateway.runner_pong_timeout"
        );
    }

    #[test]
    fn a_public_address_needs_both_tokens_or_insecure() {
        let public = ["--listen", "0.0.0.0:6420"];
        let err = serve(&public)
            .resolve_with(FileConfig::default())
            .unwrap_err();
        assert_eq!(err.setting, "listen");
        assert!(err.problem.contains("--insecure"), "{err}");
        let only_runner = serve(&["--listen", "0.0.0.0:6420", "--runner-token", "r"]);
        assert_eq!(
            only_runner
                .resolve_with(FileConfig::default())
                .unwrap_err()
                .setting,
            "listen"
        );
        let both = serve(&[
            "--listen",
            "0.0.0.0:6420",
            "--runner-token",
            "r",
            "--admin-token",
            "a",
        ]);
        let c = both.resolve_with(FileConfig::default()).unwrap();
        assert_eq!(
            (c.core.runner_token.as_deref(), c.admin_token.as_deref()),
            (Some("r"), Some("a"))
        );
        let insecure = serve(&["--listen", "0.0.0.0:6420", "--insecure"]);
        assert!(
            insecure
                .resolve_with(FileConfig::default())
                .unwrap()
                .insecure
        );
    }

    #[test]
    fn empty_tokens_are_refused() {
        let err = serve(&["--admin-token", ""])
            .resolve_with(FileConfig::default())
            .unwrap_err();
        assert_eq!(err.setting, "admin_token");
        let err = serve(&["--runner-token", ""])
            .resolve_with(FileConfig::default())
            .unwrap_err();
        assert_eq!(err.setting, "runner_token");
        let file = parse_file("client_token = \"\"\n").unwrap();
        let err = serve(&[]).resolve_with(file).unwrap_err();
        assert_eq!(err.setting, "client_token");
    }

    #[test]
    fn the_client_token_comes_from_the_flag_or_the_file() {
        let file = parse_file("client_token = \"from-file\"\n").unwrap();
        let c = serve(&[]).resolve_with(file).unwrap();
        assert_eq!(c.client_token.as_deref(), Some("from-file"));
        let file = parse_file("client_token = \"from-file\"\n").unwrap();
        let c = serve(&["--client-token", "flag"])
            .resolve_with(file)
            .unwrap();
        assert_eq!(c.client_token.as_deref(), Some("flag"));
        let c = serve(&[]).resolve_with(FileConfig::default()).unwrap();
        assert_eq!(c.client_token, None);
    }

    #[test]
    fn threads_default_to_one_and_zero_is_refused() {
        let cfg = serve(&[]).resolve_with(FileConfig::default()).unwrap();
        assert_eq!(cfg.threads, 1);
        let cfg = serve(&["--threads", "3"])
            .resolve_with(FileConfig::default())
            .unwrap();
        assert_eq!(cfg.threads, 3);
        let err = serve(&["--threads", "0"])
            .resolve_with(FileConfig::default())
            .unwrap_err();
        assert_eq!(err.setting, "threads");
    }

    #[test]
    fn the_http_header_timeout_defaults_to_thirty_seconds_and_zero_is_refused() {
        let cfg = serve(&[]).resolve_with(FileConfig::default()).unwrap();
        assert_eq!(cfg.http_header_timeout, Duration::from_secs(30));
        let file = parse_file("http_header_timeout_ms = 250").unwrap();
        let cfg = serve(&[]).resolve_with(file).unwrap();
        assert_eq!(cfg.http_header_timeout, Duration::from_millis(250));
        let file = parse_file("http_header_timeout_ms = 0").unwrap();
        let err = serve(&[]).resolve_with(file).unwrap_err();
        assert_eq!(err.setting, "http_header_timeout_ms");
    }

    #[test]
    fn bad_flag_values_are_rejected_by_the_parser() {
        let argv = ["torpor", "serve", "--listen", "not-an-address"];
        assert!(Cli::try_parse_from(argv).is_err());
        let argv = ["torpor", "serve", "--log-format", "xml"];
        assert!(Cli::try_parse_from(argv).is_err());
    }
}
