use super::*;

fn serve(args: &[&str]) -> ServeArgs {
    let mut argv = vec!["torpor", "serve"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv).expect("arguments parse").command {
        Command::Serve(a) => a,
        other => panic!("not serve: {other:?}"),
    }
}

fn file(text: &str) -> Result<FileValues, ConfigError> {
    parse_file(text, Path::new("torpor.toml"))
}

fn resolve(args: &[&str], text: &str, env: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    serve(args).resolve_with(&file(text)?, &move |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

#[test]
fn defaults_listen_on_loopback_with_the_default_database() {
    let c = resolve(&[], "", &[]).unwrap();
    assert_eq!(c, ServeConfig::default());
    assert_eq!(c.listen, "127.0.0.1:6420".parse().unwrap());
    assert_eq!(c.database, PathBuf::from("torpor.db"));
    assert_eq!((c.log_format, c.log.as_str()), (LogFormat::Human, "info"));
    assert_eq!(c.core, torpor_core::Config::default());
}

#[test]
fn flags_override_the_environment_which_overrides_the_file() {
    let text = r#"
        listen = "127.0.0.1:7000"
        database = "/tmp/file.db"
        log_format = "json"
        threads = 2
        namespaces = ["staging"]
        [gateway]
        ack_timeout_ms = 5000
        socket_window_messages = 16
        wake_on_close = false
    "#;
    let c = resolve(
        &["--database", "/tmp/flag.db"],
        text,
        &[("TORPOR_DATABASE", "/tmp/env.db"), ("TORPOR_THREADS", "3")],
    )
    .unwrap();
    assert_eq!(c.listen, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(c.database, PathBuf::from("/tmp/flag.db"));
    assert_eq!(c.threads, 3);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(
        c.core.namespaces,
        vec!["default".to_owned(), "staging".to_owned()]
    );
    assert_eq!(c.core.ack_timeout, Duration::from_secs(5));
    assert_eq!(c.core.socket_window_messages, 16);
    assert!(!c.core.wake_on_close);
}

#[test]
fn an_unknown_key_is_named_with_its_line_and_column_and_the_likely_key() {
    let err = file("listen = \"127.0.0.1:1\"\n[gateway]\n  ack_timeout = 5\n").unwrap_err();
    assert_eq!(err.setting, "gateway.ack_timeout");
    assert_eq!(
        err.to_string(),
        "torpor.toml:3:3: `gateway.ack_timeout`: unknown key; did you mean \
         `gateway.ack_timeout_ms`? (`torpor config example` lists every key)"
    );
    let err = file("listne = \"127.0.0.1:1\"\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("torpor.toml:1:1: `listne`: unknown key; did you mean `listen`?"),
        "{err}"
    );
    // A gateway key at the top level is not silently accepted either.
    let err = file("ack_timeout_ms = 5\n").unwrap_err();
    assert_eq!(err.setting, "ack_timeout_ms");
    assert!(err.problem.contains("`gateway.ack_timeout_ms`"), "{err}");
}

#[test]
fn a_wrong_type_names_the_key_the_line_and_what_is_allowed() {
    let err = file("\n[gateway]\nack_timeout_ms = \"30s\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "torpor.toml:3:18: `gateway.ack_timeout_ms`: expected whole milliseconds from 1 to \
         86400000, found string"
    );
    let err = file("insecure = \"yes\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "torpor.toml:1:12: `insecure`: expected true or false, found string"
    );
    let err = file("log_format = \"xml\"\n").unwrap_err();
    assert!(err.problem.contains("one of \"human\", \"json\""), "{err}");
}

#[test]
fn durations_and_sizes_are_range_checked() {
    let err = file("[gateway]\nack_timeout_ms = 0\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "torpor.toml:2:18: `gateway.ack_timeout_ms`: 0 is out of range: expected whole \
         milliseconds from 1 to 86400000"
    );
    let err = file("[gateway]\nsocket_window_messages = 40000\n").unwrap_err();
    assert_eq!(err.setting, "gateway.socket_window_messages");
    assert!(err.problem.contains("from 1 to 32767"), "{err}");
    let err = file("threads = -1\n").unwrap_err();
    assert_eq!(err.setting, "threads");
    assert!(err.problem.contains("out of range"), "{err}");
}

#[test]
fn rules_across_settings_name_the_file_key() {
    let err = resolve(&[], "[gateway]\nrunner_pong_timeout_ms = 1000\n", &[]).unwrap_err();
    assert_eq!(err.setting, "gateway.runner_pong_timeout_ms");
    assert!(err.problem.contains("runner_ping_interval"), "{err}");
}

#[test]
fn boolean_environment_variables_take_the_usual_spellings() {
    for (raw, want) in [
        ("1", true),
        ("true", true),
        ("TRUE", true),
        ("yes", true),
        ("on", true),
        ("0", false),
        ("false", false),
        ("no", false),
        ("off", false),
    ] {
        let c = resolve(&[], "", &[("TORPOR_INSECURE", raw)]).unwrap();
        assert_eq!(c.insecure, want, "{raw}");
    }
    let err = resolve(&[], "", &[("TORPOR_INSECURE", "maybe")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable TORPOR_INSECURE: `maybe` is not a boolean: expected 1, true, \
         yes, on, 0, false, no or off"
    );
}

#[test]
fn bad_numbers_in_the_environment_name_the_variable() {
    let err = resolve(&[], "", &[("TORPOR_THREADS", "many")]).unwrap_err();
    assert_eq!(err.setting, "TORPOR_THREADS");
    assert_eq!(err.origin, Origin::Env);
    let err = resolve(&["--threads", "0"], "", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flag --threads: 0 is out of range: expected a whole number from 1 to 256"
    );
}

#[test]
fn listen_takes_localhost_and_names_the_flag_when_wrong() {
    let c = resolve(&["--listen", "localhost:7001"], "", &[]).unwrap();
    assert_eq!(c.listen, "127.0.0.1:7001".parse().unwrap());
    let c = resolve(&[], "", &[("TORPOR_LISTEN", "[::1]:7002")]).unwrap();
    assert_eq!(c.listen, "[::1]:7002".parse().unwrap());
    let err = resolve(&["--listen", "not-an-address"], "", &[]).unwrap_err();
    assert_eq!(err.setting, "--listen");
    assert!(err.problem.contains("localhost:PORT"), "{err}");
    let err = resolve(&["--listen", "localhost:http"], "", &[]).unwrap_err();
    assert!(err.problem.contains("not a port number"), "{err}");
}

#[test]
fn a_public_address_needs_both_tokens_or_insecure() {
    let err = resolve(&["--listen", "0.0.0.0:6420"], "", &[]).unwrap_err();
    assert_eq!(err.setting, "listen");
    assert!(err.problem.contains("--insecure"), "{err}");
    let err = resolve(
        &["--listen", "0.0.0.0:6420", "--runner-token", "r"],
        "",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.setting, "listen");
    let c = resolve(
        &[
            "--listen",
            "0.0.0.0:6420",
            "--runner-token",
            "r",
            "--admin-token",
            "a",
        ],
        "",
        &[],
    )
    .unwrap();
    assert_eq!(
        (c.core.runner_token.as_deref(), c.admin_token.as_deref()),
        (Some("r"), Some("a"))
    );
    assert!(
        resolve(&["--listen", "0.0.0.0:6420", "--insecure"], "", &[])
            .unwrap()
            .insecure
    );
}

#[test]
fn empty_tokens_are_refused_where_written_and_ignored_in_the_environment() {
    let err = resolve(&["--admin-token", ""], "", &[]).unwrap_err();
    assert_eq!(
        (err.setting.as_str(), err.origin),
        ("--admin-token", Origin::Flag)
    );
    let err = file("client_token = \"\"\n").unwrap_err();
    assert_eq!(err.setting, "client_token");
    assert!(err.problem.contains("disables its check"), "{err}");
    let c = resolve(&[], "", &[("TORPOR_RUNNER_TOKEN", "")]).unwrap();
    assert_eq!(c.core.runner_token, None);
}

#[test]
fn lists_are_checked_entry_by_entry() {
    let err = resolve(&[], "trusted_proxies = [\"127.0.0.1\", \"proxy\"]\n", &[]).unwrap_err();
    assert_eq!(err.setting, "trusted_proxies");
    assert!(
        err.problem.contains("`proxy` is not an IP address"),
        "{err}"
    );
    let err = resolve(&[], "allowed_origins = [\"https://a.example/path\"]\n", &[]).unwrap_err();
    assert_eq!(err.setting, "allowed_origins");
    let c = resolve(
        &[],
        "",
        &[(
            "TORPOR_ALLOWED_ORIGINS",
            "https://a.example, http://localhost:3000",
        )],
    )
    .unwrap();
    assert_eq!(
        c.allowed_origins,
        ["https://a.example", "http://localhost:3000"]
    );
    let err = resolve(&["--log", "info,[bad"], "", &[]).unwrap_err();
    assert_eq!(err.setting, "log");
}

#[test]
fn the_example_file_is_valid_and_resolves_to_the_defaults() {
    // So the defaults the table prints are the code's defaults.
    let text = settings::example();
    let c = resolve(&[], &text, &[]).unwrap();
    assert_eq!(c, ServeConfig::default());
    // Every setting appears, by its key's last part.
    for s in SETTINGS {
        let name = s.key.rsplit('.').next().unwrap();
        assert!(
            text.contains(&format!("\n{name} = ")) || text.contains(&format!("\n# {name} = ")),
            "{} missing",
            s.key
        );
    }
}

#[test]
fn configuration_md_holds_the_example_file() {
    let doc = include_str!("../../../CONFIGURATION.md");
    assert!(
        doc.contains(&settings::example()),
        "CONFIGURATION.md is stale: paste the output of `torpor config example` into it"
    );
}

#[test]
fn a_reload_keeps_every_setting_marked_for_a_restart() {
    let running = resolve(&[], "", &[]).unwrap();
    let edited = resolve(
        &[],
        "listen = \"127.0.0.1:7777\"\nthreads = 4\ninsecure = true\nlog = \"debug\"\n\
         namespaces = [\"x\"]\nadmin_token = \"new\"\n[gateway]\nseed = 9\nack_timeout_ms = 5\n",
        &[],
    )
    .unwrap();
    let (applied, restart) = running.reloadable(edited);
    assert_eq!(
        restart,
        [
            "listen",
            "insecure",
            "threads",
            "namespaces",
            "gateway.seed"
        ]
    );
    // Every key the table marks `reload: false` is one `reloadable` keeps.
    for s in SETTINGS.iter().filter(|s| !s.reload) {
        assert!(
            [
                "listen",
                "database",
                "insecure",
                "log_format",
                "threads",
                "namespaces",
                "http_header_timeout_ms",
                "gateway.seed"
            ]
            .contains(&s.key),
            "{} is not kept on a reload",
            s.key
        );
    }
    assert_eq!(
        (
            applied.listen,
            applied.threads,
            applied.insecure,
            applied.seed
        ),
        (running.listen, 1, false, None)
    );
    assert_eq!(applied.core.namespaces, running.core.namespaces);
    assert_eq!(
        (applied.log.as_str(), applied.admin_token.as_deref()),
        ("debug", Some("new"))
    );
    assert_eq!(applied.core.ack_timeout, Duration::from_millis(5));
}
