//! Running it for real: `/metrics` parses as Prometheus text and its counters move during a
//! session; `/readyz` turns unready as soon as shutdown begins while the server still serves;
//! logs never carry idea text or tokens.

mod common;

use std::time::Duration;

use common::{Binary, Client, TempDir, TestServer, metric_value as value};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_during_a_session() {
    let mut cfg = brainwrite::Config::for_tests();
    let dir = TempDir::new("metrics");
    cfg.memory = false;
    cfg.data = dir.0.join("m.db");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let hub = brainwrite::Hub::open(cfg, shutdown.clone()).unwrap();
    tokio::spawn(brainwrite::serve(listener, hub.clone()));
    let server = TestServer {
        addr,
        hub,
        shutdown,
        task: None,
    };

    let before = server.scrape().await;
    let (code, token) = server
        .create(json!({"topic":"metrics","round_seconds":1,"rounds":1}))
        .await;
    let mut fac = server.facilitator(&code, &token).await;
    let (mut a, _) = server.participant(&code, "A").await;
    let (mut b, _) = server.participant(&code, "B").await;
    let during = server.scrape().await;
    assert!(value(&during, "brainwrite_connections", None) >= 3.0);
    assert!(value(&during, "brainwrite_rooms", Some(("phase", "lobby"))) >= 1.0);
    assert!(value(&during, "brainwrite_participants", None) >= 2.0);
    fac.send(json!({"type":"start"})).await;
    a.recv_type("sheet").await;
    b.recv_type("sheet").await;
    a.send(json!({"type":"write","slot":0,"text":"counted, never logged"}))
        .await;
    a.recv_type("ack").await;
    a.send(json!({"type":"write","slot":9,"text":"x"})).await;
    a.expect_error("invalid_slot").await;
    b.recv_type("reveal").await;
    let after = server.scrape().await;
    let moved = |name: &str, label: Option<(&str, &str)>| {
        value(&after, name, label) - value(&before, name, label)
    };
    assert!(moved("brainwrite_messages_in_total", None) >= 6.0);
    assert!(moved("brainwrite_messages_out_total", None) >= 10.0);
    assert!(
        moved(
            "brainwrite_rejected_messages_total",
            Some(("code", "invalid_slot"))
        ) >= 1.0
    );
    assert!(moved("brainwrite_rooms_created_total", None) >= 1.0);
    assert!(value(&after, "brainwrite_rooms", Some(("phase", "finished"))) >= 1.0);
    assert!(
        moved("brainwrite_journal_commit_seconds_count", None) >= 3.0,
        "journal commits are timed"
    );
    assert!(
        moved("brainwrite_round_delivery_seconds_count", None) >= 1.0,
        "round boundaries are timed"
    );
    drop((a, b, fac));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_unready_as_soon_as_shutdown_begins() {
    let mut cfg = brainwrite::Config::for_tests();
    cfg.shutdown_drain = Duration::from_millis(1500);
    let server = TestServer::with_config(cfg).await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (code, _) = server.create(json!({"topic":"t"})).await;
    let (mut a, _) = server.participant(&code, "A").await;
    let hub = server.hub.clone();
    tokio::spawn(async move { hub.shut_down().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "not_ready");
    // Still serving during the drain: liveness and the open socket work.
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    a.send(json!({"type":"ping"})).await;
    a.recv_type("pong").await;
    // Then every socket is closed with 1012.
    assert_eq!(a.closed(Duration::from_secs(5)).await, Some(1012));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_carry_idea_text_or_tokens() {
    let mut server = Binary::spawn(
        &["--bind", "127.0.0.1:0", "--memory", "--log-format", "json"],
        &[("RUST_LOG", "debug")],
        true,
    )
    .await;
    let mut stderr = server.child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        s
    });
    let created = server
        .create(json!({"topic":"logging","round_seconds":1,"rounds":1}))
        .await;
    let code = created["code"].as_str().unwrap();
    let fac_token = created["facilitator_token"].as_str().unwrap().to_owned();
    let ws = server.ws(code);
    let mut fac = Client::connect(&ws).await;
    fac.send(json!({"type":"facilitate","token": fac_token}))
        .await;
    let mut tokens = vec![fac_token.clone()];
    let mut people = Vec::new();
    for i in 0..2 {
        let mut c = Client::connect(&ws).await;
        c.send(json!({"type":"join","name":format!("N{i}")})).await;
        tokens.push(
            c.recv_type("welcome").await["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        people.push(c);
    }
    fac.send(json!({"type":"start"})).await;
    for (i, p) in people.iter_mut().enumerate() {
        p.recv_type("sheet").await;
        p.send(json!({"type":"write","slot":0,"text":format!("SECRET-IDEA-{i}")}))
            .await;
        p.recv_type("ack").await;
    }
    people[0].recv_type("reveal").await;
    // A wrong token is logged as a refusal, never as the token.
    let mut bad = Client::connect(&ws).await;
    bad.send(json!({"type":"facilitate","token":"WRONG-TOKEN-123"}))
        .await;
    bad.expect_error("forbidden").await;
    drop((people, fac, bad));
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.terminate();
    let _ = tokio::time::timeout(Duration::from_secs(10), server.child.wait()).await;
    let log = log.await.unwrap();
    assert!(
        log.lines().count() > 5,
        "debug logging produced lines: {log}"
    );
    for line in log.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    assert!(!log.contains("SECRET-IDEA"), "idea text in the logs");
    assert!(
        !log.contains("WRONG-TOKEN"),
        "a presented token in the logs"
    );
    for t in &tokens {
        assert!(!log.contains(t.as_str()), "a token in the logs");
    }
}
