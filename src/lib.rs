//! # brainwrite
//!
//! A live 6-3-5 brainwriting server. Participants on phones write ideas silently on sheets;
//! the server owns the clock and passes the sheets on at the end of every round.
//!
//! # Layout
//! - [`room`]: the pure engine (rules, rotation, clock as an argument). No I/O.
//! - [`protocol`]: the wire types, one module.
//! - [`room_task`]: one actor task per room around the engine; fans messages out.
//! - [`hub`]: the registry of rooms (`DashMap`), code and token generation.
//! - [`ws`]: WebSocket upgrade, role handshake, reader and bounded writer.
//! - [`http`]: REST endpoints and the embedded web client.
//! - [`config`]: command-line flags and environment.
//! - [`ids`]: room codes and secret tokens.
//!
//! [`run`] takes its listener and shutdown signal from the caller, so tests bind an
//! ephemeral port and stop the server when they are done.
#![forbid(unsafe_code)]

pub mod protocol;
pub mod room;
