//! The few admin calls the load tool needs, over hyper.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use smol::net::TcpStream;
use smol_hyper::rt::FuturesIo;

async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<String, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    let driver = smol::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    drop(driver);
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Creates an actor; returns its id.
pub async fn create_actor(addr: SocketAddr, name: &str, key: &str) -> Result<String, String> {
    let body = request(
        addr,
        "POST",
        "/actors",
        &format!(
            r#"{{"name":"{name}","key":"{key}","runner_name_selector":"default","crash_policy":"sleep"}}"#
        ),
    )
    .await?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    v["actor"]["actor_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("create actor: {body}"))
}

/// One value from `/metrics`.
pub async fn metric(addr: SocketAddr, name: &str) -> Result<u64, String> {
    let page = request(addr, "GET", "/metrics", "").await?;
    page.lines()
        .find_map(|l| l.strip_prefix(&format!("torpor_{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("metric {name} missing"))
}
