//! The servers under test, each a separate process so its CPU time and memory are its own:
//! Concordat (release binary, SQLite with `synchronous=FULL`, persist-before-broadcast), the
//! same on PostgreSQL (`concordat-pg`: a fresh database of its own, dropped after), the
//! reference Node sync server (file-system storage) and samod (file-system storage).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Node,
    Samod,
    Concordat,
    /// Concordat on PostgreSQL (one node).
    ConcordatPg,
    /// The frames-only relay of the `floor` scenario (not a sync server; see `floor`).
    Floor,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Samod => "samod",
            Kind::Concordat => "concordat",
            Kind::ConcordatPg => "concordat-pg",
            Kind::Floor => "floor",
        }
    }

    /// Concordat, on either backend.
    pub fn is_concordat(self) -> bool {
        matches!(self, Kind::Concordat | Kind::ConcordatPg)
    }

    pub fn parse(s: &str) -> Result<Kind> {
        Ok(match s {
            "node" => Kind::Node,
            "samod" => Kind::Samod,
            "concordat" => Kind::Concordat,
            "concordat-pg" => Kind::ConcordatPg,
            _ => bail!("unknown server {s:?} (node, samod, concordat, concordat-pg)"),
        })
    }
}

/// A running server process.
#[derive(Debug)]
pub struct Target {
    pub kind: Kind,
    child: Child,
    pub port: u16,
    http: reqwest::Client,
    token: Option<String>,
    space: Option<String>,
    /// concordat-pg: its database, dropped when it stops.
    db: Option<PgDatabase>,
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe.with_file_name(name);
    if !p.exists() {
        bail!(
            "{} not found next to the bench binary: build it with `cargo build --release --bin {name}`",
            p.display()
        );
    }
    Ok(p)
}

/// How long Concordat keeps a document loaded after its last peer leaves, in this benchmark
/// (short, so the cold-join scenarios really load from the database).
pub const CONCORDAT_UNLOAD_SECS: u64 = 1;

impl Target {
    /// `extra`: more environment for Concordat unless the caller's own sets it (the peers take
    /// none). `postgres_url`: a superuser URL, for concordat-pg's own database.
    pub async fn start(
        kind: Kind,
        work: &Path,
        node_dir: &Path,
        extra: &[(&str, &str)],
        postgres_url: &str,
    ) -> Result<Target> {
        if kind == Kind::ConcordatPg {
            let db = PgDatabase::create(postgres_url).await?;
            let started = async {
                let mut env = concordat_env(Path::new("."), 0);
                env.retain(|(k, _)| k != "CONCORDAT_DATABASE_URL");
                env.extend(db.env());
                seed_demo(&env).await?;
                Target::concordat_on(&db, "bench", extra).await
            }
            .await;
            return match started {
                Ok(mut t) => {
                    t.kind = Kind::ConcordatPg;
                    t.db = Some(db);
                    Ok(t)
                }
                Err(e) => {
                    db.drop_db().await;
                    Err(e)
                }
            };
        }
        let port = free_port()?;
        let dir = work.join(format!("{}-{port}", kind.name()));
        std::fs::create_dir_all(&dir)?;
        let cmd = match kind {
            Kind::Node => {
                let mut c = Command::new("node");
                c.arg(node_dir.join("server.mjs"))
                    .env("PORT", port.to_string())
                    .env("DATA_DIR", dir.join("data"));
                c
            }
            Kind::Floor => {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("floor-server").arg("--port").arg(port.to_string());
                c
            }
            Kind::Samod => {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("samod-server")
                    .arg("--port")
                    .arg(port.to_string())
                    .arg("--data-dir")
                    .arg(dir.join("data"));
                c
            }
            Kind::Concordat | Kind::ConcordatPg => {
                let env = concordat_env(&dir, port);
                seed_demo(&env).await?;
                let mut c = Command::new(sibling_binary("concordat")?);
                // The caller's own environment wins (to compare, e.g. with hibernation off).
                let extra = extra.iter().filter(|(k, _)| std::env::var_os(k).is_none());
                c.arg("serve").envs(env).envs(extra.copied());
                c
            }
        };
        Target::spawn(kind, cmd, port).await
    }

