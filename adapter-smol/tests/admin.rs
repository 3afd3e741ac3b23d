//! The Rivet Engine's public API as RivetKit calls it (shapes, selection rules, errors in the
//! engine's `{group, code, message}` form), tokens, `/metrics` and `/healthz` over real HTTP.

mod common;

use async_tungstenite::tungstenite::Message;
use common::*;
use serde_json::json;

/// A gateway with the admin token `adm` and the client token `cli`.
fn start_with_tokens(tag: &str) -> torpor_smol::runtime::Background {
    start_with(config(tag, |c| {
        c.admin_token = Some("adm".to_owned());
        c.client_token = Some("cli".to_owned());
    }))
}

fn create_body(name: &str, key: Option<&str>) -> String {
    let mut body = json!({
        "name": name,
        "runner_name_selector": "default",
        "crash_policy": "sleep",
    });
    if let Some(key) = key {
        body["key"] = json!(key);
    }
    body.to_string()
}

#[test]
fn actors_api_in_the_engine_shape() {
    let gw = start("crud");
    let addr = gw.addr();
    smol::block_on(async {
        assert_eq!(http(addr, "GET", "/healthz", &[], "").await.body, "ok\n");
        let health = http(addr, "GET", "/health", &[], "").await;
        assert_eq!(health.json()["status"], "ok");
        assert_eq!(health.json()["runtime"], "engine");
        let meta = http(addr, "GET", "/metadata?namespace=default", &[], "").await;
        assert_eq!(meta.status, 200);
        assert_eq!(meta.json()["runtime"], "engine");
        assert!(meta.json().get("clientEndpoint").is_none());
        assert!(meta.headers.contains_key("x-rivet-ray-id"));
        let dcs = http(addr, "GET", "/datacenters", &[], "").await.json();
        assert_eq!(dcs["datacenters"][0]["name"], "default");
        assert_eq!(dcs["datacenters"][0]["url"], format!("http://{addr}/"));

        let created = http(
            addr,
            "POST",
            "/actors?namespace=default",
            &[],
            &json!({
                "name": "chat",
                "key": "room-1",
                "input": "aGk=",
                "runner_name_selector": "default",
                "crash_policy": "destroy",
            })
            .to_string(),
        )
        .await;
        assert_eq!(created.status, 200, "{}", created.body);
        let actor = created.json()["actor"].clone();
        let id = actor["actor_id"].as_str().expect("id").to_owned();
        assert_eq!(actor["name"], "chat");
        assert_eq!(actor["key"], "room-1");
        assert_eq!(actor["runner_name_selector"], "default");
        assert_eq!(actor["namespace_id"], "default");
        assert_eq!(actor["datacenter"], "default");
        assert_eq!(actor["crash_policy"], "destroy");
        assert!(actor["create_ts"].as_i64().expect("create_ts") > 0);
        for field in ["start_ts", "connectable_ts", "sleep_ts", "destroy_ts"] {
            assert_eq!(actor[field], json!(null), "{field}");
        }
        assert!(
            created.json().get("created").is_none(),
            "POST has no `created`"
        );

        // Same name and key: POST is a duplicate, PUT returns the existing actor.
        let dup = http(
            addr,
            "POST",
            "/actors",
            &[],
            &create_body("chat", Some("room-1")),
        )
        .await;
        assert_eq!(dup.status, 400, "{}", dup.body);
        assert_eq!(error_name(&dup), "actor.duplicate_key");
        assert_eq!(dup.json()["metadata"]["existing_actor_id"], id.as_str());
        let put = http(
            addr,
            "PUT",
            "/actors",
            &[],
            &create_body("chat", Some("room-1")),
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
            &create_body("chat", Some("room-2")),
        )
        .await;
        assert_eq!(put_new.status, 200, "{}", put_new.body);
        assert_eq!(put_new.json()["created"], true);
        let room2 = put_new.json()["actor"]["actor_id"]
            .as_str()
            .expect("id")
            .to_owned();
        let other = http(addr, "POST", "/actors", &[], &create_body("lobby", None)).await;
        assert_eq!(other.status, 200, "{}", other.body);

        // Lookups: by ids, by name + key (never another key's actor), by name.
        let ids = |v: serde_json::Value| -> Vec<String> {
            v["actors"]
                .as_array()
                .expect("actors")
                .iter()
                .map(|a| a["actor_id"].as_str().expect("id").to_owned())
                .collect()
        };
        let by_id = http(
            addr,
            "GET",
            &format!("/actors?actor_ids={id}&namespace=default"),
            &[],
            "",
        )
        .await;
        assert_eq!(ids(by_id.json()), vec![id.clone()]);
        let by_key = http(
            addr,
            "GET",
            "/actors?name=chat&key=room-2&namespace=default",
            &[],
            "",
        )
        .await;
        assert_eq!(ids(by_key.json()), vec![room2.clone()]);
        let missing = http(addr, "GET", "/actors?name=chat&key=room-3", &[], "").await;
        assert_eq!(missing.status, 200);
        assert_eq!(
            missing.json(),
            json!({ "actors": [], "pagination": { "cursor": null } })
        );
        let by_name = http(addr, "GET", "/actors?name=chat", &[], "").await.json();
        let mut got = ids(by_name.clone());
        got.sort();
        let mut want = vec![id.clone(), room2.clone()];
        want.sort();
        assert_eq!(got, want);
        assert!(by_name["pagination"]["cursor"].is_string());
        let page = http(addr, "GET", "/actors?name=chat&limit=1", &[], "")
            .await
            .json();
        assert_eq!(ids(page.clone()).len(), 1);

        let got = http(addr, "GET", &format!("/actors/{id}"), &[], "").await;
        assert_eq!(got.status, 200);
        assert_eq!(got.json()["actor"]["actor_id"], id.as_str());
        let sockets = http(addr, "GET", &format!("/actors/{id}/sockets"), &[], "").await;
        assert_eq!(sockets.status, 200);
        assert_eq!(sockets.json()["sockets"], json!([]));

        // Another namespace's view: its actors are not there.
        let elsewhere = http(
            addr,
            "GET",
            &format!("/actors/{id}?namespace=nope"),
            &[],
            "",
        )
        .await;
        assert_eq!(error_name(&elsewhere), "namespace.not_found");

        let deleted = http(
            addr,
            "DELETE",
            &format!("/actors/{id}?namespace=default"),
            &[],
            "",
        )
        .await;
        assert_eq!(deleted.status, 200, "{}", deleted.body);
        assert_eq!(deleted.json(), json!({}));
        let gone = http(addr, "GET", &format!("/actors/{id}"), &[], "").await;
        assert_eq!(gone.status, 400);
        assert_eq!(error_name(&gone), "actor.not_found");
        let listed = http(addr, "GET", &format!("/actors?actor_ids={id}"), &[], "").await;
        assert_eq!(ids(listed.json()), Vec::<String>::new());

        // Runner configs are accepted and shown.
        let put_cfg = http(
            addr,
            "PUT",
            "/runner-configs/default?namespace=default",
            &[],
            r#"{"datacenters":{"default":{"normal":{},"drain_on_version_upgrade":true}}}"#,
        )
        .await;
        assert_eq!(put_cfg.json(), json!({ "endpoint_config_changed": true }));
        let cfgs = http(addr, "GET", "/runner-configs?namespace=default", &[], "")
            .await
            .json();
        assert_eq!(
            cfgs["runner_configs"]["default"]["datacenters"]["default"]["normal"],
            json!({})
        );
        let bad_dc = http(
            addr,
            "PUT",
            "/runner-configs/default",
            &[],
            r#"{"datacenters":{"mars":{"normal":{}}}}"#,
        )
        .await;
        assert_eq!(error_name(&bad_dc), "datacenter.not_found");
    });
}

