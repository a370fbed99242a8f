//! End-to-end test harness: the real server on `127.0.0.1:0` over a real database — a fresh
//! SQLite file, or a fresh PostgreSQL database with the production role split (an owner that
//! runs migrations, an application role under row-level security).
//!
//! PostgreSQL is found at `CONCORDAT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, a superuser used only to create roles and
//! databases). Without it, PostgreSQL tests print a notice and return — unless `CI` is set, in
//! which case they fail: CI must run them.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use sqlx::Connection;
use store::Store;
use tokio::sync::oneshot;

pub use reqwest::StatusCode;

pub mod ws;

/// The signing key test servers use, so tests can forge tokens to attack them.
pub const JWT_SECRET: &str = "test-signing-key-0123456789abcdef-0123456789";
pub const JWT_KID: &str = "test-k1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod sqlite { #[test] name }` and `mod postgres { #[test] name }` for each async
/// test function taking a [`Backend`], so one story runs unchanged on both.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::postgres_admin_url().await.is_none() {
                        return;
                    }
                    super::$name($crate::Backend::Postgres).await
                }
            )+
        }
    };
}

/// Tests that need PostgreSQL (several nodes share one), in a `postgres` module like
/// [`on_both_backends!`]'s, skipped (with the same notice) where none answers, never under CI.
#[macro_export]
macro_rules! on_postgres {
    ($($name:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::postgres_admin_url().await.is_none() {
                        return;
                    }
                    super::$name().await
                }
            )+
        }
    };
}

/// The PostgreSQL superuser URL if a server answers there. Panics under CI when none does.
pub async fn postgres_admin_url() -> Option<String> {
    let url = std::env::var("CONCORDAT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match sqlx::PgConnection::connect(&url).await {
        Ok(c) => {
            let _ = c.close().await;
            Some(url)
        }
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI requires the PostgreSQL tests, but PostgreSQL is unreachable: {e}");
            }
            eprintln!("NOTICE: PostgreSQL unreachable ({e}): PostgreSQL test SKIPPED");
            None
        }
    }
}

/// A fresh database for one test.
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    /// The application's URL (on PostgreSQL, the non-owner role's).
    pub url: String,
    /// PostgreSQL: the owner role's URL (migrations); SQLite: same as `url`.
    pub owner_url: String,
    admin_url: Option<String>,
    name: String,
}

/// A principal acting as the account with this e-mail, through a fresh session (the store
/// proves every caller by a live session).
pub async fn principal(store: &dyn Store, email: &str) -> domain::access::Principal {
    let (u, _) = store
        .login_lookup(store::System::LOGIN, email)
        .await
        .expect("lookup")
        .expect("the account exists");
    store::act_as(store, &u, 3_600_000)
        .await
        .expect("a session")
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let name = format!("concordat_t_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("concordat-tests");
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite:{}", dir.join(format!("{name}.db")).display());
                TestDb {
                    backend,
                    owner_url: url.clone(),
                    url,
                    admin_url: None,
                    name,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().await.expect("PostgreSQL is reachable");
                let mut c = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("admin connection");
                for role in [
                    "create role concordat_owner login",
                    "create role concordat_app login nobypassrls",
                    "create role concordat_system login nobypassrls",
                ] {
                    let stmt = format!(
                        "do $$ begin {role}; exception when duplicate_object or unique_violation then null; end $$"
                    );
                    sqlx::raw_sql(&stmt)
                        .execute(&mut c)
                        .await
                        .expect("create role");
                }
                sqlx::raw_sql(&format!("create database {name} owner concordat_owner"))
                    .execute(&mut c)
                    .await
                    .expect("create database");
                let _ = c.close().await;
                let base = admin
                    .rsplit_once('@')
                    .map(|(_, host)| host)
                    .unwrap_or("127.0.0.1:5432/postgres");
                let host = base.split('/').next().unwrap_or("127.0.0.1:5432");
                TestDb {
                    backend,
                    url: format!("postgres://concordat_app@{host}/{name}"),
                    owner_url: format!("postgres://concordat_owner@{host}/{name}"),
                    admin_url: Some(admin),
                    name,
                }
            }
        }
    }

    /// A SQLite database already on disk (a restored backup, say).
    pub fn sqlite_at(path: &std::path::Path) -> TestDb {
        let url = format!("sqlite:{}", path.display());
        TestDb {
            backend: Backend::Sqlite,
            owner_url: url.clone(),
            url,
            admin_url: None,
            name: String::new(),
        }
    }

    /// The database's name (PostgreSQL; a SQLite file's stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// PostgreSQL: the system role's URL (a member of `concordat_system`); SQLite: `url`.
    pub fn system_url(&self) -> String {
        self.owner_url
            .replacen("concordat_owner@", "concordat_system@", 1)
    }

    /// Opens the store (running migrations as the owner).
    pub async fn store(&self) -> Arc<dyn Store> {
        store::connect(&store::ConnectOptions {
            url: self.url.clone(),
            migrate_url: Some(self.owner_url.clone()),
            system_url: Some(self.system_url()),
            max_connections: 4,
            allow_privileged_role: false,
        })
        .await
        .expect("store opens")
    }

    /// Runs SQL as the tables' owner (system context): for a test to set up what no API call
    /// can, such as a grant that expires in a few seconds.
    pub async fn owner_sql(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.owner_url)
                    .await
                    .expect("owner connection");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("owner sql");
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.owner_url)
                    .await
                    .expect("owner connection");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("owner sql");
            }
        }
    }

    /// PostgreSQL: runs SQL as the superuser (connected to the `postgres` database): what only
    /// an administrator of the cluster may do, such as ending other roles' connections.
    /// Returns the first column of the first row, as a number.
    pub async fn admin_sql(&self, sql: &str) -> i64 {
        let admin = self.admin_url.as_deref().expect("a PostgreSQL database");
        let mut c = sqlx::PgConnection::connect(admin)
            .await
            .expect("admin connection");
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(&mut c)
            .await
            .expect("admin sql");
        let _ = c.close().await;
        n
    }

    /// Removes the database (best effort).
    pub async fn drop_db(self) {
        match self.backend {
            Backend::Sqlite => {
                if let Some(path) = self.url.strip_prefix("sqlite:") {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{path}{suffix}"));
                    }
                }
            }
            Backend::Postgres => {
                if let Some(admin) = &self.admin_url
                    && let Ok(mut c) = sqlx::PgConnection::connect(admin).await
                {
                    let _ = sqlx::raw_sql(&format!(
                        "drop database if exists {} with (force)",
                        self.name
                    ))
                    .execute(&mut c)
                    .await;
                }
            }
        }
    }
}

