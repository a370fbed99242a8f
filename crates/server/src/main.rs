//! The `concordat` binary: parse configuration, connect, migrate, then serve (or seed the demo).

use anyhow::Context;
use server::{AppState, Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::load()?;
    let config = cli.settings;
    server::logging::init(&config, std::io::stderr);
    let store = server::connect_store(&config).await?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            tracing::info!("database schema is up to date");
            Ok(())
        }
        Command::Serve => run(config, store).await,
        Command::Setup {
            email,
            name,
            organisation,
            domains,
            link_days,
        } => {
            let state = AppState::new(config, store)?;
            let said = server::setup::run(
                &state,
                server::setup::Request {
                    email,
                    display_name: name,
                    organisation,
                    domains,
                    link_days,
                },
            )
            .await?;
            println!("{said}");
            Ok(())
        }
        Command::Backup { to } => {
            store
                .backup(&to)
                .await
                .with_context(|| format!("backing up to {}", to.display()))?;
            println!("backed up to {}", to.display());
            Ok(())
        }
        Command::Invite {
            inviter,
            email,
            organisation,
            documents,
            role,
            days,
        } => {
            let state = AppState::new(config, store)?;
            let link = server::api::invite_from_cli(
                &state,
                &inviter,
                &email,
                &organisation,
                documents,
                &role,
                days,
            )
            .await?;
            println!("{link}");
            Ok(())
        }
        Command::Demo { no_serve } => {
            let report = server::demo::seed(store.as_ref()).await?;
            println!("{report}");
            if no_serve {
                return Ok(());
            }
            run(config, store).await
        }
    }
}

async fn run(
    config: server::Config,
    store: std::sync::Arc<dyn store::Store>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let state = AppState::new(config, store)?;
    server::serve(state, listener, server::shutdown_signal()).await
}