#[test]
fn bad_requests_get_the_engine_error_shape() {
    let gw = start("bad-admin");
    let addr = gw.addr();
    smol::block_on(async {
        let cases = [
            ("POST", "/actors", "{not json".to_owned(), 400, "api.bad_request", "Failed to deserialize"),
            ("POST", "/actors", r#"{"nam":"x"}"#.to_owned(), 400, "api.bad_request", "unknown field `nam`"),
            ("POST", "/actors", create_body("", None), 400, "validation.invalid_input", "`name` must not be empty"),
            ("POST", "/actors", create_body("x", Some("")), 400, "validation.invalid_input", "Key label cannot be empty."),
            (
                "POST",
                "/actors",
                r#"{"name":"x","input":"***","runner_name_selector":"default","crash_policy":"sleep"}"#.to_owned(),
                400,
                "api.bad_request",
                "`input` is not base64",
            ),
            (
                "POST",
                "/actors",
                r#"{"name":"x","runner_name_selector":"default","crash_policy":"explode"}"#.to_owned(),
                400,
                "api.bad_request",
                "unknown crash_policy",
            ),
            ("POST", "/actors?namespace=nope", create_body("x", None), 400, "namespace.not_found", "does not exist"),
            ("PUT", "/actors", create_body("x", None), 400, "api.bad_request", "missing field `key`"),
            // Filters Torpor does not support, or the engine refuses, are never ignored.
            ("GET", "/actors?name=x&colour=red", String::new(), 400, "api.bad_request", "unknown query parameter `colour`"),
            ("GET", "/actors?name=x&include_destroyed=true", String::new(), 400, "api.bad_request", "include_destroyed"),
            ("GET", "/actors?key=k", String::new(), 400, "validation.invalid_input", "Name is required when key is provided."),
            ("GET", "/actors", String::new(), 400, "validation.invalid_input", "Name is required when not using actor_ids."),
            (
                "GET",
                "/actors?actor_ids=00000000-0000-4000-8000-000000000000&name=x",
                String::new(),
                400,
                "validation.invalid_input",
                "Cannot provide both",
            ),
            ("GET", "/actors?actor_ids=zzz", String::new(), 400, "api.bad_request", "invalid id"),
            ("GET", "/actors/not-an-id", String::new(), 400, "api.bad_request", "invalid actor id"),
            ("PATCH", "/actors", String::new(), 405, "api.method_not_allowed", "allowed"),
            (
                "GET",
                "/actors/00000000-0000-4000-8000-000000000000",
                String::new(),
                400,
                "actor.not_found",
                "does not exist",
            ),
            ("GET", "/nowhere", String::new(), 404, "api.not_found", "not found"),
            ("GET", "/gateway/@tok/x", String::new(), 400, "api.bad_request", "actor id and a token"),
            (
                "GET",
                "/gateway/00000000-0000-4000-8000-000000000000/x",
                String::new(),
                404,
                "actor.not_found",
                "does not exist",
            ),
        ];
        let n = cases.len() as u64;
        for (method, path, body, status, name, needle) in cases {
            let reply = http(addr, method, path, &[], &body).await;
            assert_eq!(
                reply.status, status,
                "{method} {path} {body}: {}",
                reply.body
            );
            assert_eq!(error_name(&reply), name, "{method} {path}");
            let message = reply.json()["message"]
                .as_str()
                .expect("message")
                .to_owned();
            assert!(message.contains(needle), "{method} {path}: {message}");
        }
        assert!(metric(addr, "http_bad_requests_total").await >= n);
    });
}

#[test]
fn admin_token_is_required_when_set() {
    let gw = start_with(config("admin-token", |c| {
        c.admin_token = Some("s3cret".to_owned());
    }));
    let addr = gw.addr();
    smol::block_on(async {
        let none = http(addr, "GET", "/actors?name=x", &[], "").await;
        assert_eq!(none.status, 403);
        assert_eq!(error_name(&none), "api.forbidden");
        let wrong = http(
            addr,
            "GET",
            "/actors?name=x",
            &[("authorization", "Bearer nope")],
            "",
        )
        .await;
        assert_eq!(wrong.status, 403);
        let metrics = http(addr, "GET", "/metrics", &[], "").await;
        assert_eq!(metrics.status, 403);
        let auth = [("authorization", "Bearer s3cret")];
        let ok = http(addr, "GET", "/actors?name=x", &auth, "").await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        // The scheme in any case.
        let lower = http(
            addr,
            "GET",
            "/actors?name=x",
            &[("authorization", "bearer s3cret")],
            "",
        )
        .await;
        assert_eq!(lower.status, 200, "{}", lower.body);
        // Health checks and metadata stay open.
        assert_eq!(http(addr, "GET", "/healthz", &[], "").await.status, 200);
        assert_eq!(http(addr, "GET", "/health", &[], "").await.status, 200);
        assert_eq!(http(addr, "GET", "/metadata", &[], "").await.status, 200);
        let page = http(addr, "GET", "/metrics", &auth, "").await.body;
        assert!(page.contains("torpor_admin_unauthorized_total 2"), "{page}");
        assert!(
            page.contains("torpor_metrics_unauthorized_total 1"),
            "{page}"
        );
    });
}

#[test]
fn client_token_guards_the_gateway_and_the_client_actor_routes() {
    let gw = start_with_tokens("client-token");
    let addr = gw.addr();
    smol::block_on(async {
        let _runner = runner(addr).await;
        let client_auth = [("authorization", "Bearer cli")];
        // The client token opens the routes a RivetKit client calls, not the others.
        let created = http(
            addr,
            "POST",
            "/actors?namespace=default",
            &client_auth,
            &create_body("chat", Some("room")),
        )
        .await;
        assert_eq!(created.status, 200, "{}", created.body);
        let actor = created.json()["actor"]["actor_id"]
            .as_str()
            .expect("id")
            .to_owned();
        let listed = http(addr, "GET", "/actors?name=chat&key=room", &client_auth, "").await;
        assert_eq!(listed.json()["actors"][0]["actor_id"], actor.as_str());
        let destroy = http(
            addr,
            "DELETE",
            &format!("/actors/{actor}"),
            &client_auth,
            "",
        )
        .await;
        assert_eq!(destroy.status, 403, "{}", destroy.body);
        assert_eq!(error_name(&destroy), "api.forbidden");
        let metrics = http(addr, "GET", "/metrics", &client_auth, "").await;
        assert_eq!(metrics.status, 403);

        // Through the gateway: no token or a wrong one is a 403; the path form, the
        // `x-rivet-token` header and the admin token pass.
        let path = format!("/gateway/{actor}/api/echo");
        let none = http(addr, "POST", &path, &[], "ping").await;
        assert_eq!(none.status, 403, "{}", none.body);
        assert_eq!(error_name(&none), "api.forbidden");
        let wrong = http(
            addr,
            "POST",
            &format!("/gateway/{actor}@nope/api/echo"),
            &[],
            "",
        )
        .await;
        assert_eq!(wrong.status, 403, "{}", wrong.body);
        let by_path = http(
            addr,
            "POST",
            &format!("/gateway/{actor}@cli/api/echo"),
            &[],
            "ping",
        )
        .await;
        assert_eq!(by_path.status, 200, "{}", by_path.body);
        assert_eq!(by_path.body, "POST /api/echo\nping");
        let by_header = http(addr, "POST", &path, &[("x-rivet-token", "cli")], "a").await;
        assert_eq!(by_header.body, "POST /api/echo\na");
        let by_admin = http(
            addr,
            "POST",
            &format!("/gateway/{actor}@adm/api/echo"),
            &[],
            "b",
        )
        .await;
        assert_eq!(by_admin.body, "POST /api/echo\nb");

        // A WebSocket without the token is accepted and closed 1011 `api.forbidden#ray`, as
        // every refused gateway WebSocket is; with it, it reaches the actor.
        let mut refused = client(addr, &actor, "/ws").await.expect("accepted");
        let Some(Message::Close(Some(close))) = next(&mut refused, WAIT).await else {
            panic!("no close frame");
        };
        assert_eq!(u16::from(close.code), 1011);
        let (name, _ray) = close.reason.as_str().split_once('#').expect("reason");
        assert_eq!(name, "api.forbidden");
        let mut ws = client(addr, &format!("{actor}@cli"), "/ws")
            .await
            .expect("connects");
        ws.send(Message::text("hi")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("hi")));

        let page = http(
            addr,
            "GET",
            "/metrics",
            &[("authorization", "Bearer adm")],
            "",
        )
        .await;
        assert!(
            page.body.contains("torpor_gateway_unauthorized_total 3"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("torpor_admin_unauthorized_total 1"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("torpor_metrics_unauthorized_total 1"),
            "{}",
            page.body
        );
    });
}

#[test]
fn actor_names_and_kv_reads_in_the_engine_shape() {
    let gw = start("names-kv");
    let addr = gw.addr();
    smol::block_on(async {
        for (name, key) in [
            ("chat", "a"),
            ("chat", "b"),
            ("counter", "x"),
            ("room", "y"),
        ] {
            create_actor(addr, name, key).await;
        }
        let all = http(addr, "GET", "/actors/names?namespace=default", &[], "").await;
        assert_eq!(all.status, 200, "{}", all.body);
        assert_eq!(
            all.json(),
            json!({
                "names": { "chat": { "metadata": {} }, "counter": { "metadata": {} }, "room": { "metadata": {} } },
                "pagination": { "cursor": "room" },
            })
        );
        let page = http(addr, "GET", "/actors/names?limit=1&cursor=chat", &[], "").await;
        assert_eq!(
            page.json(),
            json!({ "names": { "counter": { "metadata": {} } }, "pagination": { "cursor": "counter" } })
        );
        let other = http(addr, "GET", "/actors/names?namespace=nope", &[], "").await;
        assert_eq!(error_name(&other), "namespace.not_found");

        let actor = create_actor(addr, "kv", "k").await;
        // base64("missing") = bWlzc2luZw==, with its `=` escaped as RivetKit escapes it.
        let missing = http(
            addr,
            "GET",
            &format!("/actors/{actor}/kv/keys/bWlzc2luZw%3D%3D?namespace=default"),
            &[],
            "",
        )
        .await;
        assert_eq!(missing.status, 400, "{}", missing.body);
        assert_eq!(error_name(&missing), "actor.kv_key_not_found");
        let bad = http(
            addr,
            "GET",
            &format!("/actors/{actor}/kv/keys/%%%"),
            &[],
            "",
        )
        .await;
        assert_eq!(error_name(&bad), "api.bad_request");
        let unknown = "00000000-0000-4000-8000-000000000000";
        let gone = http(
            addr,
            "GET",
            &format!("/actors/{unknown}/kv/keys/AA=="),
            &[],
            "",
        )
        .await;
        assert_eq!(error_name(&gone), "actor.not_found");
        let post = http(
            addr,
            "POST",
            &format!("/actors/{actor}/kv/keys/AA=="),
            &[],
            "",
        )
        .await;
        assert_eq!(post.status, 405);
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
        assert!(
            page.body
                .contains("# TYPE torpor_actors_created_total counter")
        );
        assert!(
            page.body
                .contains("# TYPE torpor_hibernating_sockets gauge")
        );
        assert_eq!(metric(addr, "actors_created_total").await, 0);
        create_actor(addr, "chat", "a").await;
        create_actor(addr, "chat", "b").await;
        assert_eq!(metric(addr, "actors_created_total").await, 2);
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

#[test]
fn runners_are_listed_by_namespace_and_name() {
    let gw = start("runners");
    let addr = gw.addr();
    smol::block_on(async {
        let empty = http(addr, "GET", "/runners?namespace=default", &[], "").await;
        assert_eq!(
            empty.json(),
            json!({ "runners": [], "pagination": { "cursor": null } })
        );
        let _runner = runner(addr).await;
        let list = http(
            addr,
            "GET",
            "/runners?namespace=default&name=default",
            &[],
            "",
        )
        .await
        .json();
        let runners = list["runners"].as_array().expect("runners");
        assert_eq!(runners.len(), 1, "{list}");
        assert_eq!(runners[0]["name"], "default");
        assert_eq!(runners[0]["connected"], true);
        assert_eq!(
            runners[0]["remaining_slots"], runners[0]["total_slots"],
            "no actors yet"
        );
        let other = http(addr, "GET", "/runners?namespace=default&name=gpu", &[], "")
            .await
            .json();
        assert_eq!(other["runners"], json!([]));
        let bad = http(addr, "GET", "/runners?namespace=nope", &[], "").await;
        assert_eq!(error_name(&bad), "namespace.not_found");
    });
}

#[test]
fn namespaces_created_at_run_time_hold_their_own_actors_and_runners() {
    let db = temp_db("namespaces");
    let run = |db: std::path::PathBuf| {
        start_with(config("namespaces", move |c| {
            c.database = db;
        }))
    };
    let gw = run(db.clone());
    let addr = gw.addr();
    smol::block_on(async {
        let body = r#"{"name":"team-a","display_name":"Team A"}"#;
        let created = http(addr, "POST", "/namespaces", &[], body).await;
        assert_eq!(created.status, 200, "{}", created.body);
        assert_eq!(created.json()["namespace"]["name"], "team-a");
        assert_eq!(created.json()["namespace"]["display_name"], "Team A");
        let again = http(addr, "POST", "/namespaces", &[], body).await;
        assert_eq!(error_name(&again), "namespace.name_not_unique");
        for (name, display, reason) in [
            ("Team", "x", "invalid name"),
            ("-a", "x", "invalid name"),
            ("a--b", "x", "invalid name"),
            ("ok", "", "display name too short"),
            ("ok", " padded", "invalid display name"),
        ] {
            let bad = http(
                addr,
                "POST",
                "/namespaces",
                &[],
                &json!({ "name": name, "display_name": display }).to_string(),
            )
            .await;
            assert_eq!(error_name(&bad), "namespace.failed_to_create", "{name:?}");
            assert_eq!(
                bad.json()["message"],
                format!("Failed to create namespace: {reason}")
            );
        }
        let list = http(addr, "GET", "/namespaces", &[], "").await.json();
        let names: Vec<&str> = list["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .map(|n| n["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, vec!["default", "team-a"]);

        // Actors are per namespace: the same name and key in both, each sees only its own.
        let mk = |ns: &'static str| async move {
            let r = http(
                addr,
                "PUT",
                &format!("/actors?namespace={ns}"),
                &[],
                &create_body("room", Some("k")),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["actor"]["actor_id"]
                .as_str()
                .expect("id")
                .to_owned()
        };
        let a = mk("team-a").await;
        let d = mk("default").await;
        assert_ne!(a, d);
        let in_a = http(
            addr,
            "GET",
            "/actors?namespace=team-a&name=room&key=k",
            &[],
            "",
        )
        .await
        .json();
        assert_eq!(in_a["actors"][0]["actor_id"], a.as_str());
        assert_eq!(in_a["actors"].as_array().expect("list").len(), 1);
        let cross = http(
            addr,
            "GET",
            &format!("/actors?namespace=default&actor_ids={a}"),
            &[],
            "",
        )
        .await
        .json();
        assert_eq!(cross["actors"], json!([]));

        // A runner of the new namespace is admitted, and listed there only.
        let mut cfg = torpor_runner_kit::RunnerConfig::new(ws_base(addr));
        cfg.namespace = "team-a".to_owned();
        let _runner = torpor_runner_kit::TestRunner::connect(cfg)
            .await
            .expect("admitted");
        let runners = http(addr, "GET", "/runners?namespace=team-a", &[], "")
            .await
            .json();
        assert_eq!(runners["runners"].as_array().expect("runners").len(), 1);
        let none = http(addr, "GET", "/runners?namespace=default", &[], "")
            .await
            .json();
        assert_eq!(none["runners"], json!([]));
    });
    drop(gw);
    // It is stored: it exists after a restart.
    let gw = run(db);
    let addr = gw.addr();
    smol::block_on(async {
        let list = http(addr, "GET", "/namespaces?name=team-a", &[], "")
            .await
            .json();
        assert_eq!(list["namespaces"][0]["display_name"], "Team A");
    });
}

/// The query form creates actors, so its token is checked first: a refused request creates
/// nothing. `rvt-token` carries the token as the `@token` path form does.
#[test]
fn query_form_gateway_checks_the_token_before_creating_anything() {
    let gw = start_with_tokens("query-token");
    let addr = gw.addr();
    smol::block_on(async {
        let _runner = runner(addr).await;
        let query = "rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=k";
        let refused = http(addr, "POST", &format!("/gateway/chat/e?{query}"), &[], "x").await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert_eq!(error_name(&refused), "api.forbidden");
        let auth = [("authorization", "Bearer adm")];
        let listed = http(
            addr,
            "GET",
            "/actors?namespace=default&name=chat",
            &auth,
            "",
        )
        .await;
        assert_eq!(
            listed.json()["actors"],
            serde_json::json!([]),
            "{}",
            listed.body
        );

        let path = format!("/gateway/chat/e?{query}&rvt-token=cli");
        let ok = http(addr, "POST", &path, &[], "x").await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.body, "POST /e\nx");
        let listed = http(
            addr,
            "GET",
            "/actors?namespace=default&name=chat",
            &auth,
            "",
        )
        .await;
        assert_eq!(listed.json()["actors"].as_array().map(Vec::len), Some(1));
    });
}
