//! Configuration: one typed struct, read from flags, then the environment, then an optional
//! file of `NAME=value` lines (`--config`, same names as the environment). Secrets never show
//! in `Debug`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// A value that must not reach a log line: `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Concordat: partner councils co-editing their partnership's documents live.
#[derive(Debug, Parser)]
#[command(name = "concordat", version, about)]
pub struct Cli {
    /// A file of NAME=value lines (e.g. CONCORDAT_DATABASE_URL=...) read before the environment
    /// is consulted; flags and real environment variables win over it.
    #[arg(long, env = "CONCORDAT_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub settings: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// First run on an empty database: make the platform operator (an administrator of the
    /// council deploying Concordat, created with its verified domains if it does not exist) and
    /// print the one-time link to choose their password. Asks for what is not given when run
    /// on a terminal.
    Setup {
        /// The operator's e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// The operator's name, as colleagues see it.
        #[arg(long)]
        name: Option<String>,
        /// The operator's organisation (created as a council if it does not exist).
        #[arg(long)]
        organisation: Option<String>,
        /// A verified e-mail domain of that organisation; repeat for several.
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Days the one-time link stays usable (1 to 30, default 7).
        #[arg(long)]
        link_days: Option<u32>,
    },
    /// Write a consistent copy of the SQLite database to a new file, while the server runs
    /// (PostgreSQL: use pg_dump; see the README's "Backups").
    Backup {
        /// The copy's path; the file must not exist.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Invite a guest to documents on behalf of one of their administrators, and print the
    /// one-time link to pass on (there is no mail server).
    Invite {
        /// E-mail of the inviting administrator (acts as them: the CLI runs with database access).
        #[arg(long = "as")]
        inviter: String,
        /// E-mail address to invite.
        #[arg(long)]
        email: String,
        /// Name of the guest's organisation (e.g. the charity).
        #[arg(long)]
        organisation: String,
        /// Document id or automerge: URL; repeat for several.
        #[arg(long = "document", required = true)]
        documents: Vec<String>,
        /// viewer, commenter or editor.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Days the link stays usable.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
    /// Create the demo workspace if it is not there, print its accounts, then serve.
    Demo {
        /// Create the demo workspace and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
}

/// Every setting of the server.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(
        long,
        env = "CONCORDAT_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// The URL people reach this server at; invitation links start with it.
    #[arg(
        long,
        env = "CONCORDAT_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub public_url: String,

    /// Database: `sqlite:path/to/file.db` (created if missing) or `postgres://user@host/db`.
    /// On PostgreSQL this role must own no table and lack BYPASSRLS.
    #[arg(
        long,
        env = "CONCORDAT_DATABASE_URL",
        default_value = "sqlite:data/concordat.db",
        global = true
    )]
    pub database_url: Secret,

    /// PostgreSQL only: the URL of the role that owns the tables, used to run migrations
    /// (default: the database URL).
    #[arg(long, env = "CONCORDAT_MIGRATE_DATABASE_URL", global = true)]
    pub migrate_database_url: Option<Secret>,

    /// PostgreSQL only: the URL of a member of the `concordat_system` role, used for system
    /// operations (sign-in, invitation acceptance, provisioning, storing live changes) so
    /// that the application role never has to be trusted with them (default: the migration
    /// URL, i.e. the tables' owner).
    #[arg(long, env = "CONCORDAT_SYSTEM_DATABASE_URL", global = true)]
    pub system_database_url: Option<Secret>,

    /// Most database connections held open.
    #[arg(
        long,
        env = "CONCORDAT_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,

    /// PostgreSQL only: start even if the application role could bypass row-level security.
    /// Never in production.
    #[arg(long, env = "CONCORDAT_ALLOW_PRIVILEGED_DB_ROLE", global = true)]
    pub allow_privileged_db_role: bool,

    /// Key that signs session tokens (HS256), at least 32 bytes. If unset, a random key is made
    /// at start-up and every session ends when the server restarts.
    #[arg(
        long,
        env = "CONCORDAT_JWT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub jwt_secret: Option<Secret>,

