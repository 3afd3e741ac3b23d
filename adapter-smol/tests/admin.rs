//! Admin API, tokens, `/metrics` and `/healthz` over real HTTP.

mod common;

use common::*;

#[test]
fn admin_api_crud() {
    let gw = start("crud");
    let addr = gw.addr();
    smol::block_on(async {
        assert_eq!(http(addr, "GET", "/healthz", &[], "").await.body, "ok\n");

        let created = http(
            addr,
            "POST",
            "/actors",
            &[],
            r#"{"name":"chat","key":"room-1","input":"aGk="}"#,
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let actor = created.json()["actor"].clone();
        let id = actor["actor_id"].as_str().expect("id").to_owned();
        assert_eq!(actor["name"], "chat");
        assert_eq!(actor["key"], "room-1");
        assert_eq!(actor["runner_name"], "default");
        assert_eq!(actor["namespace"], "default");

        // Same name and key: POST conflicts, PUT returns the existing actor.
        let dup = http(
            addr,
            "POST",
            "/actors",
            &[],
            r#"{"name":"chat","key":"room-1"}"#,
        )
        .await;
        assert_eq!(dup.status, 409, "{}", dup.body);
        assert_eq!(dup.json()["error"]["code"], "conflict");
        let put = http(
            addr,
            "PUT",
            "/actors",
            &[],
            r#"{"name":"chat","key":"room-1"}"#,
        )
        .await;
        assert_eq!(put.status, 200, "{}", put.body);
        assert_eq!(put.json()["actor"]["actor_id"], id.as_str());
        assert_eq!(put.json()["created"], false);
        let put_new = http(
            addr,
            "PUT",
            "/actors",
            &[],
            r#"{"name":"chat","key":"room-2"}"#,
        )
        .await;
        assert_eq!(put_new.status, 201, "{}", put_new.body);
        let other = http(addr, "POST", "/actors", &[], r#"{"name":"lobby"}"#).await;
        assert_eq!(other.status, 201);

        let got = http(addr, "GET", &format!("/actors/{id}"), &[], "").await;
        assert_eq!(got.status, 200);
        assert_eq!(got.json()["actor"]["actor_id"], id.as_str());

        let list = http(addr, "GET", "/actors?name=chat", &[], "").await.json();
        assert_eq!(list["actors"].as_array().expect("list").len(), 2);
        let all = http(addr, "GET", "/actors", &[], "").await.json();
        assert_eq!(all["actors"].as_array().expect("list").len(), 3);

        let sockets = http(addr, "GET", &format!("/actors/{id}/sockets"), &[], "").await;
        assert_eq!(sockets.status, 200);
        assert_eq!(sockets.json()["sockets"], serde_json::json!([]));

        let deleted = http(addr, "DELETE", &format!("/actors/{id}"), &[], "").await;
        assert_eq!(deleted.status, 200, "{}", deleted.body);
        let gone = http(addr, "GET", &format!("/actors/{id}"), &[], "").await;
        assert_eq!(gone.status, 404);
        assert_eq!(gone.json()["error"]["code"], "not_found");
    });
}

#[test]
fn bad_admin_requests_name_the_problem() {
    let gw = start("bad-admin");
    let addr = gw.addr();
    smol::block_on(async {
        let cases = [
            ("POST", "/actors", "{not json", 400, "invalid JSON"),
            (
                "POST",
                "/actors",
                r#"{"nam":"x"}"#,
                400,
                "unknown field `nam`",
            ),
            (
                "POST",
                "/actors",
                r#"{"name":""}"#,
                400,
                "`name` must not be empty",
            ),
            (
                "POST",
                "/actors",
                r#"{"name":"x","input":"***"}"#,
                400,
                "`input` is not base64",
            ),
            (
                "POST",
                "/actors",
                r#"{"name":"x","namespace":"nope"}"#,
                400,
                "unknown namespace",
            ),
            ("GET", "/actors/not-an-id", "", 400, "is not an actor id"),
            ("PATCH", "/actors", "", 405, "allowed"),
            (
                "GET",
                "/actors/00000000-0000-4000-8000-000000000000",
                "",
                404,
                "not found",
            ),
            ("GET", "/nowhere", "", 404, "no route"),
        ];
        for (method, path, body, status, needle) in cases {
            let reply = http(addr, method, path, &[], body).await;
            assert_eq!(
                reply.status, status,
                "{method} {path} {body}: {}",
                reply.body
            );
            let message = reply.json()["error"]["message"]
                .as_str()
                .expect("message")
                .to_owned();
            assert!(message.contains(needle), "{method} {path}: {message}");
        }
        assert!(metric(addr, "http_bad_requests").await >= 9);
    });
}

#[test]
fn admin_token_is_required_when_set() {
    let gw = start_with(config("admin-token", |args, _| {
        args.admin_token = Some("s3cret".to_owned());
    }));
    let addr = gw.addr();
    smol::block_on(async {
        let none = http(addr, "GET", "/actors", &[], "").await;
        assert_eq!(none.status, 401);
        assert!(
            none.json()["error"]["message"]
                .as_str()
                .expect("msg")
                .contains("admin token")
        );
        let wrong = http(
            addr,
            "GET",
            "/actors",
            &[("authorization", "Bearer nope")],
            "",
        )
        .await;
        assert_eq!(wrong.status, 401);
        let metrics = http(addr, "GET", "/metrics", &[], "").await;
        assert_eq!(metrics.status, 401);
        let auth = [("authorization", "Bearer s3cret")];
        let ok = http(addr, "GET", "/actors", &auth, "").await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        // Health checks stay open.
        assert_eq!(http(addr, "GET", "/healthz", &[], "").await.status, 200);
        let page = http(addr, "GET", "/metrics", &auth, "").await.body;
        assert!(page.contains("torpor_admin_unauthorized 3"), "{page}");
    });
}

#[test]
fn metrics_count_what_happens() {
    let gw = start("metrics");
    let addr = gw.addr();
    smol::block_on(async {
        let page = http(addr, "GET", "/metrics", &[], "").await;
        assert_eq!(page.status, 200);
        assert!(
            page.headers["content-type"]
                .to_str()
                .expect("ct")
                .starts_with("text/plain; version=0.0.4")
        );
        assert!(page.body.contains("# TYPE torpor_actors_created counter"));
        assert!(
            page.body
                .contains("# TYPE torpor_hibernating_sockets gauge")
        );
        assert_eq!(metric(addr, "actors_created").await, 0);
        create_actor(addr, "chat", "a").await;
        create_actor(addr, "chat", "b").await;
        assert_eq!(metric(addr, "actors_created").await, 2);
    });
}

#[test]
fn non_loopback_bind_without_tokens_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_torpor"))
        .args(["serve", "--listen", "0.0.0.0:0", "--database"])
        .arg(temp_db("nonloop"))
        .output()
        .expect("run torpor");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address"), "{err}");
    assert!(err.contains("--insecure"), "{err}");
}
