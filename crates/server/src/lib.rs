//! The Concordat server: the REST API (axum), authentication, configuration, and the runtime
//! that will drive live sync. `main.rs` only parses configuration and calls into here;
//! [`serve`] is a library function so tests run the real server on `127.0.0.1:0`.

pub mod api;
pub mod auth;
pub mod config;
pub mod content;
pub mod demo;
pub mod error;
pub mod live;
pub mod logging;
pub mod report;
pub mod web;

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
        Ok(Self(Arc::new(Inner {
            config,
            store,
            keys,
            hub: Arc::new(live::Hub::new()),
        })))
    }
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
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let hub = state.hub.clone();
    let app = api::router(state);
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let closing = hub.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Websockets outlive axum's graceful shutdown: close them and settle the rooms.
            closing.begin_shutdown();
        })
        .await
        .context("serving")?;
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
