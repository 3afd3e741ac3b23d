//! `torpor-load`: Torpor side by side with a direct echo server. See BENCHMARKS.md.
//!
//! Every scenario starts a fresh `torpor serve` (release build, temporary database) with an
//! in-process Rust runner hosting echo actors, and — where it has one — the same clients
//! against a direct smol + async-tungstenite echo server in its own process.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use smol::Executor;
use torpor_benches::load::clients::{connect, echo_window, one_round_trip, ping_pong};
use torpor_benches::load::procs;
use torpor_benches::load::stats::{Latencies, cpu_time, micros, rss_bytes};
use torpor_benches::load::{admin, echo_server};
use torpor_runner_kit::{RunnerConfig, RunnerEvent, TestRunner};

#[derive(Parser)]
#[command(
    name = "torpor-load",
    about = "Load scenarios for Torpor (see BENCHMARKS.md)"
)]
struct Cli {
    /// The gateway binary [default: `torpor` next to this program].
    #[arg(long, global = true)]
    gateway_bin: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Scenario(Scenario),
    #[command(flatten)]
    Helper(Helper),
}

#[derive(Subcommand)]
enum Scenario {
    /// (a) Throughput: clients × window × size-byte messages for some seconds.
    Throughput {
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 16)]
        window: usize,
        #[arg(long, default_value_t = 32)]
        size: usize,
        /// Seconds per side per round.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Rounds; each runs the gateway, the direct echo and the relay in turn.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// (b) One client, one message at a time.
    Latency {
        /// Round trips per side per round.
        #[arg(long, default_value_t = 5000)]
        messages: usize,
        /// Rounds; each runs the gateway, the direct echo and the relay in turn.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// (c) Wake latency: hibernating sockets on a sleeping actor, one message wakes it.
    Wake {
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        #[arg(long, default_value_t = 100)]
        wakes: usize,
    },
    /// (d) Hibernating sockets held steady: gateway RSS per socket and keepalive CPU.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// (e) Time to open sockets (100 at a time).
    Open {
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
    },
}

/// The child processes the scenarios start; each prints its address once ready.
#[derive(Subcommand)]
enum Helper {
    /// The direct echo server (started by the scenarios as a child process).
    #[command(hide = true)]
    EchoServer,
    /// A Rust runner hosting echo actors for the gateway at this address (started by the
    /// scenarios).
    #[command(hide = true)]
    Runner {
        #[arg(long)]
        gateway: std::net::SocketAddr,
    },
    /// The bare relay in front of an echo server (started by the scenarios).
    #[command(hide = true)]
    Relay {
        #[arg(long)]
        upstream: std::net::SocketAddr,
    },
}

fn main() {
    let cli = Cli::parse();
    let bin = cli.gateway_bin.unwrap_or_else(procs::default_gateway_bin);
    let result = match cli.command {
        Command::Helper(helper) => {
            // smol's global executor has one thread, which also waits for I/O when idle: the
            // helper runs wholly on it, as the gateway does by default, so no side of a
            // comparison pays for cross-thread wake-ups. This thread only waits for the end.
            smol::future::block_on(smol::spawn(serve_helper(helper)))
        }
        Command::Scenario(scenario) => run_scenario(scenario, &bin),
    };
    if let Err(e) = result {
        eprintln!("torpor-load: {e}");
        std::process::exit(1);
    }
}

async fn serve_helper(helper: Helper) -> Result<(), String> {
    match helper {
        Helper::EchoServer => {
            let (listener, addr) = echo_server::bind().await.map_err(|e| e.to_string())?;
            println!("{addr}");
            echo_server::serve(listener).await;
        }
        Helper::Relay { upstream } => {
            let (listener, addr) = echo_server::bind().await.map_err(|e| e.to_string())?;
            println!("{addr}");
            echo_server::serve_relay(listener, upstream).await;
        }
        Helper::Runner { gateway } => {
            let runner = TestRunner::connect(runner_config(gateway))
                .await
                .map_err(|e| e.0)?;
            println!("{gateway}");
            // Ends with the gateway (the scenario is over) or when killed.
            runner.closed().await;
        }
    }
    Ok(())
}

