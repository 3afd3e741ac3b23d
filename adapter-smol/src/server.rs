//! [`Server`]: opens the store, restores the core, listens, and runs until shut down.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant as StdInstant};

use futures_util::FutureExt as _;
use smol::channel::Receiver;
use smol::future;
use smol::net::TcpListener;
use smol::{Executor, Timer};
use torpor_core::Gateway;
use torpor_sqlite::{Store, Writer};
use tracing::{error, info, warn};

use crate::auth::Policy;
use crate::body_budget::BodyBudget;
use crate::config::{ConfigError, ServeConfig};
use crate::http::{Shared, serve_connection};
use crate::hub::{Hub, now_since, wall};
use crate::links::Event;
use crate::metrics::AdapterMetrics;

/// Events queued for the core task before connection tasks wait.
const EVENT_QUEUE: usize = 8192;

/// Graceful shutdown ends within this, whatever the peers do.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug)]
pub enum ServeError {
    /// The database could not be opened or read.
    Store(String),
    /// The core refused the configuration.
    Core(String),
    /// The listen address could not be bound.
    Listen(SocketAddr, std::io::Error),
    /// Starting a thread (or another OS call) failed.
    Io(std::io::Error),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(m) => write!(f, "database: {m}"),
            Self::Core(m) => write!(f, "gateway: {m}"),
            Self::Listen(addr, e) => match e.kind() {
                std::io::ErrorKind::AddrInUse => write!(
                    f,
                    "cannot listen on {addr}: the address is already in use (another torpor, \
                     or another program, listens there; pick another with --listen)"
                ),
                std::io::ErrorKind::PermissionDenied => write!(
                    f,
                    "cannot listen on {addr}: permission denied (ports below 1024 need \
                     privileges; use a higher port behind a proxy)"
                ),
                std::io::ErrorKind::AddrNotAvailable => write!(
                    f,
                    "cannot listen on {addr}: no network interface has this address"
                ),
                _ => write!(f, "cannot listen on {addr}: {e}"),
            },
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// A bound, restored gateway, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    hub: Hub,
    events: Receiver<Event>,
    /// The settings in force (a reload is compared against them).
    config: ServeConfig,
}

