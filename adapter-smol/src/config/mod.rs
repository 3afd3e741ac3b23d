//! The `torpor` command line, and `torpor serve`'s settings: flags, `TORPOR_*` environment
//! variables and an optional TOML file, resolved into one validated [`ServeConfig`].
//!
//! Precedence: flag, then environment variable, then the file, then the default. Every problem
//! is reported with the name the user wrote: the file key (with the file, line and column), the
//! flag or the environment variable, and what is allowed. The settings themselves are listed
//! once, in [`settings::SETTINGS`].

pub mod settings;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use settings::{SETTINGS, Setting, Value};

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
    /// Print or check a configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy a running torpor's database to a file (SQLite's online backup; torpor keeps
    /// serving).
    Backup(BackupArgs),
}

/// `torpor config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented file with every setting at its default.
    Example,
    /// Check a file: every key known, every value of the right type and in range.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

/// `torpor backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy (a new SQLite file; an existing file is replaced only with
    /// --force).
    pub dest: PathBuf,
    /// The running torpor.
    #[arg(
        long,
        env = "TORPOR_ADMIN_URL",
        default_value = "http://127.0.0.1:6420"
    )]
    pub url: String,
    /// Its admin token, if it has one.
    #[arg(long, env = "TORPOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Replace DEST if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// `torpor serve` flags. Each also reads the `TORPOR_*` variable named in its help, and a key
/// of the same name in the file; values are checked by the settings table, so the error names
/// the flag, the variable or the key that was wrong.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// TOML configuration file (`torpor config example` prints one) [env: TORPOR_CONFIG].
    #[arg(long, env = "TORPOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on: IP:PORT or localhost:PORT [default: 127.0.0.1:6420]
    /// [env: TORPOR_LISTEN].
    #[arg(long)]
    pub listen: Option<String>,
    /// SQLite database file [default: torpor.db] [env: TORPOR_DATABASE].
    #[arg(long)]
    pub database: Option<String>,
    /// Token runners must present (`rivet_token.<token>` subprotocol)
    /// [env: TORPOR_RUNNER_TOKEN].
    #[arg(long)]
    pub runner_token: Option<String>,
    /// Token the admin API requires (`Authorization: Bearer <token>`)
    /// [env: TORPOR_ADMIN_TOKEN].
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Token clients must present through the gateway; unset, the gateway is open
    /// [env: TORPOR_CLIENT_TOKEN].
    #[arg(long)]
    pub client_token: Option<String>,
    /// Token a Prometheus scrape of /metrics may present instead of the admin token
    /// [env: TORPOR_METRICS_TOKEN].
    #[arg(long)]
    pub metrics_token: Option<String>,
    /// Allow a non-loopback listen address without tokens [env: TORPOR_INSECURE=1].
    #[arg(long)]
    pub insecure: bool,
    /// Log format: human or json [default: human] [env: TORPOR_LOG_FORMAT].
    #[arg(long)]
    pub log_format: Option<String>,
    /// Log filter, e.g. `info` or `warn,torpor_smol=debug` [default: info] [env: TORPOR_LOG].
    #[arg(long)]
    pub log: Option<String>,
    /// Executor threads [default: 1] [env: TORPOR_THREADS].
    #[arg(long)]
    pub threads: Option<String>,
}

impl ServeArgs {
    /// The value given on the command line for a setting's flag.
    fn flag_value(&self, flag: &str) -> Option<String> {
        match flag {
            "--listen" => self.listen.clone(),
            "--database" => self.database.clone(),
            "--runner-token" => self.runner_token.clone(),
            "--admin-token" => self.admin_token.clone(),
            "--client-token" => self.client_token.clone(),
            "--metrics-token" => self.metrics_token.clone(),
            "--insecure" => self.insecure.then(|| "true".to_owned()),
            "--log-format" => self.log_format.clone(),
            "--log" => self.log.clone(),
            "--threads" => self.threads.clone(),
            _ => None,
        }
    }
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
    /// Token `/metrics` accepts besides the admin token.
    pub metrics_token: Option<String>,
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
    /// Origins whose browser WebSockets are accepted; empty: all.
    pub allowed_origins: Vec<String>,
    /// Most connections from one client address; 0: no limit.
    pub max_connections_per_ip: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed (IP addresses, checked).
    pub trusted_proxies: Vec<String>,
    /// Seed from the file, if any (else the server draws one from the OS).
    pub seed: Option<u64>,
    /// The core's configuration (validated).
    pub core: torpor_core::Config,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 6420)),
            database: PathBuf::from("torpor.db"),
            admin_token: None,
            client_token: None,
            metrics_token: None,
            insecure: false,
            log_format: LogFormat::Human,
            log: "info".to_owned(),
            threads: 1,
            http_header_timeout: DEFAULT_HTTP_HEADER_TIMEOUT,
            allowed_origins: Vec::new(),
            max_connections_per_ip: 0,
            trusted_proxies: Vec::new(),
            seed: None,
            core: torpor_core::Config::default(),
        }
    }
}

