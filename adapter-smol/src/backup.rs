//! `torpor backup DEST`: asks a running torpor for an online backup (`GET /admin/backup`),
//! writes it to `DEST` (through a temporary file, renamed when complete) and checks the copy.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use http_body_util::{BodyExt as _, Empty};
use hyper::Request;
use hyper::body::Bytes;
use smol::net::TcpStream;
use smol_hyper::rt::FuturesIo;

use crate::config::BackupArgs;

/// Takes the backup; the text says what was written.
pub fn run(args: &BackupArgs) -> Result<String, String> {
    if args.dest.exists() && !args.force {
        return Err(format!(
            "{} exists; pass --force to replace it",
            args.dest.display()
        ));
    }
    let partial = partial_path(&args.dest);
    let result = smol::block_on(download(args, &partial));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let summary = torpor_sqlite::inspect_file(&partial)
        .map_err(|e| format!("the copy does not open as a database: {e}"))?;
    if !summary.integrity_ok {
        let _ = std::fs::remove_file(&partial);
        return Err("the copy failed SQLite's integrity check".to_owned());
    }
    std::fs::rename(&partial, &args.dest).map_err(|e| {
        format!(
            "renaming {} to {}: {e}",
            partial.display(),
            args.dest.display()
        )
    })?;
    let bytes = std::fs::metadata(&args.dest).map_or(0, |m| m.len());
    Ok(format!(
        "{}: {bytes} bytes, schema version {}, {} actors, integrity ok",
        args.dest.display(),
        summary.schema_version,
        summary.actors
    ))
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

async fn download(args: &BackupArgs, partial: &Path) -> Result<(), String> {
    let uri: hyper::Uri = args
        .url
        .parse()
        .map_err(|e| format!("--url {}: {e}", args.url))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "--url {}: only http:// is supported; run the backup on the host, against \
             torpor's own listener (e.g. http://127.0.0.1:6420), not through a TLS proxy",
            args.url
        ));
    }
    let host = uri.host().unwrap_or("127.0.0.1");
    let port = uri.port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connecting to {host}:{port}: {e} (is torpor running?)"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(tcp))
        .await
        .map_err(|e| format!("HTTP handshake with {host}:{port}: {e}"))?;
    let driver = smol::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::get("/admin/backup").header("host", format!("{host}:{port}"));
    if let Some(token) = &args.admin_token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("building the request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("requesting the backup: {e}"))?;
    let status = resp.status();
    let mut body = resp.into_body();
    if !status.is_success() {
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(format!(
            "torpor answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let mut file = std::fs::File::create(partial)
        .map_err(|e| format!("creating {}: {e}", partial.display()))?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("receiving the backup: {e}"))?;
        if let Some(data) = frame.data_ref() {
            file.write_all(data)
                .map_err(|e| format!("writing {}: {e}", partial.display()))?;
        }
    }
    file.sync_all()
        .map_err(|e| format!("syncing {}: {e}", partial.display()))?;
    drop(driver);
    Ok(())
}
