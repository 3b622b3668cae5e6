//! The printable report over the real server (`GET /api/rooms/{code}/export.html`): the
//! authorisation of the other exports (401, 403, 409 while writing), its content type and
//! strict Content-Security-Policy, the hash of its one stylesheet allowed by both its own
//! policy and the site's (the facilitator's page opens it from a blob URL), every idea of a
//! short session in it escaped, its language from `?lang=` or the room.

mod common;

use common::{Client, TestServer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TOPIC: &str = "Topic <b>bold</b> & \"quoted\"";
const EVIL: &str = "<script>alert('x')</script>";
const QUOTES: &str = "\"&' all three";
const CLUSTER: &str = "<img src=x onerror=alert(1)>";

async fn sheet(c: &mut Client, round: u32) -> Value {
    c.recv_where(|v| v["type"] == "sheet" && v["round"] == round)
        .await
}

/// The CSP source of the report's inline stylesheet, computed from the page itself.
fn style_hash(html: &str) -> String {
    let style = html
        .split("<style>")
        .nth(1)
        .and_then(|s| s.split("</style>").next())
        .expect("the report has a <style>");
    format!(
        "'sha256-{}'",
        data_encoding::BASE64.encode(&Sha256::digest(style.as_bytes()))
    )
}

fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_is_a_self_contained_page_with_every_idea_escaped() {
    let server = TestServer::start().await;
    let (code, token) = server
        .create(
            json!({"topic": TOPIC, "goal": "Pick <one>", "outcomes": ["A & B"],
                       "ideas_per_round": 1, "rounds": 2, "round_seconds": 3600}),
        )
        .await;
    let mut fac = server.facilitator(&code, &token).await;
    let mut people = Vec::new();
    for name in ["Ana", "Ben", "Cy"] {
        people.push(server.participant(&code, name).await.0);
    }
    fac.send(json!({"type":"start"})).await;
    let http = reqwest::Client::new();
    let url = |q: &str| server.url(&format!("/api/rooms/{code}/export.html{q}"));

    let first = [EVIL, QUOTES, "plain words"];
    for (p, text) in people.iter_mut().zip(first) {
        sheet(p, 1).await;
        p.send(json!({"type":"write","slot":0,"text":text,"seq":1}))
            .await;
        p.recv_type("ack").await;
    }
    // Nobody sees ideas while writing: no report either.
    let r = http.get(url("")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 409);
    fac.send(json!({"type":"advance"})).await;
    for (i, p) in people.iter_mut().enumerate() {
        let s = sheet(p, 2).await;
        let on = s["sheet"]["rows"][0]["ideas"][0]["id"].clone();
        p.send(
            json!({"type":"write","slot":0,"text":format!("round two by {i}"),
                      "builds_on": on, "seq": 2}),
        )
        .await;
        p.recv_type("ack").await;
    }
    fac.send(json!({"type":"finish"})).await;
    let reveal = fac.recv_type("reveal").await;
    let texts = common::reveal_texts(&reveal);
    assert_eq!(texts.len(), 6);
    let id_of = |text: &str| {
        reveal["sheets"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["rows"].as_array().unwrap())
            .flat_map(|r| r["ideas"].as_array().unwrap())
            .find(|i| i["text"] == text)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // A cluster with markup for a name, then a vote for "plain words" by Ana.
    fac.send(json!({"type":"cluster","name": CLUSTER})).await;
    let cl = fac
        .recv_where(|v| v["type"] == "clusters" && v["clusters"][0]["id"].is_string())
        .await;
    let cid = cl["clusters"][0]["id"].as_str().unwrap().to_owned();
    fac.send(json!({"type":"assign","idea": id_of(EVIL), "cluster": cid}))
        .await;
    fac.recv_where(|v| v["type"] == "clusters" && v["clusters"][0]["ideas"][0].is_string())
        .await;
    fac.send(json!({"type":"open_voting","votes":1})).await;
    people[0].recv_type("ballot").await;
    people[0]
        .send(json!({"type":"vote","idea": id_of("plain words")}))
        .await;
    people[0]
        .recv_where(|v| v["type"] == "ballot" && v["votes_left"] == 0)
        .await;
    fac.send(json!({"type":"close_voting"})).await;
    fac.recv_type("results").await;

    // The authorisation of the other exports.
    assert_eq!(http.get(url("")).send().await.unwrap().status(), 401);
    let r = http.get(url("")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .get(url("?lang=zz"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = http.get(url("")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["content-disposition"].to_str().unwrap(),
        format!("inline; filename=\"brainwrite-{code}.html\"")
    );
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    let html = r.text().await.unwrap();
    let hash = style_hash(&html);
    assert_eq!(
        csp,
        format!(
            "default-src 'none'; style-src {hash}; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'none'"
        ),
        "nothing may load or run; only the report's own style applies"
    );
    let site = server.get_with("/", &[]).await;
    let site_csp = site.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        site_csp.contains(&format!("style-src 'self' {hash};")),
        "the site allows the report's style, for the blob the facilitator opens: {site_csp}"
    );
    assert!(site_csp.contains("script-src 'self';"));

    assert!(html.starts_with("<!doctype html>\n<html lang=\"en\" dir=\"ltr\">"));
    assert!(html.contains(&format!("<h1 dir=\"auto\">{}</h1>", escaped(TOPIC))));
    assert!(html.contains(&escaped("Pick <one>")) && html.contains("A &amp; B"));
    for t in &texts {
        assert!(
            html.contains(&format!(
                "<p class=\"text\" dir=\"auto\">{}</p>",
                escaped(t)
            )),
            "{t} is on its sheet"
        );
    }
    assert!(html.contains(&format!("<h3 dir=\"auto\">{}</h3>", escaped(CLUSTER))));
    for raw in ["<script", "<img", "<b>", "\"&'"] {
        assert!(!html.contains(raw), "{raw} is escaped");
    }
    for bad in ["http://", "https://", "src=\"", "url(", "@import", "<link"] {
        assert!(!html.contains(bad), "nothing is fetched: {bad}");
    }
    assert!(html.contains("<ol class=\"chart\""), "the vote chart");
    assert!(html.contains("<span class=\"n\">1 vote</span>"));
    assert!(html.contains("<dt>Participants</dt><dd>3</dd>"));
    assert!(html.contains("<dt>Ideas</dt><dd>6</dd>"));
    assert!(html.contains("<h2 id=\"h-chains\">Build-on chains</h2>"));
    assert!(html.contains("<dt>Finished</dt><dd><bdi dir=\"ltr\">20"));
    assert!(
        !html.contains("Ana") && !html.contains("Ben") && !html.contains("Cy<"),
        "no names"
    );

    let ar = server.export(&code, &token, "html?lang=ar").await;
    assert!(ar.starts_with("<!doctype html>\n<html lang=\"ar\" dir=\"rtl\">"));
    assert!(ar.contains("تقرير الجلسة"));
    assert_eq!(style_hash(&ar), hash, "one stylesheet in every language");
}

/// Without `?lang=` the report is in the room's language, like the other exports.
#[tokio::test]
async fn the_report_follows_the_rooms_language() {
    let server = TestServer::start().await;
    let (code, token) = server
        .create(json!({"topic": "t", "language": "de", "rounds": 1, "round_seconds": 60}))
        .await;
    let mut fac = server.facilitator(&code, &token).await;
    let (_a, _) = server.participant(&code, "A").await;
    let (_b, _) = server.participant(&code, "B").await;
    fac.send(json!({"type":"start"})).await;
    fac.recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
        .await;
    fac.send(json!({"type":"finish"})).await;
    fac.recv_where(|v| v["type"] == "room" && v["phase"] == "finished")
        .await;
    let get = |q: &'static str| server.export(&code, &token, q);
    let de = get("html").await;
    assert!(de.contains("<html lang=\"de\" dir=\"ltr\">") && de.contains("Sitzungsbericht"));
    assert!(de.contains("Keine Ideen auf diesem Blatt."), "{de}");
    let fr = get("html?lang=fr").await;
    assert!(fr.contains("Rapport de séance") && !fr.contains("Sitzungsbericht"));
}

/// A C-Sketch session's report: each sheet is its drawing, one `<g>` per layer in round order,
/// and each layer sits on its row with its caption.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c_sketch_report_draws_every_layer() {
    let server = TestServer::start().await;
    let (code, token) = server
        .create(
            json!({"topic": "Draw a better bus stop", "method": "c_sketch",
                       "rounds": 2, "round_seconds": 3600}),
        )
        .await;
    let mut fac = server.facilitator(&code, &token).await;
    let (mut a, _) = server.participant(&code, "A").await;
    let (mut b, _) = server.participant(&code, "B").await;
    fac.send(json!({"type":"start"})).await;
    for round in 1..=2u32 {
        for (n, p) in [&mut a, &mut b].into_iter().enumerate() {
            sheet(p, round).await;
            let x = 100 * (n as u32 + 1) + 10 * round;
            p.send(json!({"type":"draw","points":[x, 100, x + 50, 200, x, 300],"seq":1}))
                .await;
            p.recv_type("ack").await;
            p.send(json!({"type":"draw","points":[x, 500],"seq":2}))
                .await;
            p.recv_type("ack").await;
            p.send(
                json!({"type":"write","slot":0,"text":format!("layer {round} by <{n}>"),"seq":3}),
            )
            .await;
            p.recv_type("ack").await;
        }
        fac.send(json!({"type": if round == 1 { "advance" } else { "finish" }}))
            .await;
    }
    fac.recv_type("reveal").await;
    let html = server.export(&code, &token, "html").await;
    assert!(html.contains("<dd>C-Sketch</dd>"));
    let drawings: Vec<&str> = html
        .split("<svg class=\"sheet-drawing\" viewBox=\"0 0 1000 750\"")
        .skip(1)
        .map(|d| &d[..d.find("</svg>").unwrap()])
        .collect();
    assert_eq!(drawings.len(), 2, "one drawing a sheet");
    for d in &drawings {
        assert_eq!(d.matches("<g ").count(), 2, "two layers: {d}");
        let first = d.find("data-round=\"1\" fill=\"none\" stroke=\"#1f4e9c\"");
        let second = d.find("data-round=\"2\" fill=\"none\" stroke=\"#c0392b\"");
        assert!(
            first.unwrap() < second.unwrap(),
            "round order, palette colours"
        );
        assert_eq!(d.matches("<polyline ").count(), 2);
        assert_eq!(
            d.matches("<circle ").count(),
            2,
            "a one-point stroke is a dot"
        );
    }
    for round in 1..=2 {
        for n in 0..2 {
            let caption = format!("layer {round} by &lt;{n}&gt;");
            assert!(html.contains(&caption), "{caption}");
        }
    }
    assert!(!html.contains("http") && !html.contains("src="));
}
