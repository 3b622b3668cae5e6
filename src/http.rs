//! HTTP: the REST endpoints (`/api/rooms`, `/healthz`), the QR code, and the embedded web
//! client with its content types, cache headers and security headers. Builds the router.
//!
//! Handlers validate input and talk to the hub; they hold no room logic. With the journal on
//! PostgreSQL, a request for a room (`/ws/{code}`, `/api/rooms/{code}…`) first brings the
//! room to this node ([`Hub::bring_here`]), so any node serves any room.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_embed::RustEmbed;
use serde::Deserialize;
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::export::{Facts, Lang, report};
use crate::hub::Hub;
use crate::ids::RoomCode;
use crate::respond::{api_error, client_ip};
use crate::room::{LANGUAGES, Method, Settings, text};
use strum::VariantArray;

/// The web client, embedded at build time.
#[derive(RustEmbed)]
#[folder = "web/"]
struct Web;

/// The Content-Security-Policy of every response but the report: nothing inline, nothing
/// foreign — except the printable report's one stylesheet, allowed by its hash: the
/// facilitator's page opens the report from a blob URL, and a blob document keeps the policy
/// of the page that made it (`crate::export::report`).
pub fn csp() -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' {}; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'",
        report::style_source()
    )
}

/// The room code a request is about, for the paths that reach a room's actor.
fn room_of(path: &str) -> Option<RoomCode> {
    let rest = path
        .strip_prefix("/ws/")
        .or_else(|| path.strip_prefix("/api/rooms/"))?;
    RoomCode::parse(rest.split('/').next()?)
}

/// With a cluster: run the requested room here before the handler looks it up.
async fn bring_room_here(
    State(hub): State<Arc<Hub>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if hub.cluster.is_some()
        && let Some(code) = room_of(req.uri().path())
    {
        hub.bring_here(code).await;
    }
    next.run(req).await
}

/// The application's routes.
pub fn router(hub: Arc<Hub>) -> Router {
    let cluster = hub.cluster.is_some();
    let app = routes(hub.clone());
    if cluster {
        app.layer(axum::middleware::from_fn_with_state(hub, bring_room_here))
    } else {
        app
    }
}

fn routes(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/api/rooms", post(create_room))
        .route("/api/rooms/{code}", get(room_info))
        .route("/api/rooms/{code}/qr.svg", get(qr_svg))
        .route(
            "/api/rooms/{code}/export.md",
            get(|s, p, h, u| export(s, p, h, u, Format::Markdown)),
        )
        .route(
            "/api/rooms/{code}/export.csv",
            get(|s, p, h, u| export(s, p, h, u, Format::Csv)),
        )
        .route(
            "/api/rooms/{code}/export.json",
            get(|s, p, h, u| export(s, p, h, u, Format::Json)),
        )
        .route(
            "/api/rooms/{code}/export.html",
            get(|s, p, h, u| export(s, p, h, u, Format::Html)),
        )
        .route("/ws/{code}", get(crate::ws::upgrade))
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/",
            get(|h: HeaderMap| async move { asset("index.html", &h) }),
        )
        .route(
            "/r/{code}",
            get(|h: HeaderMap| async move { asset("participant.html", &h) }),
        )
        .route(
            "/f/{code}",
            get(|h: HeaderMap| async move { asset("facilitator.html", &h) }),
        )
        .route(
            "/b/{code}",
            get(|h: HeaderMap| async move { asset("board.html", &h) }),
        )
        .fallback(get(static_file))
        // The report sets its own, stricter policy; every other response gets the site's.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp()).unwrap_or_else(|_| {
                HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'")
            }),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .with_state(hub)
}

fn invalid(message: impl Into<String>) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_request", &message.into())
}

/// `POST /api/rooms` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRoom {
    topic: String,
    ideas_per_round: Option<i64>,
    round_seconds: Option<i64>,
    group_size: Option<i64>,
    rounds: Option<i64>,
    preset: Option<String>,
    goal: Option<String>,
    outcomes: Option<Vec<String>>,
    /// The room's language (`en`, `de`, `fr`, `es`, `ar`); absent: each person's browser decides.
    language: Option<String>,
    /// The method: `635` (default), `c_sketch` or `pool`.
    method: Option<String>,
}

/// A preset's defaults: (ideas per round, round seconds, group size, most rounds).
fn preset(name: &str) -> Option<(u32, u32, u32, Option<u32>)> {
    match name {
        "classic" => Some((3, 300, 6, None)),
        "quick" => Some((3, 180, 6, Some(3))),
        "large" => Some((3, 240, 5, Some(4))),
        _ => None,
    }
}

