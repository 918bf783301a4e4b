//! `qualify sms-info` and `qualify redact`: the engine's text functions on one text.

use super::text_arg;
use anyhow::Result;
use clap::Args;
use qualify_engine::text::{redact, sms};
use std::io::Write;
use std::process::ExitCode;

/// A text argument.
#[derive(Args)]
pub struct TextArg {
    /// The text, or - for standard input.
    text: Option<String>,
}

impl TextArg {
    /// The text, without the newline standard input ends with.
    fn read(&self) -> Result<String> {
        let mut text = text_arg(self.text.as_deref())?;
        if text.ends_with('\n') {
            text.pop();
        }
        Ok(text)
    }
}

/// `qualify sms-info`: `{"encoding", "segments", "units", "non_gsm"}`.
pub fn sms_info(args: TextArg, out: &mut impl Write) -> Result<ExitCode> {
    serde_json::to_writer(&mut *out, &sms::sms_info(&args.read()?))?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// `qualify redact`: the redacted text and each finding's entity and byte span.
pub fn redact(args: TextArg, out: &mut impl Write) -> Result<ExitCode> {
    serde_json::to_writer(&mut *out, &redact::redact(&args.read()?))?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
