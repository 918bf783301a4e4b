//! The engine's one error type: every failure a caller can see, with the context a
//! support engineer needs (tenant, file, line, column, which limit was hit).

use std::path::PathBuf;

/// Everything that can go wrong inside the engine.
///
/// Variants carry context, never key material or message text: they are safe to log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tenant or contact id that does not match `^[A-Za-z0-9_-]{1,64}$`.
    /// Ids are rejected, never "sanitised" into another id.
    #[error("invalid {kind} id {id:?}: ids are 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")]
    InvalidId {
        /// `tenant` or `contact`.
        kind: &'static str,
        /// The rejected id (quoted with escapes in the message).
        id: String,
    },

    /// No rules folder and no registration for this tenant.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),

    /// The tenant's rules have never loaded successfully, so there is no version to serve.
    #[error("tenant {tenant:?} has no loadable rules: {reason}")]
    TenantUnavailable {
        /// The tenant.
        tenant: String,
        /// The load errors.
        reason: String,
    },

    /// A script failed to compile. Rendered as `file:line:column: message`.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Compile {
        /// Tenant whose rules contain the file.
        tenant: String,
        /// The script file.
        file: PathBuf,
        /// 1-based line (0 when the parser gave no position).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// The parser's message.
        message: String,
    },

    /// A candidate rule folder (a replay's) that does not load: every problem found, one
    /// per line, each `file:line:column: message` where the file is known.
    #[error("the candidate rules do not load:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Candidate(Vec<Error>),

    /// A script failed while running one hook: a runtime error or a sandbox limit.
    /// The evaluation is abandoned; the process and every other tenant carry on.
    #[error("{}:{line}:{column}: tenant {tenant:?}, hook {hook}: {message}", file.display())]
    Script {
        /// Tenant whose script failed.
        tenant: String,
        /// The hook being evaluated (`score`, `next_question`, ...).
        hook: String,
        /// The file defining the function where the error happened.
        file: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What went wrong, including the limit hit where one was.
        message: String,
    },

    /// A hook returned a value of the wrong shape. Rendered `file:line:column: …` with
    /// the tenant's own hook when its definition is known.
    #[error("{}tenant {tenant:?}, hook {hook}: {message}", if at.is_empty() { String::new() } else { format!("{at}: ") })]
    HookResult {
        /// Where the hook is defined (`file:line:column`), or empty.
        at: String,
        /// Tenant whose hook misbehaved.
        tenant: String,
        /// The hook.
        hook: String,
        /// What was expected and what came back.
        message: String,
    },

    /// A settings file (`tenant.yaml`) or cases file is not valid.
    #[error("{}: {message}", file.display())]
    Settings {
        /// The file.
        file: PathBuf,
        /// What is wrong, with line and column when the YAML parser gave them.
        message: String,
    },

    /// A lead that cannot be used (wrong types, unknown fields are fine).
    #[error("invalid lead: {0}")]
    InvalidLead(String),

    /// A message that cannot be right: empty text, a time in the future or too far in
    /// the past, an unknown time zone.
    #[error("invalid message: {0}")]
    InvalidMessage(String),

    /// Input over one of the tenant's limits (fact counts and sizes).
    #[error("{what} exceeds the limit of {limit}")]
    Limit {
        /// What is over (e.g. `facts per message`).
        what: String,
        /// The limit in force.
        limit: usize,
    },

    /// A webhook id seen before with a different body.
    #[error("webhook {0:?} already received with a different body")]
    Replay(String),

    /// The store file could not be opened, read or written.
    #[error("store: {0}")]
    Store(String),

    /// The store hit an I/O error it cannot recover from in this process (redb refuses
    /// every later operation): the process must restart.
    #[error("store unusable after an I/O error, restart the process: {0}")]
    StoreBroken(String),

    /// The master key given is not the one this store was created with (or last rotated to).
    #[error("wrong master key: this store was sealed with a different key")]
    WrongMasterKey,

    /// A sealed value did not open: it was tampered with, copied from another tenant,
    /// table or key, or its data key is gone (erased tenant).
    #[error("cannot open sealed {table} value {key:?} of tenant {tenant:?}: authentication failed (tampered, moved, or its key was destroyed)")]
    Unseal {
        /// Tenant the value was read for.
        tenant: String,
        /// Table.
        table: &'static str,
        /// Record key.
        key: String,
    },

    /// No valid API key.
    #[error("missing or invalid API key")]
    Unauthorized,

    /// A tenant with this id is already registered.
    #[error("tenant {0:?} already exists")]
    TenantExists(String),

    /// A stateful call on an engine built without a store.
    #[error("this engine has no store: build it with EngineBuilder::store")]
    NoStore,

    /// Counts handed to the experiment analysis are inconsistent (fewer than two arms,
    /// more conversions than exposures, a weight that is not positive, ...).
    #[error("cannot analyse the experiment: {0}")]
    Analysis(String),

    /// An analytics range that cannot be read (a bad date, `from` after `to`, too long).
    #[error("invalid range: {0}")]
    InvalidRange(String),

    /// No experiment with this key is defined for the tenant.
    #[error("tenant {tenant:?} has no experiment {key:?}")]
    UnknownExperiment {
        /// The tenant asked about.
        tenant: String,
        /// The experiment key asked for.
        key: String,
    },

    /// An outcome that cannot be recorded (the contact was never exposed, a numeric
    /// metric without a value, a metric the experiment does not measure).
    #[error("experiment {key:?}: {message}")]
    Outcome {
        /// The experiment key.
        key: String,
        /// What is wrong.
        message: String,
    },

    /// Reading a rules folder or file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A transcript or metrics file that cannot be read as a whole: JSON that does not
    /// parse, a top-level value that is neither a transcript, a list nor
    /// `{"transcripts": [...]}`, a CSV without a required column, a metrics row that does
    /// not parse. (One bad transcript or CSV row of an import is skipped and reported,
    /// not an error.) Rendered as `file:line:column: message`.
    #[error("{}:{line}:{column}: {message}", file.display())]
    TranscriptInput {
        /// The file, or `<input>` when the text came from no file.
        file: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What is wrong; never message text.
        message: String,
    },
    /// A hybrid-extraction call failed: the endpoint was unreachable or slow, answered
    /// with an error status, or answered outside the schema. Never returned by an ingest
    /// (the deterministic facts stand); logged and counted. Carries no message text.
    #[error("tenant {tenant:?}: LLM extraction: {reason}")]
    Llm {
        /// The tenant whose endpoint was called.
        tenant: String,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// True when a tenant's rules failed at run time (a script error, a limit, a hook's
    /// result of the wrong shape): the input was fine, the rules were not.
    pub fn is_rules_failure(&self) -> bool {
        matches!(self, Error::Script { .. } | Error::HookResult { .. })
    }
}

/// Shorthand for results of engine calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
