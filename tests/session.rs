//! A whole 6-3-5 session over real WebSockets: 6 participants, 1-second rounds, 108 ideas,
//! correct rotation, reveal, and anonymity on the wire.

mod common;

use std::collections::{HashMap, HashSet};

use common::TestServer;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_people_write_108_ideas_with_correct_rotation_and_anonymity() {
    let server = TestServer::start().await;
    let (code, token) = server
        .create(json!({"topic": "How might we welcome new colleagues?", "round_seconds": 1}))
        .await;
    let mut fac = server.facilitator(&code, &token).await;
    let mut board = server.connect(&code).await;
    board.send(json!({"type":"watch"})).await;
    assert_eq!(board.recv_type("welcome").await["role"], "board");

    let mut people = Vec::new();
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..6 {
        let (c, w) = server.participant(&code, &format!("Person {i}")).await;
        ids.push(w["participant_id"].as_str().unwrap().to_owned());
        tokens.push(w["token"].as_str().unwrap().to_owned());
        people.push(c);
    }
    fac.recv_where(|v| {
        v["type"] == "roster"
            && v["participants"].as_array().unwrap().len() == 6
            && v["participants"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["connected"] == true)
    })
    .await;

    fac.send(json!({"type":"start"})).await;
    // holder[round][person] = sheet id; written[(sheet, round)] = texts.
    let mut holder: Vec<Vec<String>> = Vec::new();
    let mut written: HashMap<(String, u32), Vec<String>> = HashMap::new();
    for round in 1..=6u32 {
        let mut this_round = Vec::new();
        for (i, p) in people.iter_mut().enumerate() {
            let sheet = p
                .recv_where(|v| v["type"] == "sheet" && v["round"] == round)
                .await;
            let id = sheet["sheet"]["id"].as_str().unwrap().to_owned();
            assert_eq!(sheet["draft"], json!(["", "", ""]));
            // The sheet shows exactly the rows of the earlier rounds, with what was written.
            let rows = sheet["sheet"]["rows"].as_array().unwrap();
            assert_eq!(rows.len() as u32, round - 1, "round {round} person {i}");
            for row in rows {
                let r = row["round"].as_u64().unwrap() as u32;
                let texts: Vec<String> = row["ideas"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["text"].as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(texts, written[&(id.clone(), r)]);
            }
            let mut texts = Vec::new();
            for slot in 0..3u32 {
                let text = format!("idea p{i} r{round} s{slot}");
                p.send(json!({"type":"write","slot":slot,"text":text,"round":round,"seq":slot}))
                    .await;
                texts.push(text);
            }
            for slot in 0..3u32 {
                let ack = p.recv_type("ack").await;
                assert_eq!(
                    ack,
                    json!({"type":"ack","seq":slot,"round":round,"slot":slot})
                );
            }
            written.insert((id.clone(), round), texts);
            this_round.push(id);
        }
        holder.push(this_round);
    }

    // Rotation: each person held 6 different sheets, each sheet visited 6 different people,
    // round 1 was each person's own sheet, and the order is a fixed ring.
    for person in 0..6 {
        let seen: HashSet<_> = holder.iter().map(|r| &r[person]).collect();
        assert_eq!(seen.len(), 6, "person {person} held a sheet twice");
    }
    let next_of: HashMap<&String, usize> = (0..6).map(|p| (&holder[0][p], p)).collect();
    // ring_next[owner] = the person who holds owner's sheet in round 2: the next seat.
    let ring_next: HashMap<usize, usize> = (0..6)
        .map(|p| {
            let s2 = &holder[1][p];
            (next_of[s2], p)
        })
        .collect();
    for r in 0..6 {
        for p in 0..6 {
            // Walking r steps along the ring from p's own seat reaches the sheet p holds.
            let mut seat = p;
            for _ in 0..r {
                seat = *ring_next
                    .iter()
                    .find(|(_, v)| **v == seat)
                    .map(|(k, _)| k)
                    .unwrap();
            }
            assert_eq!(holder[r][p], holder[0][seat], "round {} person {p}", r + 1);
        }
    }

    // Reveal to everyone: 6 sheets × 6 rows × 3 ideas, every written idea exactly once.
    let mut all_written: Vec<String> = written.values().flatten().cloned().collect();
    all_written.sort();
    assert_eq!(all_written.len(), 108);
    let mut reveals = Vec::new();
    for p in people.iter_mut() {
        reveals.push(p.recv_type("reveal").await);
    }
    reveals.push(fac.recv_type("reveal").await);
    reveals.push(board.recv_type("reveal").await);
    for reveal in &reveals {
        let sheets = reveal["sheets"].as_array().unwrap();
        assert_eq!(sheets.len(), 6);
        let mut texts: Vec<String> = Vec::new();
        let mut idea_ids = HashSet::new();
        for s in sheets {
            let rows = s["rows"].as_array().unwrap();
            assert_eq!(rows.len(), 6);
            for row in rows {
                for idea in row["ideas"].as_array().unwrap() {
                    texts.push(idea["text"].as_str().unwrap().to_owned());
                    assert!(idea_ids.insert(idea["id"].as_str().unwrap().to_owned()));
                    assert_eq!(
                        idea.as_object().unwrap().len(),
                        2,
                        "only id and text: {idea}"
                    );
                }
            }
        }
        texts.sort();
        assert_eq!(texts, all_written);
    }
    let room = fac
        .recv_where(|v| v["type"] == "room" && v["phase"] == "finished")
        .await;
    assert_eq!(room["round"], 6);

    // Anonymity: nobody receives another participant's id or token; the facilitator and the
    // board never receive any token, and nothing an idea travels in names a participant.
    for (i, p) in people.iter().enumerate() {
        let all = p.log.join("\n");
        for j in 0..6 {
            if i != j {
                assert!(!all.contains(&ids[j]), "person {i} saw the id of {j}");
                assert!(!all.contains(&tokens[j]), "person {i} saw the token of {j}");
            }
        }
    }
    let board_log = board.log.join("\n");
    let fac_log = fac.log.join("\n");
    for j in 0..6 {
        assert!(!board_log.contains(&ids[j]));
        assert!(!board_log.contains(&tokens[j]));
        assert!(!fac_log.contains(&tokens[j]));
        assert!(
            !board_log.contains(&format!("Person {j}")),
            "the board shows no names"
        );
    }
    for frame in fac.log.iter().chain(&board.log) {
        let v: Value = serde_json::from_str(frame).unwrap();
        if matches!(v["type"].as_str(), Some("reveal" | "sheet" | "progress")) {
            for id in &ids {
                assert!(!frame.contains(id.as_str()));
            }
        }
        // While writing, the facilitator and board see no idea text at all.
        if v["type"] != "reveal" {
            assert!(
                !frame.contains("idea p"),
                "text leaked before the reveal: {frame}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_ends_early_when_everyone_is_done_and_progress_counts() {
    let server = TestServer::start().await;
    let (code, token) = server
        .create(json!({"topic": "t", "round_seconds": 3600}))
        .await;
    let mut fac = server.facilitator(&code, &token).await;
    let (mut a, _) = server.participant(&code, "A").await;
    let (mut b, _) = server.participant(&code, "B").await;
    fac.send(json!({"type":"start"})).await;
    let room = fac
        .recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
        .await;
    assert_eq!(room["rounds"], 2);
    assert_eq!(room["seated"], 2);
    let deadline = room["deadline"].as_u64().unwrap();
    let now = room["now"].as_u64().unwrap();
    assert!(
        (3_599_000..=3_600_000).contains(&(deadline - now)),
        "{room}"
    );
    a.recv_type("sheet").await;
    b.recv_type("sheet").await;
    a.send(json!({"type":"write","slot":0,"text":"one"})).await;
    assert_eq!(a.recv_type("ack").await["seq"], Value::Null);
    let progress = fac
        .recv_where(|v| {
            v["type"] == "progress"
                && v["sheets"][0]["drafted"].as_u64().unwrap_or(0)
                    + v["sheets"][1]["drafted"].as_u64().unwrap_or(0)
                    == 1
        })
        .await;
    assert_eq!(progress["sheets"][0]["capacity"], 6);
    a.send(json!({"type":"done"})).await;
    a.recv_where(|v| v == &json!({"type":"me","seated":true,"done":true,"left":false}))
        .await;
    fac.recv_where(|v| v["type"] == "room" && v["done"] == 1)
        .await;
    b.send(json!({"type":"done","round":1})).await;
    let s = a
        .recv_where(|v| v["type"] == "sheet" && v["round"] == 2)
        .await;
    assert_eq!(s["sheet"]["rows"], json!([]), "a holds b's empty sheet");
    let s = b
        .recv_where(|v| v["type"] == "sheet" && v["round"] == 2)
        .await;
    assert_eq!(s["sheet"]["rows"][0]["ideas"][0]["text"], "one");
    // Pause, extend, resume, advance, finish from the facilitator.
    fac.send(json!({"type":"pause"})).await;
    let r = fac
        .recv_where(|v| v["type"] == "room" && v["phase"] == "paused")
        .await;
    assert!(r["deadline"].is_null());
    let remaining = r["remaining_ms"].as_u64().unwrap();
    fac.send(json!({"type":"extend","seconds":60})).await;
    let r = fac
        .recv_where(|v| v["type"] == "room" && v["remaining_ms"].as_u64() > Some(remaining))
        .await;
    assert_eq!(r["remaining_ms"].as_u64().unwrap(), remaining + 60_000);
    fac.send(json!({"type":"resume"})).await;
    fac.recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
        .await;
    fac.send(json!({"type":"finish"})).await;
    let reveal = b.recv_type("reveal").await;
    assert_eq!(reveal["sheets"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_resumes_its_seat_sheet_and_draft_with_its_token() {
    let server = TestServer::start().await;
    let (code, token) = server
        .create(json!({"topic": "t", "round_seconds": 600}))
        .await;
    let mut fac = server.facilitator(&code, &token).await;
    let (mut a, wa) = server.participant(&code, "A").await;
    let (_b, _) = server.participant(&code, "B").await;
    fac.send(json!({"type":"start"})).await;
    let sheet = a.recv_type("sheet").await;
    a.send(json!({"type":"write","slot":1,"text":"half an idea","seq":1}))
        .await;
    a.recv_type("ack").await;
    drop(a);
    fac.recv_where(|v| v["type"] == "room" && v["connected"] == 1)
        .await;
    let mut again = server.connect(&code).await;
    again
        .send(json!({"type":"join","token": wa["token"]}))
        .await;
    let w = again.recv_type("welcome").await;
    assert_eq!(w["participant_id"], wa["participant_id"]);
    assert_eq!(w["token"], wa["token"]);
    assert_eq!(w["name"], "A");
    let s = again.recv_type("sheet").await;
    assert_eq!(s["sheet"]["id"], sheet["sheet"]["id"]);
    assert_eq!(s["draft"], json!(["", "half an idea", ""]));
    fac.recv_where(|v| v["type"] == "room" && v["connected"] == 2 && v["participants"] == 2)
        .await;
    // An unknown token is refused and changes nothing.
    let mut stranger = server.connect(&code).await;
    stranger
        .send(json!({"type":"join","token":"00000000000000000000000000000000"}))
        .await;
    stranger.expect_error("forbidden").await;
}