    /// If set, `/metrics` answers only requests bearing it (`Authorization: Bearer …`); if
    /// unset, anyone who reaches the port may read the metrics (counts only, no tenant data).
    #[arg(
        long,
        env = "CONCORDAT_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<Secret>,

    /// This server node's name in the readiness probe's heartbeat row and the logs (default:
    /// the host name and the process id).
    #[arg(long, env = "CONCORDAT_NODE_NAME", global = true)]
    pub node_name: Option<String>,

    /// Key id (`kid`) of the signing key; tokens name it so keys can be rotated.
    #[arg(
        long,
        env = "CONCORDAT_JWT_KEY_ID",
        default_value = "k1",
        global = true
    )]
    pub jwt_key_id: String,

    /// Keys still accepted but no longer used to sign, as `kid=secret` pairs separated by
    /// commas: during a rotation, the previous key.
    #[arg(
        long,
        env = "CONCORDAT_JWT_PREVIOUS_KEYS",
        global = true,
        hide_env_values = true
    )]
    pub jwt_previous_keys: Option<Secret>,

    /// `iss` claim written into and required of session tokens.
    #[arg(
        long,
        env = "CONCORDAT_JWT_ISSUER",
        default_value = "concordat",
        global = true
    )]
    pub jwt_issuer: String,

    /// `aud` claim written into and required of session tokens.
    #[arg(
        long,
        env = "CONCORDAT_JWT_AUDIENCE",
        default_value = "concordat",
        global = true
    )]
    pub jwt_audience: String,

    /// Lifetime of an access token, in seconds.
    #[arg(
        long,
        env = "CONCORDAT_ACCESS_TOKEN_TTL_SECS",
        default_value_t = 900,
        global = true
    )]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a refresh token (a login session), in seconds.
    #[arg(long, env = "CONCORDAT_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600, global = true)]
    pub refresh_token_ttl_secs: u64,

    /// Longest an invitation link stays usable, in days.
    #[arg(
        long,
        env = "CONCORDAT_MAX_INVITATION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub max_invitation_days: u32,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "CONCORDAT_MAX_BODY_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Longest a REST request may take, in seconds.
    #[arg(
        long,
        env = "CONCORDAT_REQUEST_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub request_timeout_secs: u64,

    /// Largest page of a listing.
    #[arg(
        long,
        env = "CONCORDAT_MAX_PAGE_SIZE",
        default_value_t = 200,
        global = true
    )]
    pub max_page_size: u32,

    /// Most documents one view (a dashboard, a council's overview) reads.
    #[arg(
        long,
        env = "CONCORDAT_MAX_VIEW_DOCUMENTS",
        default_value_t = 500,
        global = true
    )]
    pub max_view_documents: usize,

    /// Largest spreadsheet accepted for import, in bytes.
    #[arg(
        long,
        env = "CONCORDAT_MAX_IMPORT_BYTES",
        default_value_t = 10 * 1024 * 1024,
        global = true
    )]
    pub max_import_bytes: usize,

    /// Most data rows one import may hold.
    #[arg(
        long,
        env = "CONCORDAT_MAX_IMPORT_ROWS",
        default_value_t = 5000,
        global = true
    )]
    pub max_import_rows: usize,

    /// Most columns a sheet for import may use.
    #[arg(
        long,
        env = "CONCORDAT_MAX_IMPORT_COLUMNS",
        default_value_t = 200,
        global = true
    )]
    pub max_import_columns: u32,

    /// Most characters of text one spreadsheet cell may hold; a longer cell refuses its row.
    #[arg(
        long,
        env = "CONCORDAT_MAX_IMPORT_CELL_CHARS",
        default_value_t = 10_000,
        global = true
    )]
    pub max_import_cell_chars: usize,

    /// Most bytes an XLSX workbook may expand to, all its parts together (checked before it
    /// is parsed; parsing takes about three times this in memory).
    #[arg(
        long,
        env = "CONCORDAT_MAX_IMPORT_EXPANDED_BYTES",
        default_value_t = 100 * 1024 * 1024,
        global = true
    )]
    pub max_import_expanded_bytes: u64,

    /// Most bytes one part of an XLSX workbook (a sheet, its shared strings) may expand to.
    #[arg(
        long,
        env = "CONCORDAT_MAX_IMPORT_PART_BYTES",
        default_value_t = 50 * 1024 * 1024,
        global = true
    )]
    pub max_import_part_bytes: u64,

    /// Highest compression ratio (expanded over stored size) of an XLSX part larger than
    /// 1 MiB: a higher one is a decompression bomb.
    #[arg(
        long,
        env = "CONCORDAT_MAX_IMPORT_RATIO",
        default_value_t = 100,
        global = true
    )]
    pub max_import_ratio: u32,

    /// Most changes one page of the audit trail examines (each is diffed against its parents),
    /// so a narrow filter over a long history answers in bounded time with a cursor to go on.
    #[arg(
        long,
        env = "CONCORDAT_AUDIT_MAX_SCAN",
        default_value_t = 2000,
        global = true
    )]
    pub audit_max_scan: usize,

    /// Largest websocket message accepted, in bytes; a larger one closes the connection (1009).
    #[arg(long, env = "CONCORDAT_SYNC_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024 * 1024, global = true)]
    pub sync_max_message_bytes: usize,

    /// Bytes a websocket connection reads from its socket at a time: held by every
    /// connection, idle or not, so kept small; a larger message is read in several reads.
    /// Taken as at least 64 and at most the largest message.
    #[arg(
        long,
        env = "CONCORDAT_SYNC_READ_BUFFER_BYTES",
        default_value_t = 1024,
        global = true
    )]
    pub sync_read_buffer_bytes: usize,

    /// Most live websocket connections; past it new ones are refused (503).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_MAX_CONNECTIONS",
        default_value_t = 20_000,
        global = true
    )]
    pub sync_max_connections: usize,

    /// Messages queued for one connection before it counts as too slow and is disconnected
    /// (it resyncs when it reconnects; nothing is silently skipped).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_OUTBOUND_QUEUE",
        default_value_t = 256,
        global = true
    )]
    pub sync_outbound_queue: usize,

    /// Seconds between the server's pings.
    #[arg(
        long,
        env = "CONCORDAT_SYNC_PING_INTERVAL_SECS",
        default_value_t = 15,
        global = true
    )]
    pub sync_ping_interval_secs: u64,

    /// Seconds without any frame from a peer before its connection is closed (half-open links).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_IDLE_TIMEOUT_SECS",
        default_value_t = 45,
        global = true
    )]
    pub sync_idle_timeout_secs: u64,

    /// Seconds a new connection has to send `join`.
    #[arg(
        long,
        env = "CONCORDAT_SYNC_HANDSHAKE_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub sync_handshake_timeout_secs: u64,

    /// Seconds a websocket ticket stays usable (each works once).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_TICKET_TTL_SECS",
        default_value_t = 60,
        global = true
    )]
    pub sync_ticket_ttl_secs: u64,

    /// Seconds a document stays loaded after its last peer leaves.
    #[arg(
        long,
        env = "CONCORDAT_SYNC_UNLOAD_AFTER_SECS",
        default_value_t = 30,
        global = true
    )]
    pub sync_unload_after_secs: u64,

    /// Seconds a document stays in memory while every peer on it is quiet; then it is dropped
    /// and read back from the database on the next message (0: never dropped while anyone is
    /// connected).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_HIBERNATE_AFTER_SECS",
        default_value_t = 60,
        global = true
    )]
    pub sync_hibernate_after_secs: u64,

    /// Largest presence (`ephemeral`) message, in bytes.
    #[arg(
        long,
        env = "CONCORDAT_SYNC_MAX_EPHEMERAL_BYTES",
        default_value_t = 4096,
        global = true
    )]
    pub sync_max_ephemeral_bytes: usize,

    /// Presence messages per second one connection may send (bursts of twice that).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_EPHEMERAL_PER_SEC",
        default_value_t = 20,
        global = true
    )]
    pub sync_ephemeral_per_sec: u32,

    /// Milliseconds between checkpoints of SQLite's write-ahead log, done in the background so
    /// that no commit pays for one (0: leave them to SQLite, in the writer, at 16 000 pages).
    /// Ignored on PostgreSQL.
    #[arg(
        long,
        env = "CONCORDAT_SQLITE_CHECKPOINT_MS",
        default_value_t = 1000,
        global = true
    )]
    pub sqlite_checkpoint_ms: u64,

    /// Most documents whose pending changes share one database transaction (group commit
    /// across documents).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_COMMIT_MAX_DOCUMENTS",
        default_value_t = 256,
        global = true
    )]
    pub sync_commit_max_documents: usize,

    /// While commits follow each other closely, the next starts no sooner than this many
    /// milliseconds after the one before it started, so the documents edited meanwhile share
    /// it (one fsync for them all); a commit after a quiet moment starts at once. 0: never
    /// wait.
    #[arg(
        long,
        env = "CONCORDAT_SYNC_COMMIT_WINDOW_MS",
        default_value_t = 2,
        global = true
    )]
    pub sync_commit_window_ms: u64,

    /// Protocol messages per second one connection may send (bursts of twice that); over it,
    /// the server stops reading that connection until it is back under (nothing is dropped).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_MESSAGES_PER_SEC",
        default_value_t = 200,
        global = true
    )]
    pub sync_messages_per_sec: u32,

    /// Most operations one live-sync message may add (a character typed or pasted is one);
    /// a larger one is refused before it is applied.
    #[arg(
        long,
        env = "CONCORDAT_SYNC_MAX_CHANGE_OPS",
        default_value_t = 200_000,
        global = true
    )]
    pub sync_max_change_ops: u64,

    /// Longest short text in a document (a title, a name, a reference, an owner), in characters.
    #[arg(
        long,
        env = "CONCORDAT_MAX_SHORT_TEXT_CHARS",
        default_value_t = 1_000,
        global = true
    )]
    pub max_short_text_chars: usize,

    /// Longest other text in a document (a description, a clause, a commentary), in characters.
    #[arg(
        long,
        env = "CONCORDAT_MAX_LONG_TEXT_CHARS",
        default_value_t = 100_000,
        global = true
    )]
    pub max_long_text_chars: usize,

    /// Most characters of text one document may hold in all.
    #[arg(
        long,
        env = "CONCORDAT_MAX_DOCUMENT_CHARS",
        default_value_t = 8_000_000,
        global = true
    )]
    pub max_document_chars: usize,

    /// Most live connections one user may hold at once (every tab, every device).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_MAX_CONNECTIONS_PER_USER",
        default_value_t = 50,
        global = true
    )]
    pub sync_max_connections_per_user: usize,

    /// Live-sync tickets one user may take per minute (bursts of that many).
    #[arg(
        long,
        env = "CONCORDAT_SYNC_TICKETS_PER_MINUTE",
        default_value_t = 60,
        global = true
    )]
    pub sync_tickets_per_minute: u32,

    /// Single sign-ons one client address may start per minute (each asks the identity
    /// provider and keeps a state for ten minutes); past it, back to the sign-in page.
    #[arg(
        long,
        env = "CONCORDAT_SSO_STARTS_PER_MINUTE",
        default_value_t = 30,
        global = true
    )]
    pub sso_starts_per_minute: u32,

    /// Longest a client may take to send a request's headers, in seconds; a connection that
    /// dribbles them is closed.
    #[arg(
        long,
        env = "CONCORDAT_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub header_read_timeout_secs: u64,

    /// Take the client's address from the last `X-Forwarded-For` entry (set this only behind
    /// a reverse proxy that writes it); otherwise the connection's peer address is used.
    #[arg(long, env = "CONCORDAT_TRUST_FORWARDED_FOR", global = true)]
    pub trust_forwarded_for: bool,

    /// Failed sign-ins allowed per account within the throttle window; past it, 429.
    #[arg(
        long,
        env = "CONCORDAT_LOGIN_MAX_FAILURES_PER_ACCOUNT",
        default_value_t = 5,
        global = true
    )]
    pub login_max_failures_per_account: u32,

    /// Failed sign-ins allowed per client address within the throttle window; past it, 429.
    #[arg(
        long,
        env = "CONCORDAT_LOGIN_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 20,
        global = true
    )]
    pub login_max_failures_per_address: u32,

    /// The login throttle's window, in seconds.
    #[arg(
        long,
        env = "CONCORDAT_LOGIN_THROTTLE_WINDOW_SECS",
        default_value_t = 900,
        global = true
    )]
    pub login_throttle_window_secs: u64,

    /// Passwords hashed or checked at once (argon2 takes ~19 MiB and one core each); more
    /// requests wait their turn.
    #[arg(
        long,
        env = "CONCORDAT_PASSWORD_HASH_CONCURRENCY",
        default_value_t = 2,
        global = true
    )]
    pub password_hash_concurrency: usize,

    /// The protective marking printed on every page of a committee report (the Government
    /// Security Classifications' `OFFICIAL` by default; `OFFICIAL-SENSITIVE` for a partnership
    /// that handles such papers).
    #[arg(
        long,
        env = "CONCORDAT_PROTECTIVE_MARKING",
        default_value = "OFFICIAL",
        global = true
    )]
    pub protective_marking: String,

    /// Log filter, in tracing's `EnvFilter` syntax (e.g. `info,server=debug`).
    #[arg(long, env = "CONCORDAT_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log line format.
    #[arg(
        long,
        env = "CONCORDAT_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,
}

