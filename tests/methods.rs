//! The methods beyond 6-3-5 over real WebSockets: C-Sketch strokes travel, are limited,
//! rotate with their sheet and reach the board at the reveal; the brainwriting pool hands
//! sheets out by its rules with the facilitator seeing counts; both carry on into voting and
//! the exports; and both survive a SIGKILL of the real binary on its journal.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Binary, Client, TempDir, TestServer, reveal_texts};
use serde_json::{Value, json};

/// Every sketch layer of a reveal: (round, strokes).
fn layers(reveal: &Value) -> Vec<(u64, Value)> {
    let mut out = Vec::new();
    for sheet in reveal["sheets"].as_array().unwrap() {
        for row in sheet["rows"].as_array().unwrap() {
            for idea in row["ideas"].as_array().unwrap() {
                if let Some(s) = idea.get("sketch") {
                    out.push((row["round"].as_u64().unwrap(), s.clone()));
                }
            }
        }
    }
    out
}

async fn ack(c: &mut Client, seq: u64) -> Value {
    let a = c
        .recv_where(|v| v["type"] == "ack" && v["seq"] == seq)
        .await;
    assert_eq!(a["seq"], seq);
    a
}

async fn refused(c: &mut Client, seq: u64, code: &str) -> String {
    let e = c
        .recv_where(|v| v["type"] == "error" && v["seq"] == seq)
        .await;
    assert_eq!(e["code"], code, "{e}");
    e["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sketch_strokes_travel_rotate_and_reach_the_board_at_the_reveal() {
    // Nobody draws a hundred strokes a second; this test does, to reach the layer's limit.
    let mut cfg = brainwrite::config::Config::for_tests();
    cfg.messages_per_second = 10_000;
    cfg.message_burst = 10_000;
    let server = TestServer::with_config(cfg).await;
    let (status, created) = server
        .create_raw(
            r#"{"topic":"Draw a better bus stop","method":"c_sketch","round_seconds":3600}"#,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["method"], "c_sketch");
    let code = created["code"].as_str().unwrap().to_owned();
    let token = created["facilitator_token"].as_str().unwrap().to_owned();
    assert_eq!(server.room_info(&code).await["method"], "c_sketch");

    let mut fac = server.facilitator(&code, &token).await;
    let mut board = server.connect(&code).await;
    board.send(json!({"type":"watch"})).await;
    let room = board.recv_type("room").await;
    assert_eq!(room["method"], "c_sketch");
    assert_eq!(room["ideas_per_round"], 1, "a C-Sketch row is one sketch");
    let (mut a, _) = server.participant(&code, "A").await;
    let (mut b, _) = server.participant(&code, "B").await;

    // Strokes before the start are refused.
    a.send(json!({"type":"draw","points":[1,1],"seq":1})).await;
    refused(&mut a, 1, "not_writing").await;

    fac.send(json!({"type":"start"})).await;
    let sheet_a = a.recv_type("sheet").await;
    assert_eq!(sheet_a["sketch"], json!([]), "an empty draft layer");
    let own_a = sheet_a["sheet"]["id"].as_str().unwrap().to_owned();
    b.recv_type("sheet").await;

    a.send(json!({"type":"draw","points":[10,10,200,300,400,120],"round":1,"sheet":own_a,"seq":2}))
        .await;
    assert_eq!(ack(&mut a, 2).await["strokes"], 1);
    a.send(json!({"type":"draw","points":[500,500],"seq":3}))
        .await;
    assert_eq!(ack(&mut a, 3).await["strokes"], 2);
    a.send(json!({"type":"undo","seq":4})).await;
    let undone = ack(&mut a, 4).await;
    assert_eq!(
        (undone["strokes"].clone(), undone["slot"].clone()),
        (json!(1), json!(0))
    );
    a.send(json!({"type":"write","slot":0,"text":"A shelter with a bench","seq":5}))
        .await;
    assert_eq!(
        ack(&mut a, 5).await["strokes"],
        Value::Null,
        "a caption is a write"
    );

    // Every refusal is specific, carries the seq and changes nothing.
    a.send(json!({"type":"draw","points":[1001,0],"seq":6}))
        .await;
    assert!(
        refused(&mut a, 6, "invalid_value")
            .await
            .contains("off the canvas")
    );
    a.send(json!({"type":"draw","points":[1,2,3],"seq":7}))
        .await;
    refused(&mut a, 7, "invalid_value").await;
    let long: Vec<u16> = (0..501u16).flat_map(|i| [i, i % 700]).collect();
    a.send(json!({"type":"draw","points":long,"seq":8})).await;
    assert!(refused(&mut a, 8, "sketch_too_big").await.contains("500"));
    a.send(json!({"type":"draw","points":[5,5],"sheet":"s-stale","seq":9}))
        .await;
    refused(&mut a, 9, "not_writing").await;
    a.send(json!({"type":"swap","seq":10})).await;
    refused(&mut a, 10, "wrong_method").await;
    a.send(json!({"type":"draw","points":[1,-1],"seq":11}))
        .await;
    a.expect_error("bad_message").await;
    fac.send(json!({"type":"draw","points":[1,1]})).await;
    fac.expect_error("forbidden").await;
    // The layer's stroke limit, over the wire.
    for i in 0..99u64 {
        b.send(json!({"type":"draw","points":[i as u16, 5],"seq":100 + i}))
            .await;
    }
    assert_eq!(ack(&mut b, 198).await["strokes"], 99);
    b.send(json!({"type":"draw","points":[7,7],"seq":199}))
        .await;
    assert_eq!(ack(&mut b, 199).await["strokes"], 100);
    b.send(json!({"type":"draw","points":[7,7],"seq":200}))
        .await;
    assert!(
        refused(&mut b, 200, "sketch_too_big")
            .await
            .contains("100 strokes")
    );
    b.send(json!({"type":"undo","seq":201})).await;
    assert_eq!(ack(&mut b, 201).await["strokes"], 99);

    // Progress counts the layers, never their content.
    let progress = fac
        .recv_where(|v| {
            v["type"] == "progress"
                && v["sheets"]
                    .as_array()
                    .is_some_and(|s| s.iter().all(|x| x["drafted"] == 1))
        })
        .await;
    assert!(!progress.to_string().contains("bench"));

    // At the boundary A's layer arrives on B's phone, and B draws on top.
    fac.send(json!({"type":"advance"})).await;
    let on_b = b
        .recv_where(|v| v["type"] == "sheet" && v["round"] == 2)
        .await;
    assert_eq!(on_b["sheet"]["id"], own_a);
    let row = &on_b["sheet"]["rows"][0];
    assert_eq!(row["round"], 1);
    assert_eq!(row["ideas"][0]["text"], "A shelter with a bench");
    assert_eq!(
        row["ideas"][0]["sketch"],
        json!([[10, 10, 200, 300, 400, 120]])
    );
    assert_eq!(on_b["sketch"], json!([]), "B's own layer starts empty");
    b.send(json!({"type":"draw","points":[600,600,700,650],"round":2,"seq":300}))
        .await;
    assert_eq!(ack(&mut b, 300).await["strokes"], 1);

    fac.send(json!({"type":"finish"})).await;
    let reveal = board.recv_type("reveal").await;
    let mut l = layers(&reveal);
    l.sort_by_key(|x| x.0);
    // Round 1: A's layer (1 stroke) and B's (99); round 2: B's on A's sheet.
    assert_eq!(l.len(), 3, "{reveal}");
    let a_sheet = reveal["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == own_a)
        .unwrap();
    let rounds: Vec<u64> = a_sheet["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["round"].as_u64().unwrap())
        .collect();
    assert_eq!(rounds, vec![1, 2], "two layers in round order");
    assert_eq!(
        a_sheet["rows"][1]["ideas"][0]["sketch"],
        json!([[600, 600, 700, 650]])
    );
    assert!(
        !reveal.to_string().contains("\"A\""),
        "no author in a reveal"
    );

    // Voting on sketches: the results carry the sketch.
    let idea = a_sheet["rows"][1]["ideas"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    fac.send(json!({"type":"open_voting","votes":1})).await;
    a.recv_type("ballot").await;
    a.send(json!({"type":"vote","idea":idea})).await;
    a.recv_where(|v| v["type"] == "ballot" && v["votes_left"] == 0)
        .await;
    fac.send(json!({"type":"close_voting"})).await;
    let results = board.recv_type("results").await;
    let top = &results["ideas"][0];
    assert_eq!(
        (top["id"].as_str(), top["votes"].as_u64()),
        (Some(idea.as_str()), Some(1))
    );
    assert_eq!(top["sketch"], json!([[600, 600, 700, 650]]));

    // The JSON export keeps the strokes.
    let export: Value = serde_json::from_str(&server.export(&code, &token, "json").await).unwrap();
    assert!(export.to_string().contains("[600,600,700,650]"), "{export}");
    assert_eq!(export["method"], "c_sketch");

    // Markdown and CSV mark every sketch, B's without a caption too.
    let get = |ext: &'static str| server.export(&code, &token, ext);
    let csv = get("csv").await;
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",votes,rank,kind"), "{csv}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows.iter().all(|r| r.ends_with(",sketch")), "{csv}");
    assert!(
        rows.iter().any(|r| r.contains(",A shelter with a bench,")),
        "{csv}"
    );
    let md = get("md").await;
    assert!(md.contains("· C-Sketch · brainwrite"), "{md}");
    assert!(
        md.contains("| 1 | _(sketch)_ A shelter with a bench `"),
        "{md}"
    );
    assert_eq!(
        md.matches("| _(sketch)_ `").count(),
        2,
        "two uncaptioned layers: {md}"
    );
    assert!(
        md.contains(&format!("1. _(sketch)_ — 1 vote `{idea}`")),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_hands_sheets_out_by_its_rules_and_the_facilitator_sees_counts() {
    let server = TestServer::start().await;
    let (status, created) = server
        .create_raw(r#"{"topic":"Fewer meetings","method":"pool","ideas_per_round":2}"#)
        .await;
    assert_eq!(status, 201, "{created}");
    let code = created["code"].as_str().unwrap().to_owned();
    let token = created["facilitator_token"].as_str().unwrap().to_owned();
    let mut fac = server.facilitator(&code, &token).await;
    let lobby = fac.recv_type("room").await;
    assert_eq!(
        (lobby["method"].as_str(), lobby["rounds"].as_u64()),
        (Some("pool"), Some(1))
    );
    assert_eq!(
        lobby["round_seconds"], 1800,
        "the classic preset's pool lasts 30 minutes"
    );
    let mut p = Vec::new();
    for name in ["A", "B", "C"] {
        p.push(server.participant(&code, name).await.0);
    }
    // Swap before the start.
    p[0].send(json!({"type":"swap","seq":1})).await;
    refused(&mut p[0], 1, "not_writing").await;
    fac.send(json!({"type":"start"})).await;
    let mut own = Vec::new();
    for c in &mut p {
        let s = c.recv_type("sheet").await;
        own.push(s["sheet"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(own.iter().collect::<HashSet<_>>().len(), 3);
    // A strokes in a pool room.
    p[0].send(json!({"type":"draw","points":[1,1],"seq":2}))
        .await;
    refused(&mut p[0], 2, "wrong_method").await;

    // A writes and puts its sheet back: nothing it may take, it waits.
    p[0].send(json!({"type":"write","slot":0,"text":"no-meeting wednesdays","seq":3}))
        .await;
    ack(&mut p[0], 3).await;
    p[0].send(json!({"type":"swap","sheet":own[0],"seq":4}))
        .await;
    assert_eq!(ack(&mut p[0], 4).await["round"], 1);
    p[0].recv_where(|v| v["type"] == "me" && v["waiting"] == true)
        .await;
    let counts = fac
        .recv_where(|v| v["type"] == "progress" && v["pool"]["swaps"] == 1)
        .await;
    assert_eq!(
        counts["pool"],
        json!({"pooled": 1, "held": 2, "waiting": 1, "swaps": 1})
    );
    // A stale swap (the sheet it no longer holds).
    p[0].send(json!({"type":"swap","sheet":own[0],"seq":5}))
        .await;
    refused(&mut p[0], 5, "not_writing").await;

    // B puts its sheet back: A (waiting) gets B's, B gets A's with A's idea on it.
    p[1].send(json!({"type":"write","slot":1,"text":"async standups","seq":6}))
        .await;
    ack(&mut p[1], 6).await;
    p[1].send(json!({"type":"swap","seq":7})).await;
    ack(&mut p[1], 7).await;
    let to_a = p[0]
        .recv_where(|v| v["type"] == "sheet" && v["sheet"]["id"] == own[1])
        .await;
    assert_eq!(
        to_a["sheet"]["rows"][0]["ideas"][0]["text"],
        "async standups"
    );
    assert_eq!(to_a["draft"], json!(["", ""]));
    let to_b = p[1]
        .recv_where(|v| v["type"] == "sheet" && v["sheet"]["id"] == own[0])
        .await;
    assert_eq!(
        to_b["sheet"]["rows"][0]["round"], 1,
        "a pool row is numbered by position"
    );
    let counts = fac
        .recv_where(|v| v["type"] == "progress" && v["pool"]["swaps"] == 2)
        .await;
    assert_eq!(
        counts["pool"],
        json!({"pooled": 0, "held": 3, "waiting": 0, "swaps": 2})
    );
    assert!(!counts.to_string().contains("standups"), "counts only");

    // B writes on A's sheet; C writes on its own; the facilitator finishes.
    p[1].send(json!({"type":"write","slot":0,"text":"a meeting budget","seq":8}))
        .await;
    ack(&mut p[1], 8).await;
    p[2].send(json!({"type":"write","slot":0,"text":"walk and talk","seq":9}))
        .await;
    ack(&mut p[2], 9).await;
    fac.send(json!({"type":"advance"})).await;
    let reveal = fac.recv_type("reveal").await;
    let mut texts = reveal_texts(&reveal);
    texts.sort();
    assert_eq!(
        texts,
        vec![
            "a meeting budget",
            "async standups",
            "no-meeting wednesdays",
            "walk and talk"
        ]
    );
    let a_sheet = reveal["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == own[0])
        .unwrap();
    let rows: Vec<u64> = a_sheet["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["round"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, vec![1, 2]);

    // A 6-3-5 room refuses swap.
    let (code6, token6) = server.create(json!({"topic":"t"})).await;
    let mut fac6 = server.facilitator(&code6, &token6).await;
    let (mut x, _) = server.participant(&code6, "X").await;
    let (_y, _) = server.participant(&code6, "Y").await;
    fac6.send(json!({"type":"start"})).await;
    x.recv_type("sheet").await;
    x.send(json!({"type":"swap","seq":1})).await;
    assert!(refused(&mut x, 1, "wrong_method").await.contains("635"));
}

/// The binary on a journal file.
async fn start(dir: &TempDir) -> Binary {
    let data = dir.path("brainwrite.db");
    Binary::spawn(&["--bind", "127.0.0.1:0", "--data", &data], &[], false).await
}

async fn resume(server: &Binary, code: &str, token: &str) -> Client {
    let mut c = Client::connect(&server.ws(code)).await;
    c.send(json!({"type":"join","token":token})).await;
    c.recv_type("welcome").await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_strokes_and_swaps_survive_a_sigkill() {
    let dir = TempDir::new("methods");
    let server = start(&dir).await;
    let sketch = server
        .create(json!({"topic":"sketch","method":"c_sketch","round_seconds":3600}))
        .await;
    let pool = server
        .create(json!({"topic":"pool","method":"pool","ideas_per_round":1}))
        .await;
    let mut tokens = Vec::new();
    let mut people = Vec::new();
    for room in [&sketch, &pool] {
        let code = room["code"].as_str().unwrap();
        let mut fac = Client::connect(&server.ws(code)).await;
        fac.send(json!({"type":"facilitate","token":room["facilitator_token"]}))
            .await;
        fac.recv_type("welcome").await;
        for name in ["A", "B"] {
            let mut c = Client::connect(&server.ws(code)).await;
            c.send(json!({"type":"join","name":name})).await;
            let w = c.recv_type("welcome").await;
            tokens.push(w["token"].as_str().unwrap().to_owned());
            people.push(c);
        }
        fac.send(json!({"type":"start"})).await;
        for c in people.iter_mut().rev().take(2) {
            c.recv_type("sheet").await;
        }
    }
    // C-Sketch: A draws two strokes and takes one back; all acknowledged.
    people[0]
        .send(json!({"type":"draw","points":[1,2,3,4],"seq":1}))
        .await;
    people[0]
        .send(json!({"type":"draw","points":[9,9],"seq":2}))
        .await;
    people[0]
        .send(json!({"type":"draw","points":[8,8],"seq":3}))
        .await;
    people[0].send(json!({"type":"undo","seq":4})).await;
    assert_eq!(ack(&mut people[0], 4).await["strokes"], 2);
    // Pool: A writes and swaps (waits); acknowledged.
    people[2]
        .send(json!({"type":"write","slot":0,"text":"kept","seq":1}))
        .await;
    people[2].send(json!({"type":"swap","seq":2})).await;
    ack(&mut people[2], 2).await;
    drop(people);
    server.kill().await;

    let server = start(&dir).await;
    let code = sketch["code"].as_str().unwrap();
    let mut a = resume(&server, code, &tokens[0]).await;
    let sheet = a.recv_type("sheet").await;
    assert_eq!(
        sheet["sketch"],
        json!([[1, 2, 3, 4], [9, 9]]),
        "the draft layer came back"
    );
    a.send(json!({"type":"draw","points":[5,5],"seq":5})).await;
    assert_eq!(ack(&mut a, 5).await["strokes"], 3);

    let code = pool["code"].as_str().unwrap();
    let mut pa = resume(&server, code, &tokens[2]).await;
    pa.recv_where(|v| v["type"] == "me" && v["waiting"] == true)
        .await;
    let mut pb = resume(&server, code, &tokens[3]).await;
    pb.recv_type("sheet").await;
    pb.send(json!({"type":"swap","seq":3})).await;
    ack(&mut pb, 3).await;
    // A was waiting: it gets B's sheet; B gets A's, with "kept" on it.
    pa.recv_type("sheet").await;
    let to_b = pb.recv_where(|v| v["type"] == "sheet").await;
    assert_eq!(to_b["sheet"]["rows"][0]["ideas"][0]["text"], "kept");
    drop((a, pa, pb));
    tokio::time::timeout(Duration::from_secs(5), server.kill())
        .await
        .unwrap();
}
