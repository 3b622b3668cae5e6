//! Small HTTP pieces shared by the REST handlers ([`crate::http`]) and the WebSocket upgrade
//! ([`crate::ws`]): the JSON error body and the client's address. A leaf: it depends on no
//! other module of the crate, so both may use it without depending on each other.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The client's address: the socket peer, or the last address in `real_ip_header` (set by
/// the proxy in front, `--real-ip-header`) when there is one that parses.
pub fn client_ip(real_ip_header: Option<&str>, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    real_ip_header
        .and_then(|h| headers.get(h))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// A JSON error: `{"error":{"code","message"}}`.
pub fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_ip_header_is_read_only_when_configured() {
        let peer: SocketAddr = "10.0.0.9:5000".parse().expect("addr");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-real-ip",
            "192.0.2.1, 198.51.100.7".parse().expect("value"),
        );
        assert_eq!(client_ip(None, &headers, peer), peer.ip());
        let ip = client_ip(Some("x-real-ip"), &headers, peer);
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().expect("ip"));
        headers.insert("x-real-ip", "not an address".parse().expect("value"));
        assert_eq!(client_ip(Some("x-real-ip"), &headers, peer), peer.ip());
    }
}
