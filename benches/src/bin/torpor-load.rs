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
use torpor_smol::test_runner::{RunnerConfig, RunnerEvent, TestRunner};

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
    scenario: Scenario,
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
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// (b) One client, one message at a time.
    Latency {
        #[arg(long, default_value_t = 5000)]
        messages: usize,
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
    /// The direct echo server (started by the scenarios as a child process).
    #[command(hide = true)]
    EchoServer,
}

fn main() {
    let cli = Cli::parse();
    let ex = Arc::new(Executor::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (stop, stopped) = smol::channel::unbounded::<()>();
    for _ in 1..threads {
        let ex = Arc::clone(&ex);
        let stopped = stopped.clone();
        std::thread::spawn(move || smol::block_on(ex.run(stopped.recv())));
    }
    let bin = cli.gateway_bin.unwrap_or_else(procs::default_gateway_bin);
    let result = smol::block_on(ex.run(async {
        match cli.scenario {
            Scenario::EchoServer => {
                let (listener, addr) = echo_server::bind().await.map_err(|e| e.to_string())?;
                println!("{addr}");
                echo_server::serve(listener).await;
                Ok(())
            }
            Scenario::Throughput {
                clients,
                window,
                size,
                seconds,
            } => throughput(&ex, &bin, clients, window, size, seconds).await,
            Scenario::Latency { messages } => latency(&bin, messages).await,
            Scenario::Wake { sockets, wakes } => wake(&ex, &bin, sockets, wakes).await,
            Scenario::Idle { sockets, seconds } => idle(&ex, &bin, sockets, seconds).await,
            Scenario::Open { sockets } => open(&ex, &bin, sockets).await,
        }
    }));
    drop(stop);
    if let Err(e) = result {
        eprintln!("torpor-load: {e}");
        std::process::exit(1);
    }
}

/// A gateway with a runner hosting `actors` echo actors; returns their ids.
struct Setup {
    gw: procs::GatewayProcess,
    runner: TestRunner,
    actors: Vec<String>,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn setup(bin: &std::path::Path, actors: usize) -> Result<Setup, String> {
    let dir = TempDir(std::env::temp_dir().join(format!("torpor-load-{}", std::process::id())));
    let gw = procs::gateway(bin, &dir.0).map_err(|e| format!("{}: {e}", bin.display()))?;
    let mut config = RunnerConfig::new(format!("ws://{}", gw.addr));
    config.record_messages = false;
    let runner = TestRunner::connect(config).await.map_err(|e| e.0)?;
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

async fn throughput(
    ex: &Arc<Executor<'static>>,
    bin: &std::path::Path,
    clients: usize,
    window: usize,
    size: usize,
    seconds: u64,
) -> Result<(), String> {
    println!(
        "(a) throughput: {clients} clients × window {window} × {size}-byte messages, {seconds} s each"
    );
    let s = setup(bin, 8).await?;
    let urls: Vec<String> = (0..clients)
        .map(|i| {
            format!(
                "ws://{}/gateway/{}/c{i}",
                s.gw.addr,
                s.actors[i % s.actors.len()]
            )
        })
        .collect();
    let gw = run_window(ex, &urls, window, size, seconds, s.gw.pid()).await?;
    let direct_proc = procs::echo_server().map_err(|e| e.to_string())?;
    let urls: Vec<String> = (0..clients)
        .map(|i| format!("ws://{}/c{i}", direct_proc.addr))
        .collect();
    let direct = run_window(ex, &urls, window, size, seconds, direct_proc.pid()).await?;
    report("gateway", &gw);
    report("direct ", &direct);
    println!("ratio gateway/direct msgs/s: {:.2}", gw.rate / direct.rate);
    drop(s.runner);
    Ok(())
}

struct Run {
    rate: f64,
    lat: Latencies,
    cpu_per_msg: Duration,
    /// This process: the clients, and on the gateway side also the runner.
    load_cpu_per_msg: Duration,
}

fn report(name: &str, r: &Run) {
    let mut lat = r.lat.clone();
    println!(
        "{name}: {:.0} msgs/s; {}; server CPU {:.1} µs/msg; load process CPU {:.1} µs/msg",
        r.rate,
        lat.summary(),
        micros(r.cpu_per_msg),
        micros(r.load_cpu_per_msg)
    );
}

async fn run_window(
    ex: &Arc<Executor<'static>>,
    urls: &[String],
    window: usize,
    size: usize,
    seconds: u64,
    server_pid: u32,
) -> Result<Run, String> {
    let mut sockets = Vec::new();
    for url in urls {
        sockets.push(connect(url).await?);
    }
    let cpu0 = cpu(server_pid);
    let load0 = cpu(std::process::id());
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| ex.spawn(echo_window(ws, window, size, until)))
        .collect();
    let mut lat = Latencies::default();
    for t in tasks {
        lat.extend(t.await);
    }
    let elapsed = start.elapsed();
    let cpu_used = cpu(server_pid).saturating_sub(cpu0);
    let load_used = cpu(std::process::id()).saturating_sub(load0);
    let n = u32::try_from(lat.len().max(1)).unwrap_or(u32::MAX);
    Ok(Run {
        rate: lat.len() as f64 / elapsed.as_secs_f64(),
        cpu_per_msg: cpu_used / n,
        load_cpu_per_msg: load_used / n,
        lat,
    })
}

async fn latency(bin: &std::path::Path, messages: usize) -> Result<(), String> {
    println!("(b) ping-pong latency: one client, {messages} messages of 32 bytes");
    let s = setup(bin, 1).await?;
    // Warm-up starts the actor.
    let ws = connect(&format!("ws://{}/gateway/{}/p", s.gw.addr, s.actors[0])).await?;
    let mut gw = ping_pong(ws, messages, 32).await;
    let direct = procs::echo_server().map_err(|e| e.to_string())?;
    let ws = connect(&format!("ws://{}/p", direct.addr)).await?;
    let mut d = ping_pong(ws, messages, 32).await;
    println!("gateway: {}", gw.summary());
    println!("direct : {}", d.summary());
    println!(
        "added p50 latency: {:.0} µs",
        micros(gw.quantile(0.5)) - micros(d.quantile(0.5))
    );
    drop(s.runner);
    Ok(())
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
    let s = setup(bin, 1).await?;
    let actor = s.actors[0].clone();
    let mut clients = open_many(ex, s.gw.addr, &s.actors, sockets).await?;
    let mut lat = Latencies::default();
    for i in 0..wakes {
        let before = stops(&s.runner, &actor).await;
        s.runner.sleep_actor(&actor).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while stops(&s.runner, &actor).await == before {
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

async fn open_many(
    ex: &Arc<Executor<'static>>,
    addr: std::net::SocketAddr,
    actors: &[String],
    n: usize,
) -> Result<Vec<torpor_benches::load::clients::Ws>, String> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch: Vec<_> = (i..(i + 100).min(n))
            .map(|k| {
                let url = format!("ws://{addr}/gateway/{}/s{k}", actors[k % actors.len()]);
                ex.spawn(async move { connect(&url).await })
            })
            .collect();
        for t in batch {
            out.push(t.await?);
            i += 1;
        }
    }
    Ok(out)
}

async fn idle(
    ex: &Arc<Executor<'static>>,
    bin: &std::path::Path,
    sockets: usize,
    seconds: u64,
) -> Result<(), String> {
    println!("(d) {sockets} hibernating sockets held for {seconds} s");
    let s = setup(bin, 10).await?;
    let pid = s.gw.pid();
    // Warm up every actor with one socket, so the baseline holds the runner and the actors.
    let warm = open_many(ex, s.gw.addr, &s.actors, s.actors.len()).await?;
    smol::Timer::after(Duration::from_millis(300)).await;
    let before = rss_bytes(pid).ok_or("no RSS")?;
    let clients = open_many(ex, s.gw.addr, &s.actors, sockets).await?;
    for a in &s.actors {
        s.runner.sleep_actor(a).await;
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
    let s = setup(bin, 10).await?;
    let _warm = open_many(ex, s.gw.addr, &s.actors, s.actors.len()).await?;
    let t = Instant::now();
    let gw_clients = open_many(ex, s.gw.addr, &s.actors, sockets).await?;
    let gw = t.elapsed();
    drop(gw_clients);
    let direct = procs::echo_server().map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut d = Vec::with_capacity(sockets);
    let mut i = 0;
    while i < sockets {
        let batch: Vec<_> = (i..(i + 100).min(sockets))
            .map(|k| {
                let url = format!("ws://{}/s{k}", direct.addr);
                ex.spawn(async move { connect(&url).await })
            })
            .collect();
        for task in batch {
            d.push(task.await?);
            i += 1;
        }
    }
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
