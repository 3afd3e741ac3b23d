//! Child processes: the gateway under test, the direct echo server and the relay.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use torpor_smol::test_runner::GatewayProcess;

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