impl Cli {
    /// Parses the command line, first loading `--config` / `CONCORDAT_CONFIG` into the
    /// environment (never overriding a variable already set).
    pub fn load() -> anyhow::Result<Self> {
        let args: Vec<String> = std::env::args().collect();
        let file = args
            .iter()
            .position(|a| a == "--config")
            .and_then(|i| args.get(i + 1).cloned())
            .or_else(|| {
                args.iter()
                    .find_map(|a| a.strip_prefix("--config=").map(str::to_owned))
            })
            .or_else(|| std::env::var("CONCORDAT_CONFIG").ok());
        if let Some(file) = file {
            dotenvy::from_path(&file)
                .map_err(|e| anyhow::anyhow!("reading config file {file}: {e}"))?;
        }
        Ok(Cli::parse())
    }
}

impl Config {
    /// The defaults, as if no flag or variable were given (tests start from here).
    /// What a document's content may hold.
    pub fn document_limits(&self) -> domain::documents::limits::Limits {
        domain::documents::limits::Limits {
            short_text_chars: self.max_short_text_chars,
            long_text_chars: self.max_long_text_chars,
            document_chars: self.max_document_chars,
        }
    }

    /// The live runtime's limits, from the `sync_*` settings and the document limits.
    pub fn sync_limits(&self) -> crate::live::SyncLimits {
        crate::live::SyncLimits {
            outbound_queue: self.sync_outbound_queue,
            ephemeral_per_sec: self.sync_ephemeral_per_sec,
            messages_per_sec: self.sync_messages_per_sec,
            ping_interval: Duration::from_secs(self.sync_ping_interval_secs),
            idle_timeout: Duration::from_secs(self.sync_idle_timeout_secs),
            handshake_timeout: Duration::from_secs(self.sync_handshake_timeout_secs),
            max_ephemeral_bytes: self.sync_max_ephemeral_bytes,
            max_change_ops: self.sync_max_change_ops,
            unload_after: Duration::from_secs(self.sync_unload_after_secs),
            hibernate_after: Duration::from_secs(self.sync_hibernate_after_secs),
            document: self.document_limits(),
        }
    }

    pub fn defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            c: Config,
        }
        Only::parse_from(["concordat"]).c
    }
}
