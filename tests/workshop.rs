//! The whole workshop over real sockets: two people join late and one leaves mid-way with the
//! rotation rules holding, build-on links, presenting, a vote where self-votes are refused,
//! clusters and merges, and the three exports checked field by field (401/403 without the
//! facilitator token). Presets and the goal shown before the start.

mod common;

use std::collections::{HashMap, HashSet};

use common::{Client, TestServer};
use serde_json::{Value, json};

async fn round_sheet(c: &mut Client, round: u32) -> Value {
    c.recv_where(|v| v["type"] == "sheet" && v["round"] == round)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiners_a_leaver_build_on_vote_cluster_and_export() {
    let server = TestServer::start().await;
    let (status, created) = server
        .create_raw(
            &json!({"topic": "Better onboarding", "preset": "quick", "round_seconds": 3600,
                    "goal": "Choose three pilots", "outcomes": ["A ranked shortlist", "Owners"]})
            .to_string(),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let code = created["code"].as_str().unwrap().to_owned();
    let token = created["facilitator_token"].as_str().unwrap().to_owned();
    let mut board = server.connect(&code).await;
    board.send(json!({"type":"watch"})).await;
    let lobby = board.recv_type("room").await;
    assert_eq!(lobby["goal"], "Choose three pilots");
    assert_eq!(lobby["outcomes"], json!(["A ranked shortlist", "Owners"]));
    assert_eq!(lobby["preset"], "quick");
    assert_eq!(lobby["ideas_per_round"], 3);

    let mut fac = server.facilitator(&code, &token).await;
    let mut people = Vec::new();
    for i in 0..4 {
        people.push(server.participant(&code, &format!("P{i}")).await.0);
    }
    fac.send(json!({"type":"start"})).await;
    let room = fac
        .recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
        .await;
    assert_eq!(room["rounds"], 3, "quick: at most 3 rounds");

    let mut history: Vec<HashSet<String>> = vec![HashSet::new(); 6];
    let mut first_sheet: HashMap<usize, String> = HashMap::new();
    let mut links_sent = 0;
    for round in 1..=3u32 {
        if round == 2 {
            // Seated at the boundary: the two newcomers are writing now.
            assert_eq!(people.len(), 6);
        }
        if round == 0 {
            for i in 4..6 {
                let (mut c, _) = server.participant(&code, &format!("Late{i}")).await;
                let me = c.recv_type("me").await;
                assert_eq!(me["seated"], false);
                people.push(c);
            }
        }
        let mut holders = HashSet::new();
        for (i, p) in people.iter_mut().enumerate() {
            if round == 3 && i == 0 {
                continue; // left after round 2
            }
            if round == 1 && i >= 4 {
                continue;
            }
            let sheet = round_sheet(p, round).await;
            let id = sheet["sheet"]["id"].as_str().unwrap().to_owned();
            assert!(holders.insert(id.clone()), "two hold {id}");
            assert!(history[i].insert(id.clone()), "person {i} holds {id} twice");
            first_sheet.entry(i).or_insert(id.clone());
            // Build on the last idea on the sheet when there is one.
            let rows = sheet["sheet"]["rows"].as_array().unwrap();
            let builds_on = rows
                .last()
                .map(|r| r["ideas"][0]["id"].clone())
                .unwrap_or(Value::Null);
            p.send(
                json!({"type":"write","slot":0,"text":format!("idea {i} r{round}"),
                          "builds_on": builds_on, "seq": round}),
            )
            .await;
            let ack = p.recv_type("ack").await;
            assert_eq!(ack["seq"], round);
            if !builds_on.is_null() {
                links_sent += 1;
            }
        }
        if round == 2 {
            // A newcomer starts on a fresh sheet of its own, nobody else's.
            for i in 4..6 {
                let own = &first_sheet[&i];
                for j in 0..4 {
                    assert_ne!(own, &first_sheet[&j]);
                }
            }
            // P0 leaves mid-round; its row still lands.
            people[0].send(json!({"type":"leave"})).await;
            people[0]
                .recv_where(|v| v["type"] == "me" && v["left"] == true)
                .await;
        }
        if round == 1 {
            // Two arrive late during round 1 and wait to be seated at the next boundary.
            for i in 4..6 {
                let (mut c, _) = server.participant(&code, &format!("Late{i}")).await;
                let me = c.recv_type("me").await;
                assert_eq!(me["seated"], false);
                people.push(c);
            }
        }
        if round < 3 {
            fac.send(json!({"type":"advance"})).await;
        } else {
            fac.send(json!({"type":"finish"})).await;
        }
    }
    let reveal = fac.recv_type("reveal").await;
    let sheets = reveal["sheets"].as_array().unwrap();
    assert_eq!(sheets.len(), 6, "4 + 2 fresh sheets");
    let mut texts = Vec::new();
    let mut author_free = true;
    for s in sheets {
        for r in s["rows"].as_array().unwrap() {
            for i in r["ideas"].as_array().unwrap() {
                texts.push(i["text"].as_str().unwrap().to_owned());
                author_free &= i
                    .as_object()
                    .unwrap()
                    .keys()
                    .all(|k| ["id", "text", "builds_on"].contains(&k.as_str()));
            }
        }
    }
    assert!(author_free);
    assert_eq!(
        texts.len(),
        4 + 6 + 5,
        "round 1: 4; round 2: 4 + 2 newcomers; round 3: 6 − P0"
    );
    assert!(
        texts.contains(&"idea 0 r2".to_owned()),
        "the leaver's last row landed"
    );
    // Every sheet moved on after its first round, the leaver's and the newcomers' included
    // (with 6 sheets and 5 writers one sheet rests in round 3; the engine tests follow a
    // leaver's sheet through a longer session).
    for s in sheets {
        let rounds: HashSet<u64> = s["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["round"].as_u64().unwrap())
            .collect();
        assert!(rounds.len() >= 2, "sheet {} stalled: {rounds:?}", s["id"]);
    }
    let linked = sheets
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap().iter())
        .flat_map(|r| r["ideas"].as_array().unwrap().iter())
        .filter(|i| i.get("builds_on").is_some())
        .count();
    assert_eq!(linked, links_sent, "every build-on link is in the reveal");
    assert!(linked >= 5);

    // Present one sheet, then all.
    let one = sheets[1]["id"].as_str().unwrap().to_owned();
    fac.send(json!({"type":"present","sheet": one})).await;
    let r = board
        .recv_where(|v| v["type"] == "room" && v["presenting"] == one.as_str())
        .await;
    assert_eq!(r["stage"], "sharing");
    fac.send(json!({"type":"present","sheet": null})).await;
    board
        .recv_where(|v| v["type"] == "room" && v["presenting"].is_null() && v["stage"] == "sharing")
        .await;

    // Cluster two ideas, merge a duplicate.
    let ids: Vec<String> = sheets
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap().iter())
        .flat_map(|r| r["ideas"].as_array().unwrap().iter())
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    fac.send(json!({"type":"cluster","name":"Buddies"})).await;
    let cl = board
        .recv_where(|v| v["type"] == "clusters" && v["clusters"].as_array().unwrap().len() == 1)
        .await;
    let cid = cl["clusters"][0]["id"].as_str().unwrap().to_owned();
    fac.send(json!({"type":"assign","idea": ids[0], "cluster": cid}))
        .await;
    fac.send(json!({"type":"assign","idea": ids[1], "cluster": cid}))
        .await;
    fac.send(json!({"type":"merge","idea": ids[3], "into": ids[2]}))
        .await;
    let cl = board
        .recv_where(|v| v["type"] == "clusters" && v["merged"].as_array().unwrap().len() == 1)
        .await;
    assert_eq!(cl["clusters"][0]["ideas"], json!([ids[0], ids[1]]));
    fac.send(json!({"type":"assign","idea": "i999", "cluster": cid}))
        .await;
    fac.expect_error("unknown_idea").await;

    // Voting: a self-vote is refused; tallies hidden until the close.
    fac.send(json!({"type":"open_voting","votes":2})).await;
    let p1 = &mut people[1];
    let ballot = p1.recv_type("ballot").await;
    assert_eq!(ballot["votes_left"], 2);
    // P1 wrote "idea 1 r1": find its id.
    let own_id = sheets
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap().iter())
        .flat_map(|r| r["ideas"].as_array().unwrap().iter())
        .find(|i| i["text"] == "idea 1 r1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    p1.send(json!({"type":"vote","idea": own_id})).await;
    p1.expect_error("own_idea").await;
    let other = ids
        .iter()
        .find(|i| **i != own_id && **i != ids[3])
        .unwrap()
        .clone();
    p1.send(json!({"type":"vote","idea": other})).await;
    let b = p1
        .recv_where(|v| v["type"] == "ballot" && v["votes_left"] == 1)
        .await;
    assert_eq!(b["mine"], json!([{"idea": other, "votes": 1}]));
    p1.send(json!({"type":"vote","idea": other})).await;
    p1.expect_error("idea_cap").await;
    let r = board
        .recv_where(|v| v["type"] == "room" && v["votes_cast"] == 1)
        .await;
    assert_eq!(r["stage"], "voting");
    for frame in board.log.iter().chain(&fac.log) {
        assert!(
            !frame.contains("\"type\":\"results\""),
            "no tallies before the close"
        );
    }
    fac.send(json!({"type":"close_voting"})).await;
    let results = board.recv_type("results").await;
    let first = &results["ideas"][0];
    assert_eq!(
        (
            first["id"].as_str().unwrap(),
            first["votes"].as_u64(),
            first["rank"].as_u64()
        ),
        (other.as_str(), Some(1), Some(1))
    );

    // Exports: 401 without a token, 403 with a wrong one, then each format field by field.
    let http = reqwest::Client::new();
    let url = |ext: &str| server.url(&format!("/api/rooms/{code}/export.{ext}"));
    assert_eq!(http.get(url("json")).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(url("json"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let json_export: Value = http
        .get(url("json"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json_export["topic"], "Better onboarding");
    assert_eq!(json_export["goal"], "Choose three pilots");
    assert_eq!(json_export["sheets"], reveal["sheets"]);
    assert_eq!(json_export["clusters"][0]["name"], "Buddies");
    assert_eq!(
        json_export["merged"][0],
        json!({"idea": ids[3], "into": ids[2]})
    );
    assert_eq!(json_export["results"][0]["id"], other.as_str());
    let r = http
        .get(url("csv"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("brainwrite-{code}.csv"))
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "sheet,round,slot,idea_id,text,builds_on,cluster,merged_into,votes,rank,kind"
    );
    assert_eq!(lines.len(), 1 + texts.len());
    assert!(
        lines[1..].iter().all(|l| l.ends_with(",text")),
        "a 6-3-5 idea is text"
    );
    for t in &texts {
        assert!(csv.contains(t.as_str()), "{t} missing from the CSV");
    }
    for i in 0..6 {
        assert!(
            !csv.contains(&format!("P{i}")) && !csv.contains("Late"),
            "no names in exports"
        );
    }
    let md = http
        .get(url("md"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(md.starts_with("# Better onboarding"));
    assert!(md.contains("### Buddies"));
    assert!(md.contains("## Build-on chains"));
    assert!(md.contains("## Ranked by votes"));
    assert!(!md.contains("Late4") && !md.contains("P1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_remove_and_export_before_the_end() {
    let server = TestServer::start().await;
    let (code, token) = server.create(json!({"topic": "t"})).await;
    let mut fac = server.facilitator(&code, &token).await;
    let (mut a, wa) = server.participant(&code, "A").await;
    let (_b, _) = server.participant(&code, "B").await;
    fac.send(json!({"type":"lock"})).await;
    fac.recv_where(|v| v["type"] == "room" && v["locked"] == true)
        .await;
    let mut late = server.connect(&code).await;
    late.send(json!({"type":"join","name":"C"})).await;
    late.expect_error("locked").await;
    // Resuming still works while locked.
    let mut again = server.connect(&code).await;
    again
        .send(json!({"type":"join","token": wa["token"]}))
        .await;
    assert_eq!(again.recv_type("welcome").await["role"], "participant");
    // Removing closes its sockets with 4003 and its token no longer resumes.
    fac.send(json!({"type":"remove","participant": wa["participant_id"]}))
        .await;
    assert_eq!(a.closed(common::WAIT).await, Some(4003));
    let mut back = server.connect(&code).await;
    back.send(json!({"type":"join","token": wa["token"]})).await;
    back.expect_error("removed").await;
    assert_eq!(back.closed(common::WAIT).await, Some(4003));
    let info = server.room_info(&code).await;
    assert_eq!(info["locked"], true);
    fac.send(json!({"type":"remove","participant": "pnobody"}))
        .await;
    fac.expect_error("unknown_participant").await;
    // No export while the session has not finished: nobody sees ideas while writing.
    let r = reqwest::Client::new()
        .get(server.url(&format!("/api/rooms/{code}/export.csv")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let (status, v) = server.create_raw(r#"{"topic":"t","preset":"huge"}"#).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("preset"));
}

/// A room made in German says so to anyone who looks it up (a phone's join screen follows it),
/// and its exports are in German unless `?lang=` asks for another language.
#[tokio::test]
async fn a_rooms_language_reaches_its_lookup_and_its_exports() {
    let server = TestServer::start().await;
    let (code, token) = server
        .create(json!({"topic": "t", "language": "de", "round_seconds": 60, "rounds": 1}))
        .await;
    let info = server.room_info(&code).await;
    assert_eq!(info["language"], "de", "{info}");
    let (plain, _) = server.create(json!({"topic": "t"})).await;
    let info = server.room_info(&plain).await;
    assert!(info.get("language").is_none(), "{info}");
    let mut fac = server.facilitator(&code, &token).await;
    let (_a, _) = server.participant(&code, "A").await;
    let (_b, _) = server.participant(&code, "B").await;
    fac.send(json!({"type":"start"})).await;
    fac.recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
        .await;
    fac.send(json!({"type":"finish"})).await;
    fac.recv_where(|v| v["type"] == "room" && v["phase"] == "finished")
        .await;
    let md = |q: &'static str| server.export(&code, &token, q);
    let german = md("md").await;
    assert!(german.contains("Blätter"), "{german}");
    let english = md("md?lang=en").await;
    assert!(
        !english.contains("Blätter") && english.contains("Sheets"),
        "{english}"
    );
}
