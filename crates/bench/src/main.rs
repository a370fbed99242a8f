//! `concordat-bench`: the load generator and its peers.
//!
//! `concordat-bench run` starts each server under test as its own process — the reference Node
//! automerge-repo sync server, samod, and Concordat (release build, SQLite, persistence on) —
//! runs the shared/quality.md scenarios against each in turn with one load generator speaking
//! the automerge-repo websocket protocol, and prints every figure beside the peers' with the
//! ratios, the server's CPU time and the load generator's own. `concordat-bench samod-server`
//! is the samod peer (a small axum server over samod with file-system storage).
//!
//! `scripts/bench.sh` builds everything and runs it: the one command.

#![allow(clippy::unwrap_used)] // a benchmark tool: a broken invariant should stop it loudly

mod client;
mod content;
mod floor;
mod scenarios;
mod targets;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use scenarios::Figure;
use targets::{Kind, Target};

#[derive(Parser, Debug)]
#[command(about = "Concordat's sync benchmark against the Node reference server and samod")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Runs the scenarios against each server and prints the comparison.
    Run {
        /// Servers, in order: node, samod, concordat (SQLite), concordat-pg (PostgreSQL, in a
        /// database of its own made with `--postgres-url`).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "node,samod,concordat,concordat-pg"
        )]
        servers: Vec<String>,
        /// Scenarios: fanout, pair, many, floor (once: the many-documents load on a relay of
        /// frames only, the floor under every server), idle, history, register, sla, nodes
        /// (Concordat only: two nodes on one PostgreSQL).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "fanout,pair,many,floor,idle,history,register,sla,nodes"
        )]
        scenarios: Vec<String>,
        /// A PostgreSQL superuser URL, for concordat-pg and the `nodes` scenario (each creates,
        /// then drops, a database of its own).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres_url: String,
        /// Smaller sizes, for a quick look (not the quality.md figures).
        #[arg(long)]
        quick: bool,
        /// Where the peers' Node server lives (with node_modules installed).
        #[arg(long, default_value = "crates/bench/node")]
        node_dir: PathBuf,
        /// Scratch directory for the servers' data.
        #[arg(long, default_value = "target/bench")]
        work_dir: PathBuf,
        /// Also write the markdown table here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Runs the frames-only relay of the `floor` scenario.
    FloorServer {
        #[arg(long)]
        port: u16,
    },
    /// Runs samod as a websocket sync server (a benchmark peer).
    SamodServer {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        data_dir: PathBuf,
    },
}

struct Sizes {
    fanout_readers: usize,
    fanout_edits: u64,
    many_docs: usize,
    many_secs: u64,
    idle: usize,
    idle_deadline: Duration,
    history_changes: u64,
    joiners: usize,
    history_edits: u64,
    register: scenarios::Large,
    sla: scenarios::Large,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Cmd::SamodServer { port, data_dir } => rt.block_on(samod_server(port, data_dir)),
        Cmd::FloorServer { port } => rt.block_on(floor::serve(port)),
        Cmd::Run {
            servers,
            scenarios,
            quick,
            node_dir,
            work_dir,
            out,
            postgres_url,
        } => {
            let sizes = if quick {
                Sizes {
                    fanout_readers: 20,
                    fanout_edits: 30,
                    many_docs: 100,
                    many_secs: 5,
                    idle: 500,
                    idle_deadline: Duration::from_secs(30),
                    history_changes: 2_000,
                    joiners: 20,
                    history_edits: 30,
                    register: scenarios::Large {
                        items: 60,
                        records: 1_000,
                        changes: 6_000,
                    },
                    sla: scenarios::Large {
                        items: 10,
                        records: 600,
                        changes: 610,
                    },
                }
            } else {
                Sizes {
                    fanout_readers: 100,
                    fanout_edits: 100,
                    many_docs: 1000,
                    many_secs: 20,
                    idle: 10_000,
                    idle_deadline: Duration::from_secs(60),
                    history_changes: 20_000,
                    joiners: 100,
                    history_edits: 100,
                    register: scenarios::Large {
                        items: 300,
                        records: 5_000,
                        changes: 30_000,
                    },
                    sla: scenarios::Large {
                        items: 40,
                        records: 2_400,
                        changes: 2_440,
                    },
                }
            };
            let kinds = servers
                .iter()
                .map(|s| Kind::parse(s))
                .collect::<Result<Vec<_>>>()?;
            let table = rt.block_on(run(
                &kinds,
                &scenarios,
                &sizes,
                &node_dir,
                &work_dir,
                &postgres_url,
            ))?;
            println!("{table}");
            if let Some(out) = out {
                std::fs::write(&out, &table).with_context(|| format!("{}", out.display()))?;
            }
            Ok(())
        }
    }
}

