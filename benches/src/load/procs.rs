//! Child processes: the gateway under test and the direct echo server.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A child process, killed when dropped.
pub struct Proc {
    child: Child,
    /// Where it listens.
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
pub fn gateway(bin: &Path, dir: &Path) -> std::io::Result<Proc> {
    std::fs::create_dir_all(dir)?;
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--log-format",
            "json",
            "--log",
            "warn,torpor_smol::server=info",
        ])
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(dir.join("torpor.db"))
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| std::io::Error::other("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .ok_or_else(|| std::io::Error::other("the gateway exited before it was ready"))??;
        if line.contains("torpor ready") {
            let v: serde_json::Value =
                serde_json::from_str(&line).map_err(std::io::Error::other)?;
            break v["fields"]["listen"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| std::io::Error::other("no listen address in the ready line"))?;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Proc { child, addr })
}

/// This program's `echo-server` subcommand, as a separate process like the gateway.
pub fn echo_server() -> std::io::Result<Proc> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("echo-server")
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
        .map_err(|_| std::io::Error::other(format!("echo server said {line:?}")))?;
    Ok(Proc { child, addr })
}

/// The release gateway binary next to this program.
pub fn default_gateway_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("torpor")))
        .unwrap_or_else(|| PathBuf::from("target/release/torpor"))
}
