//! Child processes: the gateway under test, the direct echo server and the relay.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use torpor_runner_kit::GatewayProcess;

/// A child process, killed when dropped.
pub struct Proc {
    child: Child,
    /// Where it listens (a runner: the gateway it serves).
    pub addr: SocketAddr,
}

impl Proc {
    /// Its pid (for CPU and RSS readings).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `torpor serve` on an ephemeral loopback port with a fresh database under `dir`.
pub fn gateway(bin: &Path, dir: &Path) -> std::io::Result<GatewayProcess> {
    std::fs::create_dir_all(dir)?;
    let extra = ["--log", "warn,torpor_smol::server=info"];
    GatewayProcess::spawn(bin, "127.0.0.1:0", &dir.join("torpor.db"), &extra)
}

/// This program's `echo-server` subcommand, as a separate process like the gateway.
pub fn echo_server() -> std::io::Result<Proc> {
    this_program(&["echo-server"])
}

/// This program's `runner` subcommand: a Rust runner for the gateway at `gateway`, hosting
/// echo actors (`addr` is the gateway's).
pub fn runner(gateway: SocketAddr) -> std::io::Result<Proc> {
    this_program(&["runner", "--gateway", &gateway.to_string()])
}

/// This program's `relay` subcommand in front of the echo server at `upstream`.
pub fn relay(upstream: SocketAddr) -> std::io::Result<Proc> {
    this_program(&["relay", "--upstream", &upstream.to_string()])
}

/// Runs this program with `args`; its first line of output is its address, once it is ready.
fn this_program(args: &[&str]) -> std::io::Result<Proc> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .parse()
        .map_err(|_| std::io::Error::other(format!("{args:?} said {line:?}")))?;
    Ok(Proc { child, addr })
}

/// The release gateway binary next to this program.
pub fn default_gateway_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("torpor")))
        .unwrap_or_else(|| PathBuf::from("target/release/torpor"))
}

/// Raises this process's descriptor limit to its hard limit (the gateway, the runner and the
/// baselines inherit it); returns the limit now in force (`None`: unlimited).
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if limit.current != limit.maximum && setrlimit(Resource::Nofile, raised).is_ok() {
        return raised.current;
    }
    limit.current
}

/// Whether `sockets` open sockets fit in the descriptor limit: each is a descriptor here and
/// one in the gateway, and a few hundred more go to everything else.
pub fn check_fd_limit(sockets: usize, limit: Option<u64>) -> Result<(), String> {
    let need = sockets as u64 + 300;
    match limit {
        Some(limit) if limit < need => Err(format!(
            "{sockets} sockets need about {need} descriptors per process, and the limit here is \
             {limit}: this machine's hard limit (`ulimit -Hn`), which only a privileged user can \
             raise"
        )),
        _ => Ok(()),
    }
}
