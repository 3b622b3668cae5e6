//! Every rejection code over a real socket, the HTTP validation errors, and that a refused
//! message changes nothing and leaves the connection open.

mod common;

use std::time::Duration;

use common::{TestServer, UPGRADE};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_code_over_the_socket() {
    let server = TestServer::start().await;
    let (code, token) = server
        .create(json!({"topic": "t", "round_seconds": 1}))
        .await;

    // bad_message: not JSON, unknown type, unknown field, wrong type, binary frame.
    let mut c = server.connect(&code).await;
    c.send_raw(Message::text("{nope")).await;
    c.expect_error("bad_message").await;
    c.send(json!({"type":"dance"})).await;
    let e = c.expect_error("bad_message").await;
    assert!(e["message"].as_str().unwrap().contains("dance"), "{e}");
    c.send(json!({"type":"join","colour":"red"})).await;
    c.expect_error("bad_message").await;
    c.send(json!({"type":"write","slot":"zero","text":"x"}))
        .await;
    c.expect_error("bad_message").await;
    c.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    c.expect_error("bad_message").await;

    // not_joined: a command before a role.
    c.send(json!({"type":"write","slot":0,"text":"x"})).await;
    c.expect_error("not_joined").await;
    c.send(json!({"type":"start"})).await;
    c.expect_error("not_joined").await;
    // ping works for anyone.
    c.send(json!({"type":"ping"})).await;
    assert!(c.recv_type("pong").await["now"].as_u64().unwrap() > 1_600_000_000_000);

    // forbidden: wrong facilitator token; a participant or board sending facilitator commands.
    c.send(json!({"type":"facilitate","token":"wrong"})).await;
    c.expect_error("forbidden").await;
    let mut board = server.connect(&code).await;
    board.send(json!({"type":"watch"})).await;
    board.recv_type("welcome").await;
    board.send(json!({"type":"start"})).await;
    board.expect_error("forbidden").await;
    board
        .send(json!({"type":"write","slot":0,"text":"x"}))
        .await;
    board.expect_error("forbidden").await;

    let (mut a, _) = server.participant(&code, "A").await;
    a.send(json!({"type":"start"})).await;
    a.expect_error("forbidden").await;
    // already_started also covers a second role on one socket.
    a.send(json!({"type":"join"})).await;
    a.expect_error("already_started").await;

    // not_writing in the lobby.
    a.send(json!({"type":"write","slot":0,"text":"x","seq":9}))
        .await;
    let e = a.expect_error("not_writing").await;
    assert_eq!(e["seq"], 9, "the refused write's seq comes back");

    // not_enough_participants.
    let mut fac = server.facilitator(&code, &token).await;
    fac.send(json!({"type":"start"})).await;
    fac.expect_error("not_enough_participants").await;
    // wrong_phase and invalid_value.
    fac.send(json!({"type":"pause"})).await;
    fac.expect_error("wrong_phase").await;
    fac.send(json!({"type":"extend","seconds":0})).await;
    fac.expect_error("invalid_value").await;
    // The facilitator does not write.
    fac.send(json!({"type":"write","slot":0,"text":"x"})).await;
    fac.expect_error("forbidden").await;

    // A name that is too long is refused and nobody joins.
    let mut long = server.connect(&code).await;
    long.send(json!({"type":"join","name": "n".repeat(41)}))
        .await;
    long.expect_error("invalid_value").await;

    let (mut b, _) = server.participant(&code, "B").await;
    fac.send(json!({"type":"start"})).await;
    fac.recv_where(|v| v["type"] == "room" && v["phase"] == "writing")
        .await;
    fac.send(json!({"type":"start"})).await;
    fac.expect_error("already_started").await;
    a.recv_type("sheet").await;
    b.recv_type("sheet").await;

    // invalid_slot, too_long, and not_writing for another round.
    a.send(json!({"type":"write","slot":3,"text":"x"})).await;
    a.expect_error("invalid_slot").await;
    a.send(json!({"type":"write","slot":0,"text":"x".repeat(501)}))
        .await;
    a.expect_error("too_long").await;
    a.send(json!({"type":"write","slot":0,"text":"é".repeat(500),"seq":1}))
        .await;
    assert_eq!(
        a.recv_type("ack").await["seq"],
        1,
        "500 characters are fine, bytes do not count"
    );
    a.send(json!({"type":"write","slot":0,"text":"x","round":2}))
        .await;
    a.expect_error("not_writing").await;

    // A write after the deadline, by the server's clock, is refused and changes nothing.
    a.send(json!({"type":"write","slot":1,"text":"in time","round":1,"seq":2}))
        .await;
    a.recv_type("ack").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    a.send(json!({"type":"write","slot":2,"text":"too late","round":1,"seq":3}))
        .await;
    let e = a.expect_error("not_writing").await;
    assert_eq!(e["seq"], 3);
    // finished after round 2 ends by the clock too.
    let reveal = a.recv_type("reveal").await;
    let text = reveal.to_string();
    assert!(text.contains("in time"));
    assert!(!text.contains("too late"));
    a.send(json!({"type":"write","slot":0,"text":"x"})).await;
    a.expect_error("not_writing").await;
    fac.send(json!({"type":"pause"})).await;
    fac.expect_error("finished").await;
    // The connection is still open after all of that.
    a.send(json!({"type":"ping"})).await;
    a.recv_type("pong").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_validation_names_the_field() {
    let server = TestServer::start().await;
    for (body, needle) in [
        (r#"{}"#, "topic"),
        (r#"{"topic":"   "}"#, "topic"),
        (&format!(r#"{{"topic":"{}"}}"#, "x".repeat(501)), "topic"),
        (r#"{"topic":"t","ideas_per_round":0}"#, "ideas_per_round"),
        (r#"{"topic":"t","ideas_per_round":11}"#, "ideas_per_round"),
        (r#"{"topic":"t","round_seconds":0}"#, "round_seconds"),
        (r#"{"topic":"t","round_seconds":3601}"#, "round_seconds"),
        (r#"{"topic":"t","group_size":1}"#, "group_size"),
        (r#"{"topic":"t","group_size":13}"#, "group_size"),
        (r#"{"topic":"t","rounds":0}"#, "rounds"),
        (r#"{"topic":"t","rounds":13}"#, "rounds"),
        (r#"{"topic":"t","rounds":"six"}"#, "rounds"),
        (r#"{"topic":"t","colour":"red"}"#, "colour"),
        (
            r#"{"topic":"t","method":"brainstorm"}"#,
            "method must be 635, c_sketch or pool",
        ),
        (r#"{"topic":"t","method":635}"#, "method"),
        (
            r#"{"topic":"t","method":"c_sketch","ideas_per_round":3}"#,
            "ideas_per_round: a C-Sketch row is one sketch",
        ),
        (r#"not json"#, "body"),
    ] {
        let (status, v) = server.create_raw(body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(v["error"]["code"], "invalid_request", "{body}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    assert_eq!(server.hub.room_count(), 0, "no bad request made a room");

    let (status, v) = server
        .create_raw(r#"{"topic":"  Topic  ","ideas_per_round":10,"round_seconds":3600,"group_size":12,"rounds":12}"#)
        .await;
    assert_eq!(status, 201);
    let code = v["code"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    assert_eq!(v["facilitator_token"].as_str().unwrap().len(), 32);
    assert!(
        v["join_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/r/{code}"))
    );
    let fac = v["facilitate_url"].as_str().unwrap();
    assert!(
        fac.contains(&format!("/f/{code}#")),
        "token travels in the fragment: {fac}"
    );

    let http = reqwest::Client::new();
    // Codes match case-insensitively with dashes and spaces ignored.
    let loose = format!("{}-{}", &code[..4].to_lowercase(), &code[4..]);
    let info: serde_json::Value = http
        .get(server.url(&format!("/api/rooms/{loose}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info,
        json!({"code": code, "topic": "Topic", "phase": "lobby", "method": "635", "participants": 0, "locked": false})
    );
    let r = http
        .get(server.url("/api/rooms/ZZZZZZZZ"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "room_not_found");
    // The socket of an unknown room is refused before the upgrade.
    let r = server.handshake("/ws/ZZZZZZZZ").await;
    assert_eq!(r.status(), 404);
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{}/ws/ZZZZZZZZ", server.addr))
            .await
            .is_err()
    );
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The QR code is an SVG of the join link.
    let r = http
        .get(server.url(&format!("/api/rooms/{code}/qr.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().contains("<svg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_with_1012() {
    let mut server = TestServer::start().await;
    let (code, _) = server.create(json!({"topic": "t"})).await;
    let (mut a, _) = server.participant(&code, "A").await;
    server.stop().await;
    assert_eq!(a.closed(Duration::from_secs(5)).await, Some(1012));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_are_refused_same_origin_and_listed_are_allowed() {
    let mut config = brainwrite::Config::for_tests();
    config.allowed_origins = vec!["https://intranet.example".into()];
    let server = TestServer::with_config(config).await;
    let (code, _) = server.create(json!({"topic": "t"})).await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let try_origin = |origin: String| {
        let url = format!("ws://{}/ws/{code}", server.addr);
        async move {
            let mut req = url.into_client_request().unwrap();
            req.headers_mut().insert("origin", origin.parse().unwrap());
            tokio_tungstenite::connect_async(req).await.is_ok()
        }
    };
    assert!(!try_origin("https://evil.example".into()).await);
    assert!(try_origin("https://intranet.example".into()).await);
    assert!(try_origin(format!("http://{}", server.addr)).await);
}

/// The opening handshake is checked before anything else, and the stream itself is held to
/// RFC 6455: a ping is answered, a message may come in fragments, an unmasked frame is a
/// protocol error (1002), a text frame that is not UTF-8 is refused with 1007, and a close
/// from the client is echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_handshake_and_framing_are_checked() {
    let server = TestServer::start().await;
    let (code, _) = server.create(json!({"topic": "t"})).await;
    let path = format!("/ws/{code}");
    let r = server.get_with(&path, &[]).await;
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "bad_handshake", "{v}");
    // Another protocol version (and a Connection header listing more than the upgrade).
    let mut old = UPGRADE;
    old[0].1 = "keep-alive, Upgrade";
    old[2].1 = "8";
    let r = server.get_with(&path, &old).await;
    assert_eq!(r.status(), 426);
    assert_eq!(r.headers()["sec-websocket-version"], "13");
    // No key.
    let r = server.get_with(&path, &UPGRADE[..3]).await;
    assert_eq!(r.status(), 400);

    let mut s = open(server.addr, &code, None).await;
    s.write_all(&masked(0x89, b"hi")).await.unwrap();
    assert_eq!(frame(&mut s).await, (0x8a, b"hi".to_vec()));
    // {"type":"ping"} in two fragments.
    s.write_all(&masked(0x01, br#"{"type":"#)).await.unwrap();
    s.write_all(&masked(0x80, br#""ping"}"#)).await.unwrap();
    let (b0, p) = frame(&mut s).await;
    assert_eq!(b0, 0x81);
    let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
    assert_eq!(v["type"], "pong", "{v}");
    // A close from the client is echoed.
    s.write_all(&masked(0x88, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut s).await, 1000);

    let mut s = open(server.addr, &code, None).await;
    s.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1002);

    let mut s = open(server.addr, &code, None).await;
    s.write_all(&masked(0x81, &[0xff, 0xfe])).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1007);
}

/// A socket moves to its room's shard after the upgrade; a client that sends its first frame
/// right behind the handshake request (before the 101) loses nothing in the move. Rooms are
/// spread over the shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_sent_with_the_handshake_survives_the_move_to_the_rooms_shard() {
    let mut cfg = brainwrite::Config::for_tests();
    cfg.shards = 2;
    let server = TestServer::with_config(cfg).await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(server.create(json!({"topic": "t"})).await.0);
    }
    assert_eq!(server.hub.shards.rooms(), vec![2, 2]);
    for code in &codes {
        let mut s = open_with(
            server.addr,
            code,
            None,
            &masked(0x81, br#"{"type":"watch"}"#),
        )
        .await;
        let (b0, p) = frame(&mut s).await;
        assert_eq!(b0, 0x81);
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["type"], "welcome", "{v}");
        s.write_all(&masked(0x81, br#"{"type":"ping"}"#))
            .await
            .unwrap();
        loop {
            let (_, p) = frame(&mut s).await;
            let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
            if v["type"] == "pong" {
                break;
            }
        }
    }
}

/// A peer that keeps pinging and never reads would make the server hold a pong for every
/// ping: it is treated as a slow client (4008) once a few pongs wait, and the others in the
/// room are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_pings_without_reading_is_cut_off_as_slow() {
    let mut cfg = brainwrite::Config::for_tests();
    cfg.socket_send_buffer = 8192;
    let server = TestServer::with_config(cfg).await;
    let (code, _) = server.create(json!({"topic": "t"})).await;
    let (mut other, _) = server.participant(&code, "O").await;
    let mut s = open(server.addr, &code, Some(2048)).await;
    // 2,000 pings of 125 bytes: far more pongs than the socket buffers hold.
    let ping = masked(0x89, &[b'p'; 125]);
    let flood = async {
        for _ in 0..2000 {
            if s.write_all(&ping).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), flood).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server
        .metric("brainwrite_slow_client_disconnects_total")
        .await
        < 1.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the pinger was never cut off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reading now, the pinger finds the stream ends: pongs, perhaps the close, then EOF.
    let mut buf = vec![0u8; 65536];
    let end = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), end)
        .await
        .expect("the server closed the pinger's socket");
    other.send(json!({"type": "ping"})).await;
    other.recv_type("pong").await;
}

/// A raw WebSocket client: the handshake by hand over a TCP socket with the given receive
/// buffer (the system's when `None`), checked against RFC 6455's own example key.
async fn open(addr: std::net::SocketAddr, code: &str, recv_buffer: Option<u32>) -> TcpStream {
    open_with(addr, code, recv_buffer, &[]).await
}

/// [`open`], with `early` bytes sent in the same write as the handshake request.
async fn open_with(
    addr: std::net::SocketAddr,
    code: &str,
    recv_buffer: Option<u32>,
    early: &[u8],
) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(n) = recv_buffer {
        sock.set_recv_buffer_size(n).unwrap();
    }
    let mut s = sock.connect(addr).await.unwrap();
    let req = format!(
        "GET /ws/{code} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let mut req = req.into_bytes();
    req.extend_from_slice(early);
    s.write_all(&req).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(s.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // RFC 6455's own example key and answer.
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    s
}
/// A client frame (masked, with a zero mask, so the payload goes as it is).
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}
/// The next server frame: (first byte, payload).
async fn frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let read = async {
        let b0 = s.read_u8().await.unwrap();
        let len = match s.read_u8().await.unwrap() {
            126 => s.read_u16().await.unwrap() as usize,
            127 => s.read_u64().await.unwrap() as usize,
            n => n as usize,
        };
        let mut p = vec![0; len];
        s.read_exact(&mut p).await.unwrap();
        (b0, p)
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("a frame in time")
}
/// Read frames until the close frame; its code.
async fn close_code(s: &mut TcpStream) -> u16 {
    loop {
        let (b0, p) = frame(s).await;
        if b0 == 0x88 {
            return u16::from_be_bytes([p[0], p[1]]);
        }
    }
}
