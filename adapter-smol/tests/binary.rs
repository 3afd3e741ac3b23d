//! The real `torpor` binary, as an operator meets it: the exact message each startup problem
//! prints on stderr (once, naming the key, variable, address or file that is wrong) and the
//! exit code, SIGHUP reloads that never kill the process, and `torpor backup` whose copy a new
//! torpor serves.
//!
//! Every test is bounded: processes are waited for with deadlines and killed when the test
//! ends, whatever happened.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Long enough for a debug build on a loaded 2-core machine.
const START: Duration = Duration::from_secs(20);
/// A process that only prints an error and exits.
const QUICK: Duration = Duration::from_secs(10);

/// The variables `torpor` reads; any other `TORPOR_*` in the environment is removed too.
const TORPOR_VARS: &[&str] = &[
    "TORPOR_CONFIG",
    "TORPOR_LISTEN",
    "TORPOR_DATABASE",
    "TORPOR_RUNNER_TOKEN",
    "TORPOR_ADMIN_TOKEN",
    "TORPOR_CLIENT_TOKEN",
    "TORPOR_METRICS_TOKEN",
    "TORPOR_INSECURE",
    "TORPOR_LOG",
    "TORPOR_LOG_FORMAT",
    "TORPOR_THREADS",
    "TORPOR_ALLOWED_ORIGINS",
    "TORPOR_MAX_CONNECTIONS_PER_IP",
    "TORPOR_TRUSTED_PROXIES",
    "TORPOR_URL",
    "TORPOR_ADMIN_URL",
    "TORPOR_BIN",
];