impl ServeConfig {
    /// The trusted proxies as addresses (validated when resolved).
    pub fn trusted_proxy_addrs(&self) -> Vec<IpAddr> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// `new` as a running server can take it: the settings a reload does not apply (those
    /// marked `reload: false` in [`settings::SETTINGS`]) keep `self`'s values. Returns the
    /// settings and the keys of those that changed but need a restart.
    pub fn reloadable(&self, mut new: Self) -> (Self, Vec<&'static str>) {
        let mut restart = Vec::new();
        let mut keep = |key: &'static str, changed: bool| {
            if changed {
                restart.push(key);
            }
        };
        keep("listen", self.listen != new.listen);
        keep("database", self.database != new.database);
        keep("insecure", self.insecure != new.insecure);
        keep("log_format", self.log_format != new.log_format);
        keep("threads", self.threads != new.threads);
        keep("namespaces", self.core.namespaces != new.core.namespaces);
        keep(
            "http_header_timeout_ms",
            self.http_header_timeout != new.http_header_timeout,
        );
        keep("gateway.seed", self.seed != new.seed);
        new.listen = self.listen;
        new.database = self.database.clone();
        new.insecure = self.insecure;
        new.log_format = self.log_format;
        new.threads = self.threads;
        new.core.namespaces = self.core.namespaces.clone();
        new.http_header_timeout = self.http_header_timeout;
        new.seed = self.seed;
        (new, restart)
    }
}

/// Where a bad value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A key of the file, at this line and column (1-based).
    File {
        /// The file.
        path: PathBuf,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env,
    /// The combination of settings (no single place).
    Resolved,
}

/// A setting that cannot be used, named as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (`gateway.ack_timeout_ms`), flag (`--listen`) or variable (`TORPOR_INSECURE`).
    pub setting: String,
    /// Where it was written.
    pub origin: Origin,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File { path, line, column } => write!(
                f,
                "{}:{line}:{column}: `{}`: {}",
                path.display(),
                self.setting,
                self.problem
            ),
            Origin::Flag => write!(f, "flag {}: {}", self.setting, self.problem),
            Origin::Env => write!(f, "environment variable {}: {}", self.setting, self.problem),
            Origin::Resolved => write!(f, "setting `{}`: {}", self.setting, self.problem),
        }
    }
}

impl std::error::Error for ConfigError {}

fn resolved_error(setting: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        origin: Origin::Resolved,
        problem: problem.into(),
    }
}

/// How long a client may take to send a request head, or stay idle between requests, before
/// its connection is closed: a connection that sends nothing must not hold a descriptor
/// forever.
pub const DEFAULT_HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The values a file set, checked, in file order.
#[derive(Debug, Default, Clone)]
pub struct FileValues {
    values: Vec<(&'static Setting, Value)>,
}

impl FileValues {
    /// Sets a value as if the file held it (tests and embedders).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let setting = settings::find(key).ok_or_else(|| resolved_error(key, "unknown key"))?;
        let value = setting
            .kind
            .parse_str(value)
            .map_err(|problem| resolved_error(key, problem))?;
        self.values.push((setting, value));
        Ok(())
    }
}

/// Reads and checks a TOML file.
pub fn read_file(path: &Path) -> Result<FileValues, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        setting: "--config".to_owned(),
        origin: Origin::Flag,
        problem: format!("cannot read {}: {e}", path.display()),
    })?;
    parse_file(&text, path)
}

/// Parses TOML text; `path` only names the file in errors.
pub fn parse_file(text: &str, path: &Path) -> Result<FileValues, ConfigError> {
    let at = |offset: usize| {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Origin::File {
            path: path.to_owned(),
            line,
            column,
        }
    };
    let doc = toml::de::DeTable::parse(text).map_err(|e| ConfigError {
        setting: "(syntax)".to_owned(),
        origin: at(e.span().map_or(0, |s| s.start)),
        problem: format!("not valid TOML: {}", e.message().trim()),
    })?;
    let mut out = FileValues::default();
    walk(doc.get_ref(), "", &at, &mut out)?;
    Ok(out)
}