async fn run(
    kinds: &[Kind],
    scenarios: &[String],
    sizes: &Sizes,
    node_dir: &std::path::Path,
    work: &std::path::Path,
    postgres_url: &str,
) -> Result<String> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work)?;
    let node_dir = std::fs::canonicalize(node_dir).context("node dir")?;
    let work = std::fs::canonicalize(work)?;
    // figures[key][server] = figure; keys in first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut figures: Figures = BTreeMap::new();
    for scenario in scenarios {
        for &kind in kinds {
            if scenario == "nodes" && kind != Kind::Concordat {
                continue;
            }
            if scenario == "floor" {
                // Once per run, whichever servers are named: the relay is its own column.
                if Some(&kind) != kinds.first() {
                    continue;
                }
                eprintln!("==> floor (frames only)");
                let mut out = Vec::new();
                let t = Target::start(Kind::Floor, &work, &node_dir, &[], postgres_url).await?;
                if let Err(e) = floor::load(&t, sizes.many_docs, sizes.many_secs, &mut out).await {
                    eprintln!("    floor failed: {e:#}");
                    out.push(Figure::text(
                        "floor: error",
                        format!("{e:#}").replace('|', "/"),
                    ));
                }
                t.stop().await;
                record(Kind::Floor, out, &mut order, &mut figures);
                continue;
            }
            eprintln!("==> {scenario} on {}", kind.name());
            let mut out = Vec::new();
            if scenario == "nodes" {
                if let Err(e) = nodes(sizes, postgres_url, &mut out).await {
                    eprintln!("    nodes failed: {e:#}");
                    out.push(Figure::text(
                        "nodes: error",
                        format!("{e:#}").replace('|', "/"),
                    ));
                }
                record(kind, out, &mut order, &mut figures);
                continue;
            }
            let extra = if scenario == "idle" {
                scenarios::IDLE_ENV
            } else {
                &[]
            };
            let t = Target::start(kind, &work, &node_dir, extra, postgres_url).await?;
            let result = match scenario.as_str() {
                "fanout" => {
                    scenarios::fanout(&t, sizes.fanout_readers, sizes.fanout_edits, 10.0, &mut out)
                        .await
                }
                // Two clients: one writer, one reader (the write path's own tail).
                "pair" => scenarios::fanout(&t, 1, sizes.fanout_edits * 3, 10.0, &mut out).await,
                "many" => {
                    scenarios::many_docs(&t, sizes.many_docs, sizes.many_secs, &mut out).await
                }
                "idle" => scenarios::idle(&t, sizes.idle, sizes.idle_deadline, &mut out).await,
                "register" | "sla" => {
                    let (shape, size) = if scenario == "register" {
                        (client::Shape::Register, sizes.register)
                    } else {
                        (client::Shape::Sla, sizes.sla)
                    };
                    scenarios::large(&t, shape, size, 10, sizes.history_edits, &mut out).await
                }
                "history" => {
                    scenarios::history(
                        &t,
                        sizes.history_changes,
                        sizes.joiners,
                        sizes.history_edits,
                        &mut out,
                    )
                    .await
                }
                other => anyhow::bail!("unknown scenario {other:?}"),
            };
            if let Err(e) = result {
                eprintln!("    {scenario} on {} failed: {e:#}", kind.name());
                out.push(Figure::text(
                    &format!("{scenario}: error"),
                    format!("{e:#}").replace('|', "/"),
                ));
            }
            t.stop().await;
            record(kind, out, &mut order, &mut figures);
        }
    }
    let mut columns = kinds.to_vec();
    if figures
        .values()
        .any(|row| row.contains_key(Kind::Floor.name()))
    {
        columns.push(Kind::Floor);
    }
    Ok(table(&columns, &order, &figures))
}

