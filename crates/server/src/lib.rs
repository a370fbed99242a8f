//! The Concordat server: the REST API (axum), authentication, configuration, and the runtime
//! that will drive live sync. `main.rs` only parses configuration and calls into here;
//! [`serve`] is a library function so tests run the real server on `127.0.0.1:0`.

pub mod access;
pub mod api;
pub mod auth;
pub mod config;
pub mod content;
pub mod demo;
pub mod error;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod oidc;
pub mod setup;
pub mod throttle;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

pub use config::{Cli, Command, Config, Secret};

/// Shared state of every request handler.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn store::Store>,
    pub keys: auth::Keys,
    pub hub: Arc<live::Hub>,
    /// Password hashing, a bounded number at once.
    pub hasher: auth::Hasher,
    /// Failed sign-ins per account (lower-cased e-mail) and per client address.
    pub login_failures: LoginFailures,
    /// Live-sync tickets per user.
    pub tickets: throttle::Windows<uuid::Uuid>,
    /// Single sign-ons started per client address.
    pub sso_starts: throttle::Windows<std::net::IpAddr>,
    /// Documents with a spreadsheet import under way (one at a time per document).
    pub imports: std::sync::Mutex<std::collections::HashSet<domain::DocumentId>>,
    /// This node's name (readiness heartbeat, logs).
    pub node: String,
}

/// Failed sign-ins counted per account and per client address.
#[derive(Debug)]
pub struct LoginFailures {
    pub by_account: throttle::Windows<String>,
    pub by_address: throttle::Windows<std::net::IpAddr>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn store::Store>) -> anyhow::Result<Self> {
        let keys = auth::Keys::from_config(&config)?;
        // Counters recorded before the first scrape count too.
        let _ = metrics::handle();
        let window = Duration::from_secs(config.login_throttle_window_secs);
        Ok(Self(Arc::new(Inner {
            hasher: auth::Hasher::new(config.password_hash_concurrency),
            login_failures: LoginFailures {
                by_account: throttle::Windows::new(config.login_max_failures_per_account, window),
                by_address: throttle::Windows::new(config.login_max_failures_per_address, window),
            },
            tickets: throttle::Windows::new(
                config.sync_tickets_per_minute,
                Duration::from_secs(60),
            ),
            sso_starts: throttle::Windows::new(
                config.sso_starts_per_minute,
                Duration::from_secs(60),
            ),
            imports: Default::default(),
            node: config.node_name.clone().unwrap_or_else(default_node_name),
            hub: Arc::new(live::Hub::new(
                store.clone(),
                config.sync_limits(),
                live::commit::Committer::spawn(
                    store.clone(),
                    config.sync_commit_max_documents,
                    Duration::from_millis(config.sync_commit_window_ms),
                ),
            )),
            config,
            store,
            keys,
        })))
    }
}

/// The host's name and this process's id: unique among the nodes of one deployment.
fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    format!("{host}:{}", std::process::id())
}

/// Connects to the configured database and runs its migrations.
pub async fn connect_store(config: &Config) -> anyhow::Result<Arc<dyn store::Store>> {
    let url = config.database_url.expose();
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or(path);
        if let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the database folder {}", parent.display()))?;
        }
    }
    let store = store::connect(&store::ConnectOptions {
        url: url.to_owned(),
        migrate_url: config
            .migrate_database_url
            .as_ref()
            .map(|s| s.expose().to_owned()),
        system_url: config
            .system_database_url
            .as_ref()
            .map(|s| s.expose().to_owned()),
        max_connections: config.db_max_connections,
        allow_privileged_role: config.allow_privileged_db_role,
    })
    .await
    .context("opening the database")?;
    Ok(store)
}

/// How long shutdown waits for live connections to close and rooms to persist and unload.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves Concordat on `listener` until `shutdown` completes, then finishes in-flight requests,
/// closes live connections (1001) and waits for every room to persist, compact and unload.
///
/// The accept loop is ours (on hyper's HTTP/1 connection) rather than `axum::serve`, which
/// cannot bound how long a client takes to send its headers: a connection that dribbles them
/// is closed after `header_read_timeout_secs`. Each request sees its peer address
/// (`ConnectInfo`) for sign-in throttling.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use tower::Service as _;

    let hub = state.hub.clone();
    let checkpoints = tokio::spawn(checkpoints(
        state.store.clone(),
        state.config.sqlite_checkpoint_ms,
    ));
    let header_timeout = Duration::from_secs(state.config.header_read_timeout_secs.max(1));
    let mut make = api::router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Several nodes on one PostgreSQL: hear the others' commits and access events.
    let relay = tokio::spawn(live::relay::run(hub.clone()));
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let Ok(router) = make.call(peer).await;
        let service = hyper_util::service::TowerToHyperService::new(router);
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = async { drop(stop.wait_for(|stopping| *stopping).await) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
        });
    }
    drop(listener);
    // Websockets outlive the HTTP connections they came from: close them and settle the rooms.
    hub.begin_shutdown();
    stop_tx.send_replace(true);
    relay.abort();
    checkpoints.abort();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("requests still running at the shutdown deadline were cut");
        connections.shutdown().await;
    }
    if !hub.wait_closed(SHUTDOWN_GRACE).await {
        tracing::warn!(
            rooms = hub.loaded_rooms(),
            "live sync did not settle before the shutdown deadline; unsaved edits resync when clients reconnect"
        );
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// How long to wait for a request before giving up on it.
pub fn request_timeout(config: &Config) -> Duration {
    Duration::from_secs(config.request_timeout_secs.max(1))
}

/// Checkpoints the database every `every_ms` (SQLite's write-ahead log; see
/// `store::Store::checkpoint`), so commits never wait for one. A failure is logged and tried
/// again next time: the log keeps everything meanwhile.
async fn checkpoints(store: Arc<dyn store::Store>, every_ms: u64) {
    if every_ms == 0 || store.backend() != store::Backend::Sqlite {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(every_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "checkpointing the write-ahead log failed");
        }
    }
}