/// A pool session's length for a preset, in seconds.
fn pool_seconds(preset: &str) -> u32 {
    match preset {
        "quick" => 900,
        "large" => 1200,
        _ => 1800,
    }
}

/// Longest goal, in characters.
const MAX_GOAL: usize = 500;
/// Most expected outcomes, and the longest one.
const MAX_OUTCOMES: (usize, usize) = (10, 200);

fn in_range(field: &str, v: Option<i64>, lo: i64, hi: i64, default: u32) -> Result<u32, String> {
    match v {
        None => Ok(default),
        Some(v) if (lo..=hi).contains(&v) => Ok(v as u32),
        Some(v) => Err(format!("{field} must be between {lo} and {hi}, not {v}")),
    }
}

impl CreateRoom {
    /// Validate every field; the error names the field and why.
    fn settings(self, max_participants: u32) -> Result<Settings, String> {
        let topic = match text::topic(&self.topic) {
            Ok(t) => t,
            Err(0) => return Err("topic must not be empty".to_owned()),
            Err(n) => {
                return Err(format!(
                    "topic is {n} characters; the limit is {}",
                    text::MAX_TOPIC_CHARS
                ));
            }
        };
        let name = self.preset.unwrap_or_else(|| "classic".to_owned());
        let (ideas, mut secs, group, rounds) = preset(&name)
            .ok_or_else(|| format!("preset must be classic, quick or large, not {name:?}"))?;
        let method = match self.method.as_deref() {
            None => Method::SixThreeFive,
            Some(m) => Method::VARIANTS
                .iter()
                .copied()
                .find(|v| v.as_str() == m)
                .ok_or_else(|| format!("method must be 635, c_sketch or pool, not {m:?}"))?,
        };
        if method == Method::Pool {
            // One clock for the whole session: as long as the preset's rounds together.
            secs = pool_seconds(&name);
        }
        if method == Method::CSketch && self.ideas_per_round.is_some_and(|n| n != 1) {
            return Err(
                "ideas_per_round: a C-Sketch row is one sketch; leave it out or send 1".to_owned(),
            );
        }
        let goal = match self.goal.as_deref().map(|g| text::clean(g, true)) {
            Some(g) if g.trim().chars().count() > MAX_GOAL => {
                return Err(format!("goal is over {MAX_GOAL} characters"));
            }
            Some(g) if !g.trim().is_empty() => Some(g.trim().to_owned()),
            _ => None,
        };
        let mut outcomes = Vec::new();
        for o in self.outcomes.unwrap_or_default() {
            let o = text::clean(&o, false).trim().to_owned();
            if o.chars().count() > MAX_OUTCOMES.1 {
                return Err(format!(
                    "outcomes: each is at most {} characters",
                    MAX_OUTCOMES.1
                ));
            }
            if !o.is_empty() {
                outcomes.push(o);
            }
        }
        if outcomes.len() > MAX_OUTCOMES.0 {
            return Err(format!("outcomes: at most {} of them", MAX_OUTCOMES.0));
        }
        let language = match self.language {
            None => None,
            Some(l) if LANGUAGES.contains(&l.as_str()) => Some(l),
            Some(l) => {
                return Err(format!(
                    "language must be one of {}, not {l:?}",
                    LANGUAGES.join(", ")
                ));
            }
        };
        Ok(Settings {
            method,
            topic,
            ideas_per_round: match method {
                Method::CSketch => 1,
                _ => in_range("ideas_per_round", self.ideas_per_round, 1, 10, ideas)?,
            },
            round_seconds: in_range("round_seconds", self.round_seconds, 1, 3600, secs)?,
            group_size: in_range("group_size", self.group_size, 2, 12, group)?,
            max_rounds: match self.rounds {
                None => rounds,
                r => Some(in_range("rounds", r, 1, 12, 12)?),
            },
            max_participants,
            preset: name,
            goal,
            outcomes,
            language,
        })
    }
}