/// `torpor ARGS`, with no `TORPOR_*` variable leaking in from the test's environment.
fn torpor(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_torpor"));
    cmd.args(args);
    for name in TORPOR_VARS {
        cmd.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TORPOR_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A fresh directory per test; removed at the end unless the test failed.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("torpor-bin-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    /// `DIR/name`, as a string (it is passed on command lines and expected in messages).
    fn path(&self, name: &str) -> String {
        self.0
            .join(name)
            .to_str()
            .expect("utf-8 temp dir")
            .to_owned()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Lines a child wrote to one of its pipes, as they arrive (each with its `\n`).
type Lines = Arc<Mutex<Vec<String>>>;

fn read_lines(pipe: impl std::io::Read + Send + 'static) -> (Lines, JoinHandle<()>) {
    let lines = Lines::default();
    let sink = Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        let mut pipe = BufReader::new(pipe);
        loop {
            let mut line = String::new();
            match pipe.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => sink.lock().expect("lines").push(line),
            }
        }
    });
    (lines, reader)
}

/// A running `torpor`, killed when dropped.
struct Torpor {
    child: Child,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

/// What a finished `torpor` printed.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Torpor {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn torpor");
        let (stdout, out_reader) = read_lines(child.stdout.take().expect("stdout"));
        let (stderr, err_reader) = read_lines(child.stderr.take().expect("stderr"));
        Self {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            status: None,
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().expect("lines").concat()
    }

    /// Whether the process still runs.
    fn alive(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status.is_none()
    }

    /// The first stderr line (from `from` on) that `pred` accepts, within `timeout`; panics,
    /// showing stderr, if the process exits first or the time runs out. Returns the line's
    /// index too, so later waits can start after it.
    fn wait_line(
        &mut self,
        what: &str,
        from: usize,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self
                .stderr
                .lock()
                .expect("lines")
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, l)| pred(l))
            {
                return (found.0, found.1.clone());
            }
            if !self.alive() {
                // The readers may still hold the last lines: take them, then look once more.
                self.join_readers();
                let lines = self.stderr.lock().expect("lines");
                if let Some((i, l)) = lines.iter().enumerate().skip(from).find(|(_, l)| pred(l)) {
                    return (i, l.clone());
                }
                panic!(
                    "torpor exited ({:?}) before {what}; stderr:\n{}",
                    self.status,
                    lines.concat()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}; stderr:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the JSON `torpor ready` line; returns the address it listens on.
    fn wait_ready(&mut self) -> SocketAddr {
        let (_, line) = self.wait_line("ready line", 0, START, |l| {
            json(l).is_some_and(|v| v["message"] == "torpor ready")
        });
        let v = json(&line).expect("json");
        v["listen"]
            .as_str()
            .unwrap_or_else(|| panic!("no listen field: {line}"))
            .parse()
            .unwrap_or_else(|e| panic!("listen field: {e}: {line}"))
    }

    /// Waits for the exit, at most `timeout` (then panics; the drop kills the process).
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        while self.alive() {
            assert!(
                Instant::now() < deadline,
                "torpor still running after {timeout:?}; stderr:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.status.expect("exited")
    }

    /// Waits for the exit and everything it printed.
    fn finish(&mut self, timeout: Duration) -> Finished {
        let status = self.wait_exit(timeout);
        self.join_readers();
        Finished {
            code: status.code(),
            stdout: self.stdout.lock().expect("lines").concat(),
            stderr: self.stderr_text(),
        }
    }

    fn join_readers(&mut self) {
        // The pipes close when the process (and anything it spawned) is gone.
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {}", self.pid());
    }
}

impl Drop for Torpor {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `torpor ARGS` to its end (at most [`QUICK`]).
fn run(cmd: Command) -> Finished {
    Torpor::spawn(cmd).finish(QUICK)
}

/// The line as a JSON object, if it is one.
fn json(line: &str) -> Option<Value> {
    serde_json::from_str::<Value>(line.trim())
        .ok()
        .filter(Value::is_object)
}

/// `torpor: MESSAGE\n`, exactly: one line, printed once.
fn assert_only_line(out: &Finished, message: &str) {
    assert_eq!(out.stderr, format!("torpor: {message}\n"));
}

/// One HTTP/1.1 request on its own connection (`Connection: close`): status and body.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    tcp.write_all(head.as_bytes()).expect("write request");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).expect("read response");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {raw:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}

fn bearer(token: &str) -> [(&'static str, String); 1] {
    [("Authorization", format!("Bearer {token}"))]
}

/// `GET /actors` as an admin with this token: the status.
fn actors_status(addr: SocketAddr, token: &str) -> u16 {
    let [(k, v)] = bearer(token);
    request(
        addr,
        "GET",
        "/actors?namespace=default&name=x",
        &[(k, &v)],
        "",
    )
    .0
}

/// Polls `check` every 50 ms until it holds, at most `timeout`.
fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration errors: exit 2, one line naming the key, its place and what is allowed.

#[test]
fn unknown_key_in_the_file_names_it_with_its_line_and_the_likely_key() {
    let dir = TempDir::new("unknown-key");
    let file = dir.write("torpor.toml", "[gateway]\nack_timeout = 5\n");
    let db = dir.path("t.db");
    let out = run(torpor(&["serve", "--config", &file, "--database", &db]));
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_only_line(
        &out,
        &format!(
            "{file}:2:1: `gateway.ack_timeout`: unknown key; did you mean \
             `gateway.ack_timeout_ms`? (`torpor config example` lists every key)"
        ),
    );
    assert_eq!(out.stdout, "");
    assert!(!Path::new(&db).exists(), "nothing opened the database");
}

#[test]
fn wrong_type_in_the_file_names_the_key_line_column_and_what_is_allowed() {
    let dir = TempDir::new("wrong-type");
    let file = dir.write(
        "torpor.toml",
        "listen = \"127.0.0.1:0\"\n[gateway]\nack_timeout_ms = \"30s\"\n",
    );
    let message = format!(
        "{file}:3:18: `gateway.ack_timeout_ms`: expected whole milliseconds from 1 to 86400000, \
         found string"
    );
    let out = run(torpor(&[
        "serve",
        "--config",
        &file,
        "--database",
        &dir.path("t.db"),
    ]));
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_only_line(&out, &message);

    // `config check` says the same about the same file.
    let out = run(torpor(&["config", "check", &file]));
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_only_line(&out, &message);
    assert_eq!(out.stdout, "");
}

#[test]
fn config_example_passes_config_check() {
    let dir = TempDir::new("example");
    let out = run(torpor(&["config", "example"]));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stderr, "");
    assert!(
        out.stdout.contains("ack_timeout_ms = 30000"),
        "{}",
        out.stdout
    );
    let file = dir.write("example.toml", &out.stdout);
    let out = run(torpor(&["config", "check", &file]));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, format!("{file}: ok\n"));
    assert_eq!(out.stderr, "");
}

#[test]
fn a_bad_boolean_variable_is_named_with_the_spellings_allowed() {
    let dir = TempDir::new("env-bool");
    let mut cmd = torpor(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        &dir.path("t.db"),
    ]);
    cmd.env("TORPOR_INSECURE", "maybe");
    let out = run(cmd);
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_only_line(
        &out,
        "environment variable TORPOR_INSECURE: `maybe` is not a boolean: expected 1, true, yes, \
         on, 0, false, no or off",
    );
}

#[test]
fn insecure_from_the_environment_starts_on_a_public_address_with_a_warning() {
    let dir = TempDir::new("env-insecure");
    let mut cmd = torpor(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--database",
        &dir.path("t.db"),
        "--log-format",
        "json",
    ]);
    cmd.env("TORPOR_INSECURE", "1");
    let mut gw = Torpor::spawn(cmd);
    let listen = gw.wait_ready();
    assert!(listen.ip().is_unspecified(), "{listen}");
    assert_ne!(listen.port(), 0);
    let (_, warning) = gw.wait_line("--insecure warning", 0, QUICK, |l| {
        json(l).is_some_and(|v| v["level"] == "WARN") && l.contains("--insecure")
    });
    assert_eq!(json(&warning).expect("json")["listen"], listen.to_string());
    let page = request(
        SocketAddr::from(([127, 0, 0, 1], listen.port())),
        "GET",
        "/healthz",
        &[],
        "",
    );
    assert_eq!(page, (200, "ok\n".to_owned()));
}

