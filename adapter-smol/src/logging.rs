//! `tracing` output: human lines by default, one JSON object per line with `--log-format json`.
//! The filter can be replaced while running (SIGHUP reloads `log`).

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Replaces the filter of the installed subscriber.
type SetFilter = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

static FILTER: OnceLock<SetFilter> = OnceLock::new();

/// Installs the global subscriber. Fails if the filter does not parse.
pub fn init(format: LogFormat, filter: &str) -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("invalid log filter: {e}"))?;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let _ = FILTER.set(Box::new(move |f| {
        handle.reload(f).map_err(|e| e.to_string())
    }));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Human => registry.with(lines).try_init(),
        LogFormat::Json => registry.with(lines.json().flatten_event(true)).try_init(),
    };
    result.map_err(|e| format!("installing the logger: {e}"))
}

/// Applies a new filter, if [`init`] installed the subscriber (tests run without one).
pub fn set_filter(filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("invalid log filter: {e}"))?;
    match FILTER.get() {
        Some(set) => set(filter),
        None => Ok(()),
    }
}