    /// A Concordat node on PostgreSQL, over the database `db` (seeded by the caller); `extra`
    /// as for [`Target::start`].
    async fn concordat_on(db: &PgDatabase, name: &str, extra: &[(&str, &str)]) -> Result<Target> {
        let port = free_port()?;
        let mut env = concordat_env(Path::new("."), port);
        env.retain(|(k, _)| k != "CONCORDAT_DATABASE_URL");
        env.extend(db.env());
        env.push(("CONCORDAT_NODE_NAME".into(), name.into()));
        let extra = extra.iter().filter(|(k, _)| std::env::var_os(k).is_none());
        let mut c = Command::new(sibling_binary("concordat")?);
        c.arg("serve").envs(env).envs(extra.copied());
        Target::spawn(Kind::Concordat, c, port).await
    }

    async fn spawn(kind: Kind, mut cmd: Command, port: u16) -> Result<Target> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", kind.name()))?;
        // Drain stdout so the server never blocks on it.
        if let Some(out) = child.stdout.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(_)) = lines.next_line().await {}
            });
        }
        let mut t = Target {
            kind,
            child,
            port,
            http: reqwest::Client::new(),
            token: None,
            space: None,
            db: None,
        };
        t.wait_listening().await?;
        if kind.is_concordat() {
            t.sign_in().await?;
        }
        Ok(t)
    }

    async fn wait_listening(&mut self) -> Result<()> {
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited at start: {status}", self.kind.name());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("{} did not listen within 15 s", self.kind.name())
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let mut req = self.http.post(format!("{}{path}", self.base())).json(&body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    async fn sign_in(&mut self) -> Result<()> {
        let login = self
            .post(
                "/api/auth/login",
                json!({"email": "arun@ashby.gov.uk", "password": "concordat-demo"}),
            )
            .await?;
        self.token = login["access_token"].as_str().map(str::to_owned);
        let spaces: Value = self
            .http
            .get(format!("{}/api/spaces", self.base()))
            .bearer_auth(self.token.as_deref().unwrap_or_default())
            .send()
            .await?
            .json()
            .await?;
        self.space = spaces[0]["id"].as_str().map(str::to_owned);
        Ok(())
    }

    /// True when documents must be created by the server (REST) rather than by a client's
    /// first sync message.
    pub fn server_creates(&self) -> bool {
        self.kind.is_concordat()
    }

    /// `n` document ids. Concordat creates them over REST with their initial content (sync
    /// never creates a document there); the peers learn a document from its writer's first sync.
    pub async fn new_documents(&self, n: usize) -> Result<Vec<String>> {
        self.new_documents_of(n, "sla").await
    }

    /// `n` document ids of `kind` (Concordat's kinds: `sla`, `risk-register`, …).
    pub async fn new_documents_of(&self, n: usize, kind: &str) -> Result<Vec<String>> {
        if !self.server_creates() {
            return Ok((0..n).map(|_| crate::client::new_document_id()).collect());
        }
        self.post_many(n, "id", |i| {
            (
                "/api/documents",
                json!({"space_id": self.space, "kind": kind, "title": format!("bench {i}")}),
            )
        })
        .await
    }

    /// `n` websocket URLs, one per connection (Concordat: single-use tickets, fetched before the
    /// timed part; the peers take anyone).
    pub async fn urls(&self, n: usize) -> Result<Vec<String>> {
        if !self.kind.is_concordat() {
            return Ok(vec![format!("ws://127.0.0.1:{}", self.port); n]);
        }
        self.post_many(n, "url", |_| ("/api/sync/ticket", json!({})))
            .await
    }

    /// `n` POSTs, 16 at a time, in order; returns each answer's `field`.
    async fn post_many(
        &self,
        n: usize,
        field: &str,
        request: impl Fn(usize) -> (&'static str, Value),
    ) -> Result<Vec<String>> {
        use futures_util::StreamExt;
        let mut out = Vec::with_capacity(n);
        let mut pending = futures_util::stream::iter((0..n).map(|i| {
            let (path, body) = request(i);
            self.post(path, body)
        }))
        .buffered(16);
        while let Some(answer) = pending.next().await {
            let answer = answer?;
            out.push(
                answer[field]
                    .as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("no {field} in {answer}"))?,
            );
        }
        Ok(out)
    }

    pub async fn url(&self) -> Result<String> {
        Ok(self.urls(1).await?.remove(0))
    }

    /// Waits until a document nobody is connected to is unloaded (Concordat), so the next join
    /// loads it from the database. The peers keep documents in memory.
    pub async fn let_unload(&self) {
        if self.kind.is_concordat() {
            tokio::time::sleep(Duration::from_millis(CONCORDAT_UNLOAD_SECS * 1000 + 1500)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// The CPU PostgreSQL's processes have used so far (concordat-pg, on this machine): the
    /// postmaster's own, its live children's, and what its exited children (backends of closed
    /// connections) left it. `None` for other servers.
    pub fn database_cpu_time(&self) -> Option<Duration> {
        let pm = self.db.as_ref()?.postmaster?;
        let (own, reaped) = proc_stat(pm).map(|f| (f.cpu, f.children))?;
        let mut total = own + reaped;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(f) = proc_stat(pid).filter(|f| f.ppid == pm) {
                total += f.cpu;
            }
        }
        Some(total)
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        if let Some(db) = self.db.take() {
            db.drop_db().await;
        }
    }
}

/// `concordat demo --no-serve` with this environment: the demo workspace, for signing in.
async fn seed_demo(env: &[(String, String)]) -> Result<()> {
    let seeded = Command::new(sibling_binary("concordat")?)
        .args(["demo", "--no-serve"])
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .status()
        .await?;
    if !seeded.success() {
        bail!("concordat demo --no-serve failed");
    }
    Ok(())
}

/// A fresh PostgreSQL database for Concordat, with the three roles it expects (the tables'
/// owner, the application role, the system role), dropped by [`PgDatabase::drop_db`].
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    host: String,
    name: String,
    /// PostgreSQL's postmaster, when it runs on this machine (its `/proc` is readable): its
    /// processes' CPU is the database's share of a scenario.
    postmaster: Option<u32>,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> Result<PgDatabase> {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {admin_url}"))?;
        for role in [
            "create role concordat_owner login",
            "create role concordat_app login nobypassrls",
            "create role concordat_system login nobypassrls",
        ] {
            sqlx::raw_sql(&format!(
                "do $$ begin {role}; exception when duplicate_object or unique_violation then null; end $$"
            ))
            .execute(&mut c)
            .await?;
        }
        let name = format!("concordat_bench_{}", std::process::id());
        sqlx::raw_sql(&format!("drop database if exists {name}"))
            .execute(&mut c)
            .await?;
        sqlx::raw_sql(&format!("create database {name} owner concordat_owner"))
            .execute(&mut c)
            .await?;
        // A backend's parent is the postmaster (on this machine only: another's /proc is not
        // here, and then there is no figure).
        let backend: i32 = sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(&mut c)
            .await?;
        let postmaster = u32::try_from(backend).ok().and_then(parent_pid);
        let _ = c.close().await;
        let host = admin_url
            .rsplit_once('@')
            .map_or("127.0.0.1:5432/postgres", |(_, h)| h)
            .split('/')
            .next()
            .unwrap_or("127.0.0.1:5432")
            .to_owned();
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            host,
            name,
            postmaster,
        })
    }

    fn env(&self) -> Vec<(String, String)> {
        let url = |role: &str| format!("postgres://{role}@{}/{}", self.host, self.name);
        vec![
            ("CONCORDAT_DATABASE_URL".into(), url("concordat_app")),
            (
                "CONCORDAT_MIGRATE_DATABASE_URL".into(),
                url("concordat_owner"),
            ),
            (
                "CONCORDAT_SYSTEM_DATABASE_URL".into(),
                url("concordat_system"),
            ),
        ]
    }

    /// `nodes` Concordat processes on this database, after seeding the demo into it.
    pub async fn start_nodes(&self, nodes: usize) -> Result<Vec<Target>> {
        let mut env = concordat_env(Path::new("."), 0);
        env.retain(|(k, _)| k != "CONCORDAT_DATABASE_URL");
        env.extend(self.env());
        seed_demo(&env).await?;
        let mut out = Vec::new();
        for n in 0..nodes {
            out.push(Target::concordat_on(self, &format!("bench-node-{n}"), &[]).await?);
        }
        Ok(out)
    }

    pub async fn drop_db(self) {
        use sqlx::Connection;
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::raw_sql(&format!(
                "drop database if exists {} with (force)",
                self.name
            ))
            .execute(&mut c)
            .await;
            let _ = c.close().await;
        }
    }
}