type Figures = BTreeMap<String, BTreeMap<&'static str, Figure>>;

fn record(kind: Kind, out: Vec<Figure>, order: &mut Vec<String>, figures: &mut Figures) {
    for f in out {
        eprintln!("    {}: {}", f.key, f.text);
        if !figures.contains_key(&f.key) {
            order.push(f.key.clone());
        }
        figures
            .entry(f.key.clone())
            .or_default()
            .insert(kind.name(), f);
    }
}

/// The `nodes` scenario: a fresh PostgreSQL database, two Concordat nodes on it.
async fn nodes(sizes: &Sizes, postgres_url: &str, out: &mut Vec<Figure>) -> Result<()> {
    let db = targets::PgDatabase::create(postgres_url).await?;
    let result = async {
        let mut ts = db.start_nodes(2).await?;
        let b = ts.pop().context("node B")?;
        let a = ts.pop().context("node A")?;
        let r = scenarios::nodes(&a, &b, sizes.fanout_readers, sizes.fanout_edits, 10.0, out).await;
        a.stop().await;
        b.stop().await;
        r
    }
    .await;
    db.drop_db().await;
    result
}

fn table(
    kinds: &[Kind],
    order: &[String],
    figures: &BTreeMap<String, BTreeMap<&'static str, Figure>>,
) -> String {
    let mut s = String::new();
    let peers: Vec<Kind> = kinds
        .iter()
        .copied()
        .filter(|k| !k.is_concordat() && *k != Kind::Floor)
        .collect();
    let has_concordat = kinds.contains(&Kind::Concordat);
    let _ = write!(s, "| figure |");
    for k in kinds {
        let _ = write!(s, " {} |", k.name());
    }
    if has_concordat {
        for p in &peers {
            let _ = write!(s, " concordat / {} |", p.name());
        }
    }
    let _ = writeln!(s);
    let _ = write!(s, "|---|");
    for _ in kinds {
        let _ = write!(s, "---|");
    }
    if has_concordat {
        for _ in &peers {
            let _ = write!(s, "---|");
        }
    }
    let _ = writeln!(s);
    for key in order {
        let row = &figures[key];
        let _ = write!(s, "| {key} |");
        for k in kinds {
            let _ = write!(
                s,
                " {} |",
                row.get(k.name()).map_or("—", |f| f.text.as_str())
            );
        }
        if has_concordat {
            let ours = row.get("concordat").and_then(|f| f.value);
            for p in &peers {
                let theirs = row.get(p.name()).and_then(|f| f.value);
                let ratio = match (ours, theirs) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                    _ => "—".into(),
                };
                let _ = write!(s, " {ratio} |");
            }
        }
        let _ = writeln!(s);
    }
    s
}

/// samod as a plain sync server: every websocket at `/` joins one repo with file-system
/// storage; like the Node reference server, it announces nothing and serves what is asked.
async fn samod_server(port: u16, data_dir: PathBuf) -> Result<()> {
    use axum::extract::State;
    use axum::extract::ws::WebSocketUpgrade;
    use axum::routing::get;

    std::fs::create_dir_all(&data_dir)?;
    let repo = samod::Repo::build_tokio()
        .with_storage(samod::storage::TokioFilesystemStorage::new(&data_dir))
        .with_share_policy(samod::ShareConfig::read_write().with_announce(false))
        .load()
        .await;
    let acceptor = repo
        .make_acceptor(samod::Url::parse("ws://bench-samod-server/")?)
        .map_err(|_| anyhow::anyhow!("samod stopped"))?;
    let app = axum::Router::new()
        .route(
            "/",
            get(
                |State(acceptor): State<samod::AcceptorHandle>, ws: WebSocketUpgrade| async move {
                    ws.max_message_size(64 << 20)
                        .on_upgrade(move |socket| async move {
                            let _ = acceptor.accept_axum(socket, None);
                        })
                },
            ),
        )
        .with_state(acceptor);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening");
    axum::serve(listener, app).await?;
    Ok(())
}
