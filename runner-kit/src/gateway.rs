//! A `torpor serve` child process for tests and load tools: started with JSON logs, ready once
//! it logs its listen address, killed when dropped.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running gateway process.
pub struct GatewayProcess {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl GatewayProcess {
    /// Runs `bin serve --log-format json --listen <listen> --database <database> <extra…>` and
    /// waits for its "torpor ready" line. Its later log lines are drained (so it never blocks on
    /// a full pipe) and dropped.
    pub fn spawn(
        bin: &Path,
        listen: &str,
        database: &Path,
        extra: &[&str],
    ) -> std::io::Result<Self> {
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--log-format",
                "json",
                "--listen",
                listen,
                "--database",
            ])
            .arg(database)
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| std::io::Error::other("no stderr"))?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                return Err(std::io::Error::other(
                    "the gateway exited before it was ready",
                ));
            };
            let line = line?;
            if line.contains("torpor ready") {
                match ready_addr(&line) {
                    Some(addr) => break addr,
                    None => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(std::io::Error::other(format!("bad ready line: {line}")));
                    }
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child: Some(child),
            addr,
        })
    }

    /// The process id (for CPU, RSS and signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The child, to signal or wait for it; dropping `self` afterwards does nothing.
    pub fn into_child(mut self) -> Child {
        self.child.take().expect("child present until taken")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `listen` field of the JSON "torpor ready" line.
fn ready_addr(line: &str) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    // The event's fields are flattened into the object (`--log-format json`).
    v["listen"].as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_gives_the_address() {
        let line = r#"{"timestamp":"t","level":"INFO","message":"torpor ready","listen":"127.0.0.1:6420","actors":0}"#;
        assert_eq!(ready_addr(line), Some("127.0.0.1:6420".parse().unwrap()));
        assert_eq!(ready_addr("torpor ready"), None);
    }
}