/// The base URL participants reach this server at.
fn base_url(hub: &Hub, headers: &HeaderMap) -> String {
    if let Some(u) = &hub.config.public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

async fn create_room(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !hub.may_create_room(client_ip(
        hub.config.real_ip_header.as_deref(),
        &headers,
        peer,
    )) {
        return api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &format!(
                "this address may create {} rooms a minute; try again shortly",
                hub.config.rooms_per_minute_per_ip
            ),
        );
    }
    // serde_path_to_error names the field a type error is in ("rounds: invalid type ...").
    let mut de = serde_json::Deserializer::from_slice(&body);
    let req: CreateRoom = match serde_path_to_error::deserialize(&mut de) {
        Ok(r) => r,
        Err(e) if e.path().iter().next().is_some() => {
            return invalid(format!("{}: {}", e.path(), e.inner()));
        }
        Err(e) => return invalid(format!("body: {}", e.inner())),
    };
    let settings = match req.settings(hub.config.max_participants) {
        Ok(s) => s,
        Err(why) => return invalid(why),
    };
    let language = settings.language.clone();
    let method = settings.method;
    let (code, token) = match hub.create(settings).await {
        Ok(x) => x,
        Err(e @ crate::hub::CreateError::Full(_)) => {
            return api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_rooms",
                &e.to_string(),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "room not stored");
            return api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &e.to_string(),
            );
        }
    };
    let base = base_url(&hub, &headers);
    tracing::info!(room = %code, "room created");
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "code": code.as_str(),
            "facilitator_token": token,
            "join_url": format!("{base}/r/{code}"),
            "facilitate_url": format!("{base}/f/{code}#{token}"),
            "board_url": format!("{base}/b/{code}"),
            "language": language,
            "method": method,
        })),
    )
        .into_response()
}

async fn readyz(State(hub): State<Arc<Hub>>) -> Response {
    match hub.ready() {
        Ok(()) => axum::Json(json!({"status": "ready"})).into_response(),
        Err(why) => api_error(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why),
    }
}

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(),
    )
        .into_response()
}

fn room_not_found() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "room_not_found",
        "no room with that code",
    )
}

async fn room_info(State(hub): State<Arc<Hub>>, Path(code): Path<String>) -> Response {
    let Some(room) = RoomCode::parse(&code).and_then(|c| hub.get(&c)) else {
        return room_not_found();
    };
    match room.info().await {
        Some(info) => axum::Json(info).into_response(),
        None => room_not_found(),
    }
}

/// An export format.
#[derive(Clone, Copy)]
enum Format {
    Markdown,
    Csv,
    Json,
    Html,
}

/// The language an export is asked for with `?lang=` (the page sends the room's language, or
/// its person's when the room has none); `None` without it (then the room's, else English).
fn export_lang(uri: &axum::http::Uri) -> Result<Option<Lang>, String> {
    let Some(value) = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("lang="))
    else {
        return Ok(None);
    };
    Lang::parse(value).map(Some).ok_or_else(|| {
        format!(
            "lang must be one of {}, not {value:?}",
            LANGUAGES.join(", ")
        )
    })
}

/// `GET /api/rooms/{code}/export.{md,csv,json,html}` with the facilitator token as a bearer
/// token, optionally `?lang=` for the language of the headings. The HTML report also tells
/// the room's method, participants and finish time, from the room's summary.
async fn export(
    State(hub): State<Arc<Hub>>,
    Path(code): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    format: Format,
) -> Response {
    let lang = match export_lang(&uri) {
        Ok(l) => l,
        Err(why) => return invalid(why),
    };
    let Some(room) = RoomCode::parse(&code).and_then(|c| hub.get(&c)) else {
        return room_not_found();
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
    else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(json!({"error": {"code": "unauthorized",
                "message": "send the facilitator token as Authorization: Bearer <token>"}})),
        )
            .into_response();
    };
    let export = match room.export(token).await {
        None => return room_not_found(),
        Some(Err(crate::room_task::ExportError::Forbidden)) => {
            return api_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "wrong facilitator token",
            );
        }
        Some(Err(crate::room_task::ExportError::NotFinished)) => {
            return api_error(
                StatusCode::CONFLICT,
                "not_finished",
                "the session is still writing; export it after the rounds",
            );
        }
        Some(Ok(e)) => e,
    };
    let lang = lang
        .or_else(|| export.language.as_deref().and_then(Lang::parse))
        .unwrap_or(Lang::En);
    let (body, mime, ext) = match format {
        Format::Markdown => (
            export.markdown_in(lang),
            "text/markdown; charset=utf-8",
            "md",
        ),
        Format::Csv => (export.csv_in(lang), "text/csv; charset=utf-8", "csv"),
        Format::Json => (export.json_in(lang), "application/json", "json"),
        Format::Html => {
            let facts = match room.info().await {
                Some(info) => Facts {
                    participants: Some(info.participants),
                    finished_at: info.finished_at,
                },
                None => Facts::default(),
            };
            (
                export.html_in(lang, &facts),
                "text/html; charset=utf-8",
                "html",
            )
        }
    };
    // The report is for showing (and printing); the others are files to keep.
    let disposition = format!(
        "{}; filename=\"brainwrite-{}.{ext}\"",
        if matches!(format, Format::Html) {
            "inline"
        } else {
            "attachment"
        },
        export.code
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response();
    if matches!(format, Format::Html)
        && let Ok(policy) = HeaderValue::from_str(&report::csp())
    {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

async fn qr_svg(
    State(hub): State<Arc<Hub>>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(code) = RoomCode::parse(&code).filter(|c| hub.get(c).is_some()) else {
        return room_not_found();
    };
    let url = format!("{}/r/{code}", base_url(&hub, &headers));
    match qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M) {
        Ok(qr) => {
            let svg = qr
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(256, 256)
                .quiet_zone(true)
                .build();
            (
                [
                    (header::CONTENT_TYPE, "image/svg+xml"),
                    (header::CACHE_CONTROL, "public, max-age=3600"),
                ],
                svg,
            )
                .into_response()
        }
        Err(e) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "qr_failed",
            &e.to_string(),
        ),
    }
}