// ---------------------------------------------------------------------------------------------
// Startup failures: exit 1, one line on stderr (logs go there too).

#[test]
fn an_address_in_use_is_reported_once() {
    let dir = TempDir::new("addr-in-use");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let listen = format!("127.0.0.1:{port}");
    let out = run(torpor(&[
        "serve",
        "--listen",
        &listen,
        "--database",
        &dir.path("t.db"),
        "--log-format",
        "json",
    ]));
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    let prefix = format!("torpor: cannot listen on {listen}: the address is already in use");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("already in use"))
            .count(),
        1,
        "{}",
        out.stderr
    );
    let error: Vec<&&str> = lines.iter().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(error.len(), 1, "{}", out.stderr);
    assert_eq!(
        *error[0],
        format!(
            "{prefix} (another torpor, or another program, listens there; pick another with \
             --listen)"
        )
    );
    // Everything else is a JSON log line, none of which repeats the error.
    for line in lines.iter().filter(|l| !l.starts_with(&prefix)) {
        let v = json(line).unwrap_or_else(|| panic!("not a log line: {line:?}"));
        assert!(
            !line.contains("cannot listen"),
            "the error is logged again: {v}"
        );
    }
    drop(taken);
}

#[test]
fn a_database_another_torpor_holds_is_refused_at_once() {
    let dir = TempDir::new("locked");
    let db = dir.path("t.db");
    let serve = |db: &str| {
        torpor(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            db,
            "--log-format",
            "json",
        ])
    };
    let mut first = Torpor::spawn(serve(&db));
    let addr = first.wait_ready();

    let started = Instant::now();
    let out = Torpor::spawn(serve(&db)).finish(Duration::from_secs(3));
    let took = started.elapsed();
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_only_line(
        &out,
        &format!(
            "database: {db} is locked by another process (is another torpor serving it?); only \
             one torpor may open a database (copy a running one with `torpor backup`)"
        ),
    );
    // The first one is unharmed.
    assert!(first.alive());
    assert_eq!(request(addr, "GET", "/readyz", &[], "").0, 200);
}

#[test]
fn a_missing_database_directory_is_named() {
    let dir = TempDir::new("no-dir");
    let nope = dir.path("nope");
    let out = run(torpor(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        &format!("{nope}/t.db"),
        "--log-format",
        "json",
    ]));
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_only_line(
        &out,
        &format!("database: directory {nope} does not exist (create it first)"),
    );
    assert!(!Path::new(&nope).exists(), "the directory is not created");
}

#[test]
fn a_database_directory_not_writable_is_named() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("no-write");
    let locked = dir.path("locked");
    std::fs::create_dir(&locked).expect("dir");
    // Writable by its owner only, and run as someone else: root passes every permission check,
    // so as root the test runs torpor as `nobody`.
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        &format!("{locked}/t.db"),
        "--log-format",
        "json",
    ];
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let cmd = if as_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_torpor")]);
        cmd.args(args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TORPOR_") {
                cmd.env_remove(name);
            }
        }
        cmd
    } else {
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).expect("chmod");
        torpor(&args)
    };
    let out = run(cmd);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_only_line(
        &out,
        &format!(
            "database: permission denied opening {locked}/t.db for reading and writing (check \
             the file and directory {locked} are writable by this user)"
        ),
    );
}

#[test]
fn localhost_listens_on_ipv4_loopback() {
    let dir = TempDir::new("localhost");
    let mut gw = Torpor::spawn(torpor(&[
        "serve",
        "--listen",
        "localhost:0",
        "--database",
        &dir.path("t.db"),
        "--log-format",
        "json",
    ]));
    let listen = gw.wait_ready();
    assert_eq!(listen.ip().to_string(), "127.0.0.1");
    assert_ne!(listen.port(), 0);
    assert_eq!(request(listen, "GET", "/healthz", &[], "").0, 200);
}

// ---------------------------------------------------------------------------------------------
// Signals.