impl Server {
    /// Opens (and migrates) the database, restores the registry, starts the store writer and
    /// binds the listen address. Tasks run on `ex`.
    pub async fn bind(config: ServeConfig, ex: Arc<Executor<'static>>) -> Result<Self, ServeError> {
        let store = Store::open(&config.database)
            // Every error of `Store::open` names the file.
            .map_err(|e| ServeError::Store(e.to_string()))?;
        let snapshot = store
            .snapshot()
            .map_err(|e| ServeError::Store(format!("reading the registry: {e}")))?;
        // OS randomness unless a seed is configured (tests): actor ids must not be guessable.
        let seed = match config.seed {
            Some(seed) => seed,
            None => getrandom::u64()
                .map_err(|e| ServeError::Core(format!("no OS randomness for the seed: {e}")))?,
        };
        let start = StdInstant::now();
        let now = now_since(start);
        let wall_now = wall();
        let mut gw = Gateway::new(config.core.clone(), seed, now, wall_now)
            .map_err(|e| ServeError::Core(e.to_string()))?;
        let actors = snapshot.actors.len();
        gw.restore(now, wall_now, snapshot)
            .map_err(|e| ServeError::Core(e.to_string()))?;
        let (events_tx, events) = smol::channel::bounded(EVENT_QUEUE);
        let store_tx = events_tx.clone();
        let writer = Writer::spawn(store, move |batch| {
            // Fails only once the core task has stopped; nothing waits for the result then.
            let _ = store_tx.send_blocking(Event::StoreDone(batch));
        })
        .map_err(ServeError::Io)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| ServeError::Listen(config.listen, e))?;
        let metrics = Arc::new(AdapterMetrics::default());
        let listen = listener.local_addr().map_err(ServeError::Io)?;
        let token = |t: &Option<String>| if t.is_some() { "required" } else { "open" };
        info!(
            %listen,
            database = %config.database.display(),
            namespaces = %config.core.namespaces.join(","),
            runner_token = token(&config.core.runner_token),
            admin_token = token(&config.admin_token),
            client_token = token(&config.client_token),
            metrics_token = if config.metrics_token.is_some() { "required" } else { token(&config.admin_token) },
            gateway_id = ?gw.gateway_id(),
            actors,
            version = env!("CARGO_PKG_VERSION"),
            "torpor ready"
        );
        if config.insecure && !listen.ip().is_loopback() {
            warn!(
                %listen,
                "--insecure: listening on a non-loopback address with the runner and/or admin \
                 token unset; anyone who can reach it can connect runners or use the API"
            );
        }
        let shared = Arc::new(Shared {
            ex,
            events: events_tx,
            metrics: Arc::clone(&metrics),
            policy: std::sync::RwLock::new(Policy::from_config(&config)),
            ip_limiter: Arc::default(),
            database: config.database.clone(),
            next_id: AtomicU64::new(1),
            live_sockets: Arc::new(AtomicUsize::new(0)),
            // Request bodies get an account of the same size as the core's budget for bytes
            // held for actors.
            body_budget: BodyBudget::new(config.core.pending_budget_bytes),
            http_header_timeout: config.http_header_timeout,
            public_url: format!("http://{}/", listener.local_addr().map_err(ServeError::Io)?),
            runner_configs: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        });
        Ok(Self {
            listener,
            hub: Hub::new(gw, start, writer, metrics),
            shared,
            events,
            config,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting, closes clients with 1012 and
    /// runners with a close frame, flushes the store and returns (within [`SHUTDOWN_LIMIT`]).
    /// Each configuration from `reloads` is applied as far as it can be without a restart.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
        reloads: Receiver<Result<ServeConfig, ConfigError>>,
    ) {
        let Self {
            listener,
            shared,
            hub,
            events,
            config,
        } = self;
        let ex = Arc::clone(&shared.ex);
        let core = ex.spawn(async move {
            // The core is the gateway: if it panicked, its state cannot be trusted, and serving
            // on without it would answer every request with 503. Exit, so a supervisor
            // restarts the process (the store is consistent: every batch is one transaction).
            if AssertUnwindSafe(hub.run(events))
                .catch_unwind()
                .await
                .is_err()
            {
                error!("the core task panicked; exiting");
                std::process::exit(70);
            }
        });
        // A task of its own: inside this future, the listener would be polled (and its
        // readiness re-armed with a syscall) every time any task in the executor woke.
        let accept = ex.spawn({
            let ex = Arc::clone(&ex);
            let shared = Arc::clone(&shared);
            async move {
                loop {
                    match listener.accept().await {
                        Ok((tcp, peer)) => {
                            // Small frames (acks, pings) must not wait for Nagle.
                            let _ = tcp.set_nodelay(true);
                            // Boxed: a finished task's allocation lives on while anything
                            // still holds one of its wakers (an upgraded connection's socket
                            // can, for its whole life), and boxed it is a header and a
                            // pointer instead of hyper's whole connection state.
                            let conn = Box::pin(serve_connection(Arc::clone(&shared), tcp, peer));
                            ex.spawn(conn).detach();
                        }
                        Err(e) => {
                            // Out of descriptors and the like: back off instead of spinning.
                            warn!(error = %e, "accept failed");
                            Timer::after(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        });
        let reload = ex.spawn({
            let shared = Arc::clone(&shared);
            async move {
                let mut current = config;
                while let Ok(next) = reloads.recv().await {
                    current = apply_reload(&shared, current, next).await;
                }
            }
        });
        shutdown.await;
        reload.cancel().await;
        // The cancelled task has dropped the listener: no new connections from here on.
        accept.cancel().await;
        info!("shutting down");
        let deadline = StdInstant::now() + SHUTDOWN_LIMIT - Duration::from_millis(500);
        let _ = shared.events.send(Event::Shutdown).await;
        future::or(core, async {
            Timer::at(deadline).await;
            warn!("core task did not stop in time");
        })
        .await;
        // Let the close frames go out: sockets end when peers answer or the grace runs out.
        while shared.live_sockets.load(Ordering::Relaxed) > 0 && StdInstant::now() < deadline {
            Timer::after(Duration::from_millis(20)).await;
        }
        info!(
            left_open = shared.live_sockets.load(Ordering::Relaxed),
            "stopped"
        );
    }
}

/// Applies what a reload can change in a running server (tokens, origins, limits, the log
/// filter, the core's timeouts and limits) and logs what needs a restart. An invalid file
/// changes nothing. Returns the settings now in force.
async fn apply_reload(
    shared: &Shared,
    current: ServeConfig,
    next: Result<ServeConfig, ConfigError>,
) -> ServeConfig {
    let next = match next {
        Ok(next) => next,
        Err(e) => {
            shared
                .metrics
                .config_reload_failures
                .fetch_add(1, Ordering::Relaxed);
            error!(error = %e, "configuration not reloaded: the file is invalid; nothing changed");
            return current;
        }
    };
    // What is running keeps running: the settings a reload cannot apply stay as they were.
    let (next, restart) = current.reloadable(next);
    if !restart.is_empty() {
        warn!(
            settings = %restart.join(", "),
            "these settings changed but apply only after a restart; they keep their old values"
        );
    }
    if let Err(e) = crate::logging::set_filter(&next.log) {
        warn!(error = %e, "log filter not reloaded");
    }
    let policy = Policy::from_config(&next);
    match shared.policy.write() {
        Ok(mut p) => *p = policy,
        Err(poisoned) => *poisoned.into_inner() = policy,
    }
    let _ = shared
        .events
        .send(Event::Reconfigure(Box::new(next.core.clone())))
        .await;
    shared
        .metrics
        .config_reloads
        .fetch_add(1, Ordering::Relaxed);
    info!(log = %next.log, "configuration reloaded");
    next
}
