//! The `qualify` host: command implementations behind the CLI (and, later, the HTTP
//! server). Thin by design: read input, make one engine call, print the result.

pub mod cli;
pub mod keys;