/// Every log line the servers in this process wrote.
pub fn captured_logs() -> String {
    let buf = LOGS
        .get_or_init(Default::default)
        .lock()
        .map(|b| b.clone())
        .unwrap_or_default();
    String::from_utf8_lossy(&buf).into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install_log_capture(config: &server::Config) {
    let buf = LOGS.get_or_init(Default::default).clone();
    server::logging::init(config, move || LogWriter(buf.clone()));
}

/// A running server and an HTTP client for it.
#[derive(Debug)]
pub struct TestServer {
    pub base: String,
    pub store: Arc<dyn Store>,
    pub db: Option<TestDb>,
    pub http: reqwest::Client,
    /// The live-sync hub, to observe loaded rooms and connections.
    pub hub: Arc<server::live::Hub>,
    /// The server's shared state, to read its counters.
    pub state: server::AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// A fresh database with the demo workspace, and the server on an ephemeral port.
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut server::Config),
    ) -> TestServer {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        server::demo::seed(store.as_ref())
            .await
            .expect("demo seeds");
        let mut config = server::Config::defaults();
        config.jwt_secret = Some(server::Secret::new(JWT_SECRET));
        config.jwt_key_id = JWT_KID.into();
        config.log = "debug,sqlx=warn,hyper=info,tower_http=debug".into();
        config.log_format = server::config::LogFormat::Json;
        tweak(&mut config);
        install_log_capture(&config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // The real address, unless the test chose a public URL (a TLS proxy's, say).
        if config.public_url == server::Config::defaults().public_url {
            config.public_url = format!("http://{addr}");
        }
        let state = server::AppState::new(config, store.clone()).expect("state");
        let hub = state.hub.clone();
        let shared = state.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server::serve(state, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        TestServer {
            base: format!("http://{addr}"),
            store,
            db: Some(db),
            http: reqwest::Client::new(),
            hub,
            state: shared,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in a demo account; returns the full token response.
    pub async fn login_full(&self, email: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/auth/login",
                None,
                Some(serde_json::json!({
                    "email": email, "password": server::demo::DEMO_PASSWORD
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body
    }

    /// Logs in a demo account; returns its access token.
    pub async fn login(&self, email: &str) -> String {
        self.login_full(email).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// One JSON request; returns the status and the body (Null when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, Some(token), None)
            .await
    }

    /// Every document the token's user can list, by title → id.
    pub async fn titles(&self, token: &str) -> Vec<(String, String)> {
        let (status, body) = self
            .get("/api/documents?limit=200&include_archived=true", token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|d| {
                (
                    d["title"].as_str().unwrap_or("").to_owned(),
                    d["id"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// The id of a demo document by title, as seen by `token`'s user.
    pub async fn doc_id(&self, token: &str, title: &str) -> String {
        self.titles(token)
            .await
            .into_iter()
            .find(|(t, _)| t == title)
            .map(|(_, id)| id)
            .unwrap_or_else(|| panic!("{title} not visible"))
    }

    /// Stops the server and drops its database.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if let Some(db) = self.db.take() {
            db.drop_db().await;
        }
    }
}

/// A document as the server stored it (snapshot and chunks, checksums verified).
pub async fn stored_document(store: &dyn Store, id: &str) -> automerge::Automerge {
    let content = store
        .load_content(store::System::SYNC, id.parse().expect("document id"))
        .await
        .expect("stored content loads")
        .expect("the document exists");
    let mut doc = automerge::Automerge::new();
    for c in &content.chunks {
        doc.load_incremental(&c.data).expect("stored chunk loads");
    }
    doc
}

/// `tests/js`, where the JS client scenarios live.
pub fn js_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Whether `tests/js` has its packages installed; without them a JS test is skipped with a
/// notice, except under CI, where that fails.
pub fn js_client_installed(test: &str) -> bool {
    if js_dir()
        .join("node_modules/@automerge/automerge-repo")
        .exists()
    {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install tests/js (npm install) first"
    );
    eprintln!(
        "NOTICE: tests/js/node_modules missing (run `npm install` in tests/js): {test} SKIPPED"
    );
    false
}