fn concordat_env(dir: &Path, port: u16) -> Vec<(String, String)> {
    [
        (
            "CONCORDAT_DATABASE_URL",
            format!("sqlite:{}", dir.join("bench.db").display()),
        ),
        ("CONCORDAT_LISTEN", format!("127.0.0.1:{port}")),
        ("CONCORDAT_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
        (
            "CONCORDAT_JWT_SECRET",
            "benchmark-signing-key-0123456789abcdef".into(),
        ),
        ("CONCORDAT_ACCESS_TOKEN_TTL_SECS", "3600".into()),
        ("CONCORDAT_SYNC_MAX_CONNECTIONS", "50000".into()),
        ("CONCORDAT_SYNC_TICKET_TTL_SECS", "600".into()),
        // The load generator is one user holding thousands of connections: the per-user
        // limits that stop one person exhausting the server are opened for it (the peers have
        // none).
        ("CONCORDAT_SYNC_MAX_CONNECTIONS_PER_USER", "50000".into()),
        ("CONCORDAT_SYNC_TICKETS_PER_MINUTE", "1000000".into()),
        (
            "CONCORDAT_SYNC_UNLOAD_AFTER_SECS",
            CONCORDAT_UNLOAD_SECS.to_string(),
        ),
        (
            "CONCORDAT_LOG",
            std::env::var("CONCORDAT_LOG").unwrap_or_else(|_| "warn".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// CPU time (user + system) a process has used, from /proc.
pub fn cpu_time(pid: u32) -> Duration {
    proc_stat(pid).map_or(Duration::ZERO, |f| f.cpu)
}

/// What the bench reads of a process's `/proc/<pid>/stat`.
struct ProcStat {
    ppid: u32,
    /// Its own user and system time.
    cpu: Duration,
    /// The user and system time of its children that have exited and been waited for.
    children: Duration,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: the parent is the 4th field, utime, stime,
    // cutime and cstime the 14th to 17th.
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let time = |ticks: u64| Duration::from_millis(ticks * 1000 / clock_ticks());
    Some(ProcStat {
        ppid: u32::try_from(num(1)).unwrap_or(0),
        cpu: time(num(11) + num(12)),
        children: time(num(13) + num(14)),
    })
}

fn parent_pid(pid: u32) -> Option<u32> {
    proc_stat(pid).map(|f| f.ppid).filter(|&p| p > 1)
}

fn clock_ticks() -> u64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux this runs on; no libc call needed.
    100
}

/// Resident memory of a process in bytes.
pub fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench reads its own process as it reads PostgreSQL's: the parent it names is the
    /// real one, and CPU it spends shows in its own time.
    #[test]
    fn proc_stat_names_the_parent_and_counts_cpu() {
        let me = std::process::id();
        let before = proc_stat(me).expect("own /proc/<pid>/stat");
        assert_eq!(before.ppid, std::os::unix::process::parent_id());
        assert_eq!(parent_pid(me), Some(before.ppid).filter(|&p| p > 1));
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = proc_stat(me).expect("own /proc/<pid>/stat");
        assert!(
            after.cpu >= before.cpu + Duration::from_millis(100),
            "{:?} then {:?}",
            before.cpu,
            after.cpu
        );
        assert!(proc_stat(u32::MAX).is_none());
    }
}
