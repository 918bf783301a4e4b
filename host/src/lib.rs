//! The `qualify` host: the CLI commands and the HTTP server around the engine. Thin by
//! design: read input, make one engine call, write the result.

pub mod cli;
pub mod error;
pub mod ghl;
pub mod keys;
pub mod server;

pub use server::{app, serve, AppState, Config};