/// The load process: clients on one executor thread per core.
fn run_scenario(scenario: Scenario, bin: &std::path::Path) -> Result<(), String> {
    let fd_limit = procs::raise_fd_limit();
    match &scenario {
        Scenario::Idle { sockets, .. }
        | Scenario::Open { sockets }
        | Scenario::Wake { sockets, .. } => procs::check_fd_limit(*sockets, fd_limit)?,
        _ => {}
    }
    let ex = Arc::new(Executor::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (stop, stopped) = smol::channel::unbounded::<()>();
    for _ in 1..threads {
        let ex = Arc::clone(&ex);
        let stopped = stopped.clone();
        std::thread::spawn(move || smol::block_on(ex.run(stopped.recv())));
    }
    let result = smol::block_on(ex.run(async {
        match scenario {
            Scenario::Throughput {
                clients,
                window,
                size,
                seconds,
                rounds,
            } => {
                let shape = Window {
                    clients,
                    window,
                    size,
                    seconds,
                };
                throughput(&ex, bin, shape, rounds).await
            }
            Scenario::Latency { messages, rounds } => latency(bin, messages, rounds).await,
            Scenario::Wake { sockets, wakes } => wake(&ex, bin, sockets, wakes).await,
            Scenario::Idle { sockets, seconds } => idle(&ex, bin, sockets, seconds).await,
            Scenario::Open { sockets } => open(&ex, bin, sockets).await,
        }
    }));
    drop(stop);
    result
}

/// A gateway with a runner hosting `actors` echo actors.
struct Setup {
    gw: procs::GatewayProcess,
    runner: Host,
    actors: Vec<String>,
    _dir: TempDir,
}

/// Where the runner runs. The throughput and latency comparisons give it a process of its
/// own, like the echo server and the relay, so every side's server CPU is its own processes'
/// and the load process holds only clients. The wake scenarios drive it (sleep an actor), so
/// it runs in this process there.
enum Host {
    Here(TestRunner),
    Child(procs::Proc),
}

impl Setup {
    fn runner(&self) -> Result<&TestRunner, String> {
        match &self.runner {
            Host::Here(r) => Ok(r),
            Host::Child(_) => Err("the runner runs in another process".into()),
        }
    }

    /// The processes doing the gateway side's echo.
    fn pids(&self) -> Vec<u32> {
        match &self.runner {
            Host::Here(_) => vec![self.gw.pid()],
            Host::Child(p) => vec![self.gw.pid(), p.pid()],
        }
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn runner_config(gateway: std::net::SocketAddr) -> RunnerConfig {
    let mut config = RunnerConfig::new(format!("ws://{gateway}"));
    config.record_messages = false;
    config
}

async fn setup(bin: &std::path::Path, actors: usize, own_process: bool) -> Result<Setup, String> {
    let dir = TempDir(std::env::temp_dir().join(format!("torpor-load-{}", std::process::id())));
    let gw = procs::gateway(bin, &dir.0).map_err(|e| format!("{}: {e}", bin.display()))?;
    let runner = if own_process {
        Host::Child(procs::runner(gw.addr).map_err(|e| format!("runner: {e}"))?)
    } else {
        Host::Here(
            TestRunner::connect(runner_config(gw.addr))
                .await
                .map_err(|e| e.0)?,
        )
    };
    let mut ids = Vec::new();
    for i in 0..actors {
        ids.push(admin::create_actor(gw.addr, "echo", &format!("load-{i}")).await?);
    }
    Ok(Setup {
        gw,
        runner,
        actors: ids,
        _dir: dir,
    })
}

fn cpu(pid: u32) -> Duration {
    cpu_time(pid).unwrap_or_default()
}

/// The shape of a throughput run.
#[derive(Clone, Copy)]
struct Window {
    clients: usize,
    window: usize,
    size: usize,
    seconds: u64,
}

/// One way to reach an echo: through the gateway, directly, or through the bare relay.
struct Side<R> {
    name: &'static str,
    /// Where client `i` connects (throughput), or the one client's URL.
    url: Box<dyn Fn(usize) -> String>,
    /// The processes doing the echo, for their CPU time.
    pids: Vec<u32>,
    runs: Vec<R>,
}

impl<R> Side<R> {
    fn new(name: &'static str, url: impl Fn(usize) -> String + 'static, pids: Vec<u32>) -> Self {
        Self {
            name,
            url: Box::new(url),
            pids,
            runs: Vec::new(),
        }
    }

    fn cpu(&self) -> Duration {
        self.pids.iter().map(|&p| cpu(p)).sum()
    }
}

/// The gateway, the direct echo server and the relay, started for a comparison.
struct Baselines {
    direct: procs::Proc,
    relay: procs::Proc,
}

impl Baselines {
    fn start() -> Result<Self, String> {
        let direct = procs::echo_server().map_err(|e| format!("echo server: {e}"))?;
        let relay = procs::relay(direct.addr).map_err(|e| format!("relay: {e}"))?;
        Ok(Self { direct, relay })
    }

    fn sides<R>(&self, s: &Setup) -> [Side<R>; 3] {
        let (gw, actors) = (s.gw.addr, s.actors.clone());
        let (direct, relay) = (self.direct.addr, self.relay.addr);
        [
            Side::new(
                "gateway",
                move |i| format!("ws://{gw}/gateway/{}/c{i}", actors[i % actors.len()]),
                s.pids(),
            ),
            Side::new(
                "direct ",
                move |i| format!("ws://{direct}/c{i}"),
                vec![self.direct.pid()],
            ),
            Side::new(
                "relay  ",
                move |i| format!("ws://{relay}/c{i}"),
                vec![self.relay.pid(), self.direct.pid()],
            ),
        ]
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Medians over rounds of `f(gateway run) / f(direct run)`-style comparisons.
fn per_round<R>(a: &Side<R>, b: &Side<R>, f: impl Fn(&R, &R) -> f64) -> (f64, Vec<f64>) {
    let v: Vec<f64> = a.runs.iter().zip(&b.runs).map(|(x, y)| f(x, y)).collect();
    (median(v.clone()), v)
}

fn rounded(v: &[f64], digits: usize) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.digits$}")).collect();
    parts.join(", ")
}

async fn throughput(
    ex: &Arc<Executor<'static>>,
    bin: &std::path::Path,
    shape: Window,
    rounds: usize,
) -> Result<(), String> {
    let Window {
        clients,
        window,
        size,
        seconds,
    } = shape;
    println!(
        "(a) throughput: {clients} clients × window {window} × {size}-byte messages; \
         {rounds} rounds of {seconds} s per side, sides in turn"
    );
    let s = setup(bin, 8, true).await?;
    let base = Baselines::start()?;
    let mut sides = base.sides::<Run>(&s);
    for round in 1..=rounds {
        for side in &mut sides {
            let urls: Vec<String> = (0..clients).map(|i| (side.url)(i)).collect();
            let run = run_window(ex, &urls, side, shape).await?;
            println!("round {round}: {}: {:.0} msgs/s", side.name, run.rate);
            side.runs.push(run);
        }
    }
    for side in &sides {
        let mut lat = Latencies::default();
        for r in &side.runs {
            lat.extend(r.lat.clone());
        }
        let med = |f: fn(&Run) -> f64| median(side.runs.iter().map(f).collect());
        println!(
            "{}: median {:.0} msgs/s; {}; server CPU {:.1} µs/msg; load process CPU {:.1} µs/msg",
            side.name,
            med(|r| r.rate),
            lat.summary(),
            med(|r| micros(r.cpu_per_msg)),
            med(|r| micros(r.load_cpu_per_msg)),
        );
    }
    let [gw, direct, relay] = &sides;
    let (ratio, each) = per_round(gw, direct, |g, d| g.rate / d.rate);
    println!(
        "gateway/direct msgs/s: median {ratio:.2} (rounds: {})",
        rounded(&each, 2)
    );
    let (ratio, each) = per_round(relay, direct, |r, d| r.rate / d.rate);
    println!(
        "relay/direct msgs/s: median {ratio:.2} (rounds: {})",
        rounded(&each, 2)
    );
    Ok(())
}

struct Run {
    rate: f64,
    lat: Latencies,
    cpu_per_msg: Duration,
    /// This process: the clients.
    load_cpu_per_msg: Duration,
}

async fn run_window(
    ex: &Arc<Executor<'static>>,
    urls: &[String],
    side: &Side<Run>,
    shape: Window,
) -> Result<Run, String> {
    let mut sockets = Vec::new();
    for url in urls {
        sockets.push(connect(url).await?);
    }
    let cpu0 = side.cpu();
    let load0 = cpu(std::process::id());
    let start = Instant::now();
    let until = start + Duration::from_secs(shape.seconds);
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| ex.spawn(echo_window(ws, shape.window, shape.size, until)))
        .collect();
    let mut lat = Latencies::default();
    for t in tasks {
        lat.extend(t.await);
    }
    let elapsed = start.elapsed();
    let cpu_used = side.cpu().saturating_sub(cpu0);
    let load_used = cpu(std::process::id()).saturating_sub(load0);
    let n = u32::try_from(lat.len().max(1)).unwrap_or(u32::MAX);
    Ok(Run {
        rate: lat.len() as f64 / elapsed.as_secs_f64(),
        cpu_per_msg: cpu_used / n,
        load_cpu_per_msg: load_used / n,
        lat,
    })
}

async fn latency(bin: &std::path::Path, messages: usize, rounds: usize) -> Result<(), String> {
    println!(
        "(b) ping-pong latency: one client, 32-byte messages; {rounds} rounds of {messages} \
         round trips per side, sides in turn"
    );
    let s = setup(bin, 1, true).await?;
    let base = Baselines::start()?;
    let mut sides = base.sides::<LatencyRun>(&s);
    // Starts the actor, so no round pays for it.
    one_round_trip(&mut connect(&(sides[0].url)(0)).await?, 32)
        .await
        .ok_or("no echo through the gateway")?;
    for round in 1..=rounds {
        for side in &mut sides {
            let before: Vec<Duration> = side.pids.iter().map(|&p| cpu(p)).collect();
            let mut lat = ping_pong(connect(&(side.url)(0)).await?, messages, 32).await;
            let cpu_per_trip: Vec<f64> = side
                .pids
                .iter()
                .zip(before)
                .map(|(&p, b)| micros(cpu(p).saturating_sub(b)) / messages as f64)
                .collect();
            println!(
                "round {round}: {}: {}; CPU per round trip {:.1} µs ({} µs by process)",
                side.name,
                lat.summary(),
                cpu_per_trip.iter().sum::<f64>(),
                rounded(&cpu_per_trip, 1)
            );
            side.runs.push(LatencyRun { lat, cpu_per_trip });
        }
    }
    for side in &sides {
        let mut all = Latencies::default();
        for r in &side.runs {
            all.extend(r.lat.clone());
        }
        let cpu = median(
            side.runs
                .iter()
                .map(|r| r.cpu_per_trip.iter().sum())
                .collect(),
        );
        println!(
            "{}: all rounds: {}; CPU per round trip: median {cpu:.1} µs",
            side.name,
            all.summary()
        );
    }
    let p50 = |r: &LatencyRun| micros(r.lat.clone().quantile(0.5));
    let [gw, direct, relay] = &sides;
    let (added, each) = per_round(gw, direct, |g, d| p50(g) - p50(d));
    println!(
        "gateway added p50 latency: median {added:.0} µs (rounds: {})",
        rounded(&each, 0)
    );
    let (added, each) = per_round(relay, direct, |r, d| p50(r) - p50(d));
    println!(
        "relay added p50 latency: median {added:.0} µs (rounds: {})",
        rounded(&each, 0)
    );
    let (added, each) = per_round(gw, relay, |g, r| p50(g) - p50(r));
    println!(
        "gateway over relay p50: median {added:.0} µs (rounds: {})",
        rounded(&each, 0)
    );
    Ok(())
}

/// One latency round of one side: its round trips, and the CPU time each of the side's
/// processes (gateway and runner; relay and echo server; echo server) spent per round trip.
/// Pinned to one core, a side's latency is mostly that CPU time plus the switches between them.
struct LatencyRun {
    lat: Latencies,
    cpu_per_trip: Vec<f64>,
}

async fn stops(runner: &TestRunner, actor: &str) -> usize {
    runner
        .events()
        .iter()
        .filter(|e| matches!(e, RunnerEvent::ActorStopped { actor_id, .. } if actor_id == actor))
        .count()
}

async fn wake(
    ex: &Arc<Executor<'static>>,
    bin: &std::path::Path,
    sockets: usize,
    wakes: usize,
) -> Result<(), String> {
    println!("(c) wake latency: {sockets} hibernating sockets on one actor, {wakes} wakes");
    let s = setup(bin, 1, false).await?;
    let runner = s.runner()?;
    let actor = s.actors[0].clone();
    let mut clients = open_many(ex, sockets, through_gateway(&s)).await?;
    let mut lat = Latencies::default();
    for i in 0..wakes {
        let before = stops(runner, &actor).await;
        runner.sleep_actor(&actor).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while stops(runner, &actor).await == before {
            if Instant::now() > deadline {
                return Err("the actor did not stop".into());
            }
            smol::Timer::after(Duration::from_millis(2)).await;
        }
        smol::Timer::after(Duration::from_millis(20)).await;
        let k = i % clients.len();
        let rtt = one_round_trip(&mut clients[k], 32)
            .await
            .ok_or("no echo after the wake")?;
        lat.push(rtt);
    }
    println!("wake → echo: {}", lat.summary());
    Ok(())
}

/// Opens `n` sockets to `url(k)`, 100 connects at a time.
async fn open_many(
    ex: &Arc<Executor<'static>>,
    n: usize,
    url: impl Fn(usize) -> String,
) -> Result<Vec<torpor_benches::load::clients::Ws>, String> {
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(100) {
        let batch: Vec<_> = (start..(start + 100).min(n))
            .map(|k| {
                let url = url(k);
                ex.spawn(async move { connect(&url).await })
            })
            .collect();
        for t in batch {
            out.push(t.await?);
        }
    }
    Ok(out)
}

/// Socket `k` through the gateway, spread over the actors.
fn through_gateway(s: &Setup) -> impl Fn(usize) -> String + '_ {
    move |k| {
        let actor = &s.actors[k % s.actors.len()];
        format!("ws://{}/gateway/{actor}/s{k}", s.gw.addr)
    }
}

async fn idle(
    ex: &Arc<Executor<'static>>,
    bin: &std::path::Path,
    sockets: usize,
    seconds: u64,
) -> Result<(), String> {
    println!("(d) {sockets} hibernating sockets held for {seconds} s");
    let s = setup(bin, 10, false).await?;
    let pid = s.gw.pid();
    // Warm up every actor with one socket, so the baseline holds the runner and the actors.
    let warm = open_many(ex, s.actors.len(), through_gateway(&s)).await?;
    smol::Timer::after(Duration::from_millis(300)).await;
    let before = rss_bytes(pid).ok_or("no RSS")?;
    let clients = open_many(ex, sockets, through_gateway(&s)).await?;
    for a in &s.actors {
        s.runner()?.sleep_actor(a).await;
    }
    smol::Timer::after(Duration::from_secs(2)).await;
    let after = rss_bytes(pid).ok_or("no RSS")?;
    let hibernating = admin::metric(s.gw.addr, "hibernating_sockets").await?;
    let cpu0 = cpu(pid);
    smol::Timer::after(Duration::from_secs(seconds)).await;
    let cpu_used = cpu(pid).saturating_sub(cpu0);
    println!(
        "hibernating {hibernating}; gateway RSS {:.1} MiB → {:.1} MiB: {:.0} bytes per socket",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        after.saturating_sub(before) as f64 / sockets as f64
    );
    println!(
        "keepalive CPU over {seconds} s: {:.2} % of one core",
        cpu_used.as_secs_f64() / seconds as f64 * 100.0
    );
    drop((warm, clients));
    Ok(())
}

async fn open(
    ex: &Arc<Executor<'static>>,
    bin: &std::path::Path,
    sockets: usize,
) -> Result<(), String> {
    println!("(e) time to open {sockets} sockets, 100 at a time");
    let s = setup(bin, 10, false).await?;
    let _warm = open_many(ex, s.actors.len(), through_gateway(&s)).await?;
    let t = Instant::now();
    let gw_clients = open_many(ex, sockets, through_gateway(&s)).await?;
    let gw = t.elapsed();
    drop(gw_clients);
    let direct = procs::echo_server().map_err(|e| e.to_string())?;
    let t = Instant::now();
    let _direct_clients = open_many(ex, sockets, |k| format!("ws://{}/s{k}", direct.addr)).await?;
    let dt = t.elapsed();
    println!(
        "gateway: {:.2} s ({:.0} opens/s); direct: {:.2} s ({:.0} opens/s)",
        gw.as_secs_f64(),
        sockets as f64 / gw.as_secs_f64(),
        dt.as_secs_f64(),
        sockets as f64 / dt.as_secs_f64()
    );
    Ok(())
}