#[test]
fn sighup_reloads_tokens_refuses_a_bad_file_and_never_kills() {
    let dir = TempDir::new("sighup");
    let db = dir.path("t.db");
    let file_with = |token: &str| {
        format!("listen = \"127.0.0.1:0\"\ndatabase = \"{db}\"\nadmin_token = {token}\n")
    };
    let file = dir.write("torpor.toml", &file_with("\"one\""));
    let mut gw = Torpor::spawn(torpor(&[
        "serve",
        "--config",
        &file,
        "--log-format",
        "json",
    ]));
    let addr = gw.wait_ready();
    assert_eq!(actors_status(addr, "one"), 200);
    assert_eq!(actors_status(addr, "two"), 403);

    dir.write("torpor.toml", &file_with("\"two\""));
    gw.signal("-HUP");
    eventually(
        "token two accepted after SIGHUP",
        Duration::from_secs(5),
        || actors_status(addr, "two") == 200,
    );
    assert_eq!(actors_status(addr, "one"), 403);
    let (reloaded, _) = gw.wait_line("reload log", 0, QUICK, |l| {
        json(l).is_some_and(|v| v["message"] == "configuration reloaded" && v["level"] == "INFO")
    });

    // An invalid file: logged, nothing changes, the process lives on.
    dir.write("torpor.toml", &file_with("5"));
    gw.signal("-HUP");
    let (_, refused) = gw.wait_line("refused reload", reloaded + 1, QUICK, |l| {
        l.contains("configuration not reloaded")
    });
    let v = json(&refused).unwrap_or_else(|| panic!("not JSON: {refused}"));
    assert_eq!(v["level"], "ERROR", "{refused}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("`admin_token`")),
        "the error names the key: {refused}"
    );
    assert!(gw.alive(), "SIGHUP with a bad file killed torpor");
    assert_eq!(actors_status(addr, "two"), 200);
    assert_eq!(actors_status(addr, "one"), 403);
    assert!(gw.alive());

    gw.signal("-TERM");
    let status = gw.wait_exit(Duration::from_secs(12));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", gw.stderr_text());
    gw.join_readers();
    assert!(gw.stderr_text().contains("\"message\":\"stopped\""));
}

// ---------------------------------------------------------------------------------------------
// Backup and restore.

#[test]
fn backup_copies_a_running_torpor_and_a_torpor_started_on_the_copy_serves_it() {
    let dir = TempDir::new("backup");
    let serve = |db: &str| {
        torpor(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            db,
            "--log-format",
            "json",
        ])
    };
    let mut gw = Torpor::spawn(serve(&dir.path("t.db")));
    let addr = gw.wait_ready();
    let (status, body) = request(
        addr,
        "POST",
        "/actors?namespace=default",
        &[("Content-Type", "application/json")],
        r#"{"name":"counter","key":"k1","runner_name_selector":"default","crash_policy":"sleep"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let created: Value = serde_json::from_str(&body).expect("json");
    let actor_id = created["actor"]["actor_id"]
        .as_str()
        .expect("actor_id")
        .to_owned();

    let copy = dir.path("copy.db");
    let url = format!("http://{addr}");
    let backup = |extra: &[&str]| {
        let mut args = vec!["backup", copy.as_str(), "--url", url.as_str()];
        args.extend_from_slice(extra);
        run(torpor(&args))
    };
    let out = backup(&[]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stderr, "");
    let bytes = std::fs::metadata(&copy).expect("copy written").len();
    let summary = out.stdout.trim_end_matches('\n');
    let rest = summary
        .strip_prefix(&format!("{copy}: {bytes} bytes, schema version "))
        .unwrap_or_else(|| panic!("summary: {summary:?} ({bytes} bytes on disk)"));
    let (version, rest) = rest.split_once(", ").expect("summary fields");
    assert!(version.parse::<u32>().is_ok_and(|v| v > 0), "{summary}");
    assert_eq!(rest, "1 actors, integrity ok", "{summary}");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(
        !Path::new(&format!("{copy}.partial")).exists(),
        "no partial file left"
    );

    // The copy is not replaced without --force.
    let out = backup(&[]);
    assert_eq!(out.code, Some(1), "stdout: {}", out.stdout);
    assert_eq!(
        out.stderr,
        format!("torpor backup: {copy} exists; pass --force to replace it\n")
    );
    assert_eq!(std::fs::metadata(&copy).expect("copy").len(), bytes);
    let out = backup(&["--force"]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);

    gw.signal("-TERM");
    let status = gw.wait_exit(Duration::from_secs(12));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", gw.stderr_text());

    // Restoring is starting a torpor on the copy.
    let mut restored = Torpor::spawn(serve(&copy));
    let addr = restored.wait_ready();
    let (_, ready) = restored.wait_line("ready line", 0, QUICK, |l| l.contains("torpor ready"));
    assert_eq!(json(&ready).expect("json")["actors"], 1, "{ready}");
    let (status, body) = request(
        addr,
        "GET",
        "/actors?namespace=default&name=counter",
        &[],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).expect("json");
    let ids: Vec<&str> = listed["actors"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter_map(|a| a["actor_id"].as_str())
        .collect();
    assert_eq!(ids, [actor_id.as_str()], "{body}");
    assert_eq!(listed["actors"][0]["key"], "k1", "{body}");
}