fn walk(
    table: &toml::de::DeTable<'_>,
    prefix: &str,
    at: &dyn Fn(usize) -> Origin,
    out: &mut FileValues,
) -> Result<(), ConfigError> {
    for (key, value) in table {
        let full = format!("{prefix}{}", key.get_ref());
        if let toml::de::DeValue::Table(inner) = value.get_ref() {
            if prefix.is_empty()
                && SETTINGS
                    .iter()
                    .any(|s| s.key.starts_with(&format!("{full}.")))
            {
                walk(inner, &format!("{full}."), at, out)?;
                continue;
            }
        }
        let Some(setting) = settings::find(&full) else {
            return Err(ConfigError {
                problem: unknown_key_problem(&full),
                setting: full,
                origin: at(key.span().start),
            });
        };
        let parsed = setting
            .kind
            .parse_toml(value.get_ref())
            .map_err(|problem| ConfigError {
                setting: full.clone(),
                origin: at(value.span().start),
                problem,
            })?;
        out.values.push((setting, parsed));
    }
    Ok(())
}

/// "unknown key", with the likeliest meant key when one is close.
fn unknown_key_problem(key: &str) -> String {
    let name = key.rsplit('.').next().unwrap_or(key);
    let close = SETTINGS.iter().map(|s| s.key).find(|candidate| {
        let cand_name = candidate.rsplit('.').next().unwrap_or(candidate);
        cand_name == name
            || cand_name.strip_suffix("_ms") == Some(name)
            || cand_name.starts_with(name) && name.len() >= 4
            || edit_distance(cand_name, name) <= 2
    });
    match close {
        Some(c) => {
            format!("unknown key; did you mean `{c}`? (`torpor config example` lists every key)")
        }
        None => "unknown key (`torpor config example` lists every key)".to_owned(),
    }
}

/// Levenshtein distance, for suggesting a key; keys are short, so the quadratic table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

impl ServeArgs {
    /// Reads the file named by `--config` (if any) and the process environment, and resolves
    /// everything.
    pub fn resolve(&self) -> Result<ServeConfig, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileValues::default(),
        };
        self.resolve_with(&file, &|name| std::env::var(name).ok())
    }

    /// Resolves with an already-read file and an environment lookup.
    pub fn resolve_with(
        &self,
        file: &FileValues,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServeConfig, ConfigError> {
        let mut config = ServeConfig::default();
        for (setting, value) in &file.values {
            (setting.apply)(&mut config, value.clone());
        }
        for setting in SETTINGS {
            // An empty variable counts as unset, as container tools write `FOO=` for that.
            if let Some(name) = setting.env {
                if let Some(raw) = env(name).filter(|v| !v.is_empty()) {
                    let value = setting
                        .kind
                        .parse_str(&raw)
                        .map_err(|problem| ConfigError {
                            setting: name.to_owned(),
                            origin: Origin::Env,
                            problem,
                        })?;
                    (setting.apply)(&mut config, value);
                }
            }
            if let Some(flag) = setting.flag {
                if let Some(raw) = self.flag_value(flag) {
                    let value = setting
                        .kind
                        .parse_str(&raw)
                        .map_err(|problem| ConfigError {
                            setting: flag.to_owned(),
                            origin: Origin::Flag,
                            problem,
                        })?;
                    (setting.apply)(&mut config, value);
                }
            }
        }
        check(&config)?;
        Ok(config)
    }
}

/// The rules that involve more than one value, or the value's meaning.
fn check(c: &ServeConfig) -> Result<(), ConfigError> {
    c.core
        .validate()
        .map_err(|e| resolved_error(settings::key_of_core_field(e.field), e.problem))?;
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&c.log) {
        return Err(resolved_error("log", format!("not a log filter: {e}")));
    }
    if let Some(bad) = c
        .trusted_proxies
        .iter()
        .find(|p| p.parse::<IpAddr>().is_err())
    {
        return Err(resolved_error(
            "trusted_proxies",
            format!("`{bad}` is not an IP address (write e.g. \"127.0.0.1\" or \"::1\")"),
        ));
    }
    if let Some(bad) = c.allowed_origins.iter().find(|o| !is_origin(o)) {
        return Err(resolved_error(
            "allowed_origins",
            format!(
                "`{bad}` is not an origin: write scheme://host[:port] with no path, e.g. \
                 \"https://app.example.com\""
            ),
        ));
    }
    let open = c.core.runner_token.is_none() || c.admin_token.is_none();
    if !c.listen.ip().is_loopback() && open && !c.insecure {
        return Err(resolved_error(
            "listen",
            format!(
                "{} is not a loopback address and the runner and admin tokens are not both \
                 set; set runner_token and admin_token (--runner-token, --admin-token), or \
                 allow it with insecure = true (--insecure)",
                c.listen
            ),
        ));
    }
    Ok(())
}

fn is_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "+-.".contains(ch))
        && !rest.is_empty()
        && !rest.contains('/')
}

/// `torpor config check`: the file alone (flags and environment left out), fully resolved.
pub fn check_file(path: &Path) -> Result<ServeConfig, ConfigError> {
    let file = read_file(path)?;
    ServeArgs::default().resolve_with(&file, &|_| None)
}

#[cfg(test)]
mod tests;