async fn static_file(uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") {
        return api_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint");
    }
    asset(path, &headers)
}

/// Serve an embedded file with its content type and an ETag for revalidation.
fn asset(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Web::get(path) else {
        return api_error(StatusCode::NOT_FOUND, "not_found", "no such page");
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let content_type = if mime.type_() == "text" || mime.subtype() == "javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Revalidate every time: file names carry no hash, the ETag makes it cheap.
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::ETAG, etag),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(body: &str) -> Result<Settings, String> {
        let req: CreateRoom = serde_json::from_str(body).map_err(|e| e.to_string())?;
        req.settings(200)
    }

    #[test]
    fn language_is_kept_when_supported() {
        for tag in LANGUAGES {
            let s = create(&format!(r#"{{"topic":"t","language":"{tag}"}}"#)).unwrap();
            assert_eq!(s.language.as_deref(), Some(tag));
            let view = crate::room::Room::new(s, 1).view("ABCD2345", 0);
            assert_eq!(
                view.language.as_deref(),
                Some(tag),
                "the room view carries it"
            );
        }
    }

    #[test]
    fn language_defaults_to_none() {
        let s = create(r#"{"topic":"t"}"#).unwrap();
        assert_eq!(s.language, None);
        let v = serde_json::to_value(crate::room::Room::new(s, 1).view("ABCD2345", 0)).unwrap();
        assert!(v["language"].is_null());
    }

    #[test]
    fn unsupported_language_is_refused_naming_the_field() {
        for bad in ["xx", "EN", "de-DE", ""] {
            let err = create(&format!(r#"{{"topic":"t","language":"{bad}"}}"#)).unwrap_err();
            assert!(
                err.starts_with("language must be one of en, de, fr, es, ar"),
                "{err}"
            );
        }
        let err = create(r#"{"topic":"t","language":7}"#).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn settings_without_a_language_still_load() {
        // A journal written before the field existed.
        let old = r#"{"topic":"t","ideas_per_round":3,"round_seconds":300,"group_size":6,
            "max_rounds":null,"max_participants":200,"preset":"classic","goal":null,"outcomes":[]}"#;
        let s: Settings = serde_json::from_str(old).unwrap();
        assert_eq!(s.language, None);
        // And a room without one writes no key, so old readers read new journals too.
        assert!(!serde_json::to_string(&s).unwrap().contains("language"));
        let with = Settings {
            language: Some("ar".into()),
            ..s
        };
        let back: Settings = serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back.language.as_deref(), Some("ar"));
    }

    #[test]
    fn export_language_comes_from_the_query() {
        let uri = |s: &str| s.parse::<axum::http::Uri>().unwrap();
        assert_eq!(export_lang(&uri("/x/export.md")), Ok(None));
        assert_eq!(
            export_lang(&uri("/x/export.md?lang=de")),
            Ok(Some(Lang::De))
        );
        assert!(
            export_lang(&uri("/x/export.md?lang=zz"))
                .unwrap_err()
                .starts_with("lang must")
        );
    }
}
