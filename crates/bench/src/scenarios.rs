//! The scenarios of shared/quality.md, each against a fresh server process. Latency is measured
//! from the writer's edit to the moment a reader has applied it (one clock: the load generator
//! runs every client), so it includes the server's persistence, its sync work and both hops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use automerge::transaction::Transactable;
use automerge::{ChangeHash, ReadDoc};
use futures_util::StreamExt;
use sync::codec::Message;
use tokio::sync::Semaphore;

use crate::client::{Peer, Replica, Shape, push, sync_until};
use crate::content;
use crate::targets::{Target, cpu_time, rss};

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub key: String,
    /// For ratios; `None` when the server did not get that far.
    pub value: Option<f64>,
    pub text: String,
}

impl Figure {
    pub fn num(key: &str, value: f64, text: String) -> Figure {
        Figure {
            key: key.to_owned(),
            value: Some(value),
            text,
        }
    }
    pub fn text(key: &str, text: String) -> Figure {
        Figure {
            key: key.to_owned(),
            value: None,
            text,
        }
    }
    fn ms(key: &str, d: Duration) -> Figure {
        let ms = d.as_secs_f64() * 1000.0;
        Figure::num(key, ms, format!("{ms:.1} ms"))
    }
    fn cpu(key: &str, d: Duration) -> Figure {
        let s = d.as_secs_f64();
        Figure::num(key, s, format!("{s:.2} s"))
    }
}

/// Server and load-generator CPU over a measured phase (and PostgreSQL's, for concordat-pg).
struct Cpu<'t> {
    target: &'t Target,
    pid: u32,
    server: Duration,
    me: Duration,
    database: Option<Duration>,
    at: Instant,
}

impl<'t> Cpu<'t> {
    fn start(t: &'t Target) -> Cpu<'t> {
        Cpu {
            target: t,
            pid: t.pid(),
            server: cpu_time(t.pid()),
            me: cpu_time(std::process::id()),
            database: t.database_cpu_time(),
            at: Instant::now(),
        }
    }
    fn figures(&self, scenario: &str, out: &mut Vec<Figure>) {
        cpu_figures(
            scenario,
            self.server_used(),
            cpu_time(std::process::id()).saturating_sub(self.me),
            self.at.elapsed(),
            out,
        );
        // On PostgreSQL the database's processes do part of the server's work.
        if let (Some(before), Some(now)) = (self.database, self.target.database_cpu_time()) {
            out.push(Figure::cpu(
                &format!("{scenario}: PostgreSQL CPU"),
                now.saturating_sub(before),
            ));
        }
    }
    fn server_used(&self) -> Duration {
        cpu_time(self.pid).saturating_sub(self.server)
    }
}

/// The server's and the load generator's CPU over a phase, and its wall time.
pub fn cpu_figures(
    scenario: &str,
    server: Duration,
    me: Duration,
    wall: Duration,
    out: &mut Vec<Figure>,
) {
    out.push(Figure::cpu(&format!("{scenario}: server CPU"), server));
    out.push(Figure::cpu(&format!("{scenario}: load generator CPU"), me));
    out.push(Figure::cpu(&format!("{scenario}: wall time"), wall));
}

/// When each edit was made, by sequence number.
struct Edits {
    base: u64,
    sent: Vec<OnceLock<Instant>>,
}

impl Edits {
    fn new(base: u64, count: u64) -> Arc<Edits> {
        Arc::new(Edits {
            base,
            sent: (0..count).map(|_| OnceLock::new()).collect(),
        })
    }
    fn mark(&self, seq: u64) {
        if let Some(slot) = self.sent.get((seq - self.base - 1) as usize) {
            let _ = slot.set(Instant::now());
        }
    }
    fn at(&self, seq: u64) -> Option<Instant> {
        let i = seq.checked_sub(self.base + 1)?;
        self.sent.get(i as usize)?.get().copied()
    }
    fn last(&self) -> u64 {
        self.base + self.sent.len() as u64
    }
}

/// Reads until it has seen the last edit (or the deadline), recording each edit's latency.
async fn reader(
    mut peer: Peer,
    mut r: Replica,
    edits: Arc<Edits>,
    deadline: Instant,
) -> (Latencies, Vec<ChangeHash>, Peer, Replica) {
    let mut lat = Latencies::default();
    let mut seen = r.seq().max(edits.base);
    while seen < edits.last() {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = match tokio::time::timeout(left, peer.recv()).await {
            Ok(Ok(Some(m))) => m,
            _ => break,
        };
        if let Message::Sync {
            data, document_id, ..
        } = msg
            && document_id == r.id
        {
            if r.receive(&data).is_err() {
                break;
            }
            let now = Instant::now();
            let arrived = r.arrived.unwrap_or(now);
            let n = r.seq();
            for s in seen + 1..=n {
                if let Some(t) = edits.at(s) {
                    lat.applied.push(now - t);
                    lat.arrived.push(arrived.saturating_duration_since(t));
                }
            }
            seen = seen.max(n);
            if push(&mut peer, &mut r, false).await.is_err() {
                break;
            }
        }
    }
    let heads = r.heads();
    (lat, heads, peer, r)
}

/// Makes `edits` edits at `period` intervals, answering the server meanwhile; returns its
/// final heads once the server holds them all (or at the deadline).
async fn writer(
    mut peer: Peer,
    mut r: Replica,
    edits: Arc<Edits>,
    period: Duration,
    start_after: Duration,
    deadline: Instant,
) -> Result<Vec<ChangeHash>> {
    tokio::time::sleep(start_after).await;
    let mut tick = tokio::time::interval(period);
    let mut n = edits.base;
    loop {
        if n >= edits.last() && r.server_has_all() {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        tokio::select! {
            _ = tick.tick(), if n < edits.last() => {
                n += 1;
                r.edit(n);
                edits.mark(n);
                push(&mut peer, &mut r, false).await?;
            }
            m = tokio::time::timeout(left, peer.recv()) => match m {
                Ok(Ok(Some(Message::Sync { data, document_id, .. }))) if document_id == r.id => {
                    r.receive(&data)?;
                    push(&mut peer, &mut r, false).await?;
                }
                Ok(Ok(Some(Message::Error { message, .. }))) => bail!("server error: {message}"),
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) => bail!("server closed the writer's connection"),
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            }
        }
    }
    let heads = r.heads();
    peer.close().await;
    Ok(heads)
}

/// Connects and brings a replica of `id` in step with the server: requests it (Concordat, or a
/// reader), or creates it by sync (a peer's writer: `create`).
async fn open(url: &str, id: &str, create: bool, deadline: Duration) -> Result<(Peer, Replica)> {
    let mut peer = Peer::connect(url).await?;
    let mut r = Replica::new(id);
    if create {
        r.edit(0);
        sync_until(&mut peer, &mut r, false, deadline, Replica::server_has_all).await?;
    } else {
        sync_until(&mut peer, &mut r, true, deadline, |r| {
            !r.heads().is_empty() && r.server_has_all()
        })
        .await?;
    }
    Ok((peer, r))
}

/// A reader that waits until it holds `heads`.
async fn open_reader(
    url: &str,
    id: &str,
    heads: &[ChangeHash],
    deadline: Duration,
) -> Result<(Peer, Replica)> {
    open_shaped(url, id, Shape::Plain, heads, deadline).await
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A reader's latencies, edit to the frame's arrival and edit to the reader holding it.
#[derive(Debug, Default)]
struct Latencies {
    arrived: Vec<Duration>,
    applied: Vec<Duration>,
}

fn latency_figures(scenario: &str, mut lat: Vec<Duration>, expected: usize, out: &mut Vec<Figure>) {
    lat.sort();
    out.push(Figure::ms(
        &format!("{scenario}: p50"),
        percentile(&lat, 0.5),
    ));
    out.push(Figure::ms(
        &format!("{scenario}: p99"),
        percentile(&lat, 0.99),
    ));
    out.push(Figure::ms(
        &format!("{scenario}: max"),
        lat.last().copied().unwrap_or_default(),
    ));
    let lost = expected.saturating_sub(lat.len());
    out.push(Figure::num(
        &format!("{scenario}: lost"),
        lost as f64,
        format!("{lost} of {expected}"),
    ));
}

/// Runs one writer and `readers` readers on one document already set up.
async fn fan_out(
    t: &Target,
    name: &str,
    writer_side: (Peer, Replica),
    reader_side: Vec<(Peer, Replica)>,
    edits: Arc<Edits>,
    rate: f64,
    out: &mut Vec<Figure>,
) -> Result<Vec<(Peer, Replica)>> {
    let count = edits.sent.len();
    let period = Duration::from_secs_f64(1.0 / rate);
    let deadline = Instant::now() + period * count as u32 + Duration::from_secs(15);
    let cpu = Cpu::start(t);
    let readers: Vec<_> = reader_side
        .into_iter()
        .map(|(p, r)| tokio::spawn(reader(p, r, edits.clone(), deadline)))
        .collect();
    let w = tokio::spawn(writer(
        writer_side.0,
        writer_side.1,
        edits.clone(),
        period,
        Duration::ZERO,
        deadline,
    ));
    let final_heads = w.await??;
    let mut lat = Vec::new();
    let mut arrived = Vec::new();
    let mut converged = 0;
    let n = readers.len();
    let mut kept = Vec::new();
    for h in readers {
        let (l, heads, p, r) = h.await?;
        lat.extend(l.applied);
        arrived.extend(l.arrived);
        if heads == final_heads {
            converged += 1;
        }
        kept.push((p, r));
    }
    cpu.figures(name, out);
    latency_figures(name, lat, count * n, out);
    arrived.sort();
    out.push(Figure::ms(
        &format!("{name}: p99 on arrival, before the reader applies it"),
        percentile(&arrived, 0.99),
    ));
    out.push(Figure::num(
        &format!("{name}: readers with the writer's heads"),
        converged as f64,
        format!("{converged} of {n}"),
    ));
    Ok(kept)
}

/// Fan-out: one writer, `readers` readers on one fresh document, `rate` edits/s.
pub async fn fanout(
    t: &Target,
    readers: usize,
    edits: u64,
    rate: f64,
    out: &mut Vec<Figure>,
) -> Result<()> {
    let id = t.new_documents(1).await?.remove(0);
    let urls = t.urls(readers + 1).await?;
    let w = open(&urls[0], &id, !t.server_creates(), Duration::from_secs(20)).await?;
    let heads = w.1.heads();
    let mut rs = Vec::new();
    for url in &urls[1..] {
        rs.push(open_reader(url, &id, &heads, Duration::from_secs(20)).await?);
    }
    let name = format!("fan-out ({readers} readers, {rate}/s)");
    let kept = fan_out(t, &name, w, rs, Edits::new(0, edits), rate, out).await?;
    for (p, _) in kept {
        p.close().await;
    }
    Ok(())
}

/// Several nodes on one PostgreSQL (Concordat only: the peers have no such mode): the fan-out
/// scenario with the writer and the readers on node `a`, then with the writer on `a` and the
/// readers on `b`, so every edit crosses from one process to the other through the database
/// (commit, NOTIFY, read back, sync). Server CPU is the readers' node's.
pub async fn nodes(
    a: &Target,
    b: &Target,
    readers: usize,
    edits: u64,
    rate: f64,
    out: &mut Vec<Figure>,
) -> Result<()> {
    for (label, readers_on) in [("one node", a), ("writer on A, readers on B", b)] {
        let id = a.new_documents(1).await?.remove(0);
        let w = open(&a.url().await?, &id, false, Duration::from_secs(20)).await?;
        let heads = w.1.heads();
        let mut rs = Vec::new();
        for url in readers_on.urls(readers).await? {
            rs.push(open_reader(&url, &id, &heads, Duration::from_secs(20)).await?);
        }
        let name = format!("PostgreSQL fan-out, {label} ({readers} readers, {rate}/s)");
        let kept = fan_out(readers_on, &name, w, rs, Edits::new(0, edits), rate, out).await?;
        for (p, _) in kept {
            p.close().await;
        }
    }
    Ok(())
}

/// Many documents: `docs` × (one writer + one reader), each writer at 1 edit/s for `secs`.
pub async fn many_docs(t: &Target, docs: usize, secs: u64, out: &mut Vec<Figure>) -> Result<()> {
    let name = format!("many docs ({docs} × writer+reader, 1/s each)");
    let ids = t.new_documents(docs).await?;
    let urls = t.urls(docs * 2).await?;
    // Setup (not timed): bounded concurrency, and a deadline a stalled server cannot outlast.
    let setup_deadline = Instant::now() + Duration::from_secs(120);
    let gate = Arc::new(Semaphore::new(64));
    let ready = Arc::new(AtomicUsize::new(0));
    let create = !t.server_creates();
    let mut pairs = futures_util::stream::FuturesUnordered::new();
    for (i, id) in ids.iter().enumerate() {
        let (id, wu, ru) = (id.clone(), urls[2 * i].clone(), urls[2 * i + 1].clone());
        let (gate, ready) = (gate.clone(), ready.clone());
        pairs.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let w = open(&wu, &id, create, Duration::from_secs(60)).await?;
            let heads = w.1.heads();
            let r = open_reader(&ru, &id, &heads, Duration::from_secs(60)).await?;
            ready.fetch_add(1, Ordering::Relaxed);
            anyhow::Ok((w, r))
        }));
    }
    let mut set = Vec::new();
    loop {
        let left = setup_deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, pairs.next()).await {
            Ok(Some(Ok(Ok(pair)))) => set.push(pair),
            Ok(Some(Ok(Err(e)))) => {
                out.push(Figure::text(
                    &format!("{name}: setup"),
                    format!("failed after {} of {docs} pairs: {e:#}", set.len()),
                ));
                return Ok(());
            }
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => break,
            Err(_) => {
                out.push(Figure::text(
                    &format!("{name}: setup"),
                    format!(
                        "stalled: {} of {docs} pairs ready after 120 s",
                        ready.load(Ordering::Relaxed)
                    ),
                ));
                return Ok(());
            }
        }
    }
    drop(pairs);
    let period = Duration::from_secs(1);
    let deadline = Instant::now() + Duration::from_secs(secs + 15);
    let cpu = Cpu::start(t);
    let started = Instant::now();
    let mut handles = Vec::new();
    for (k, ((wp, wr), (rp, rr))) in set.into_iter().enumerate() {
        let edits = Edits::new(0, secs);
        // Spread the writers over the first second.
        let offset = Duration::from_micros((k as u64 * 1_000_000) / docs as u64);
        let w = tokio::spawn(writer(wp, wr, edits.clone(), period, offset, deadline));
        let r = tokio::spawn(reader(rp, rr, edits, deadline));
        handles.push((w, r));
    }
    let mut lat = Vec::new();
    let mut arrived = Vec::new();
    for (w, r) in handles {
        let _ = w.await?;
        let (l, _, p, _) = r.await?;
        lat.extend(l.applied);
        arrived.extend(l.arrived);
        p.close().await;
    }
    // The delivered rate is over the edit phase plus the time the last reader took to finish.
    let delivered = lat.len();
    let window = started.elapsed().as_secs_f64();
    cpu.figures(&name, out);
    let per_edit = cpu.server_used().as_secs_f64() * 1000.0 / delivered.max(1) as f64;
    out.push(Figure::num(
        &format!("{name}: server CPU per edit delivered"),
        per_edit,
        format!("{per_edit:.3} ms"),
    ));
    let rate = delivered as f64 / window.max(secs as f64);
    out.push(Figure::num(
        &format!("{name}: delivered per second"),
        rate,
        format!("{rate:.0}/s"),
    ));
    latency_figures(&name, lat, docs * secs as usize, out);
    arrived.sort();
    out.push(Figure::ms(
        &format!("{name}: p99 on arrival, before the reader applies it"),
        percentile(&arrived, 0.99),
    ));
    Ok(())
}

/// How long the idle scenario's connections stay quiet before memory is measured again.
const QUIET: Duration = Duration::from_secs(5);

/// What the idle scenario's Concordat is started with: quiet documents let go after 2 s.
pub const IDLE_ENV: &[(&str, &str)] = &[("CONCORDAT_SYNC_HIBERNATE_AFTER_SECS", "2")];

/// Idle connections: `n` connections, each on its own small document; time to connect them all
/// and the server's resident memory per connection, then again after they have been quiet.
pub async fn idle(t: &Target, n: usize, deadline: Duration, out: &mut Vec<Figure>) -> Result<()> {
    let name = format!("idle ({n} connections, own doc each)");
    let ids = t.new_documents(n).await?;
    let urls = t.urls(n).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = rss(t.pid());
    let cpu = Cpu::start(t);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let ready = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let create = !t.server_creates();
    let mut tasks = Vec::with_capacity(n);
    for (id, url) in ids.into_iter().zip(urls) {
        let (gate, ready, failed, mut stop) =
            (gate.clone(), ready.clone(), failed.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            match open(&url, &id, create, deadline).await {
                Ok((mut peer, _r)) => {
                    drop(permit);
                    ready.fetch_add(1, Ordering::Relaxed);
                    // Stay connected, answering pings, until told to stop.
                    loop {
                        tokio::select! {
                            _ = stop.changed() => break,
                            m = peer.recv() => if !matches!(m, Ok(Some(_))) { break },
                        }
                    }
                    peer.close().await;
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let end = started + deadline;
    while ready.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < n && Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let connected = ready.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = rss(t.pid());
    cpu.figures(&name, out);
    out.push(Figure::num(
        &format!("{name}: connected"),
        connected as f64,
        format!(
            "{connected} of {n}{}",
            if connected < n {
                format!(" ({} failed)", failed.load(Ordering::Relaxed))
            } else {
                String::new()
            }
        ),
    ));
    if connected == n {
        out.push(Figure::ms(&format!("{name}: time to connect all"), took));
    } else {
        out.push(Figure::text(
            &format!("{name}: time to connect all"),
            format!("not all within {:.0} s", deadline.as_secs_f64()),
        ));
    }
    let per = rss1.saturating_sub(rss0) as f64 / connected.max(1) as f64 / 1024.0;
    out.push(Figure::num(
        &format!("{name}: server memory per connection"),
        per,
        format!("{per:.1} KB"),
    ));
    // Everyone stays connected and quiet: a server that lets go of quiet documents (Concordat
    // is started with CONCORDAT_SYNC_HIBERNATE_AFTER_SECS=2 here) holds less.
    tokio::time::sleep(QUIET).await;
    let per = rss(t.pid()).saturating_sub(rss0) as f64 / connected.max(1) as f64 / 1024.0;
    out.push(Figure::num(
        &format!(
            "{name}: server memory per connection, {} s later",
            QUIET.as_secs()
        ),
        per,
        format!("{per:.1} KB"),
    ));
    let _ = stop_tx.send(true);
    // Connected tasks close on the signal; ones still waiting on a stalled server are dropped.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for task in &tasks {
        task.abort();
    }
    Ok(())
}

/// A document with `changes` changes of history: cold joins, 100 readers joining at once, and
/// fan-out to 10 readers while it keeps growing.
pub async fn history(
    t: &Target,
    changes: u64,
    joiners: usize,
    edits: u64,
    out: &mut Vec<Figure>,
) -> Result<()> {
    let id = t.new_documents(1).await?.remove(0);
    // Upload the history (not timed).
    let url = t.url().await?;
    let (mut up, mut r) = open(&url, &id, !t.server_creates(), Duration::from_secs(30)).await?;
    let base = r.seq();
    for i in 1..=changes {
        r.edit(base + i);
    }
    upload(&mut up, &mut r)
        .await
        .context("uploading the history")?;
    let expected = r.heads();
    let last_seq = r.seq();
    up.close().await;
    drop(r);

    // Cold join, five times, each after the document was unloaded.
    let name = format!("cold join ({changes} changes)");
    let mut times = Vec::new();
    let mut arrivals = Vec::new();
    let cpu = Cpu::start(t);
    for _ in 0..5 {
        t.let_unload().await;
        let url = t.url().await?;
        let mut peer = Peer::connect(&url).await?;
        let mut r = Replica::new(&id);
        let began = Instant::now();
        sync_until(&mut peer, &mut r, true, Duration::from_secs(60), |r| {
            r.heads() == expected
        })
        .await?;
        times.push(began.elapsed());
        arrivals.push(r.arrived.map_or(Duration::ZERO, |a| a - began));
        peer.close().await;
    }
    cpu.figures(&name, out);
    times.sort();
    arrivals.sort();
    out.push(Figure::ms(&format!("{name}: median of 5"), times[2]));
    out.push(Figure::ms(&format!("{name}: worst of 5"), times[4]));
    out.push(Figure::ms(
        &format!("{name}: median of 5, until its last frame arrived"),
        arrivals[2],
    ));

    // Many readers joining at once (connections open first; the document cold).
    let name = format!("{joiners} readers join ({changes} changes)");
    let urls = t.urls(joiners).await?;
    let mut peers = Vec::new();
    for url in &urls {
        peers.push(Peer::connect(url).await?);
    }
    t.let_unload().await;
    let cpu = Cpu::start(t);
    let began = Instant::now();
    let mut tasks = Vec::new();
    for mut peer in peers {
        let (id, expected) = (id.clone(), expected.clone());
        tasks.push(tokio::spawn(async move {
            let mut r = Replica::new(&id);
            sync_until(&mut peer, &mut r, true, Duration::from_secs(120), |r| {
                r.heads() == expected
            })
            .await?;
            anyhow::Ok((peer, r))
        }));
    }
    let mut joined = Vec::new();
    let mut failures = 0;
    for task in tasks {
        match task.await? {
            Ok(pr) => joined.push(pr),
            Err(_) => failures += 1,
        }
    }
    let took = began.elapsed();
    let last_arrival = joined
        .iter()
        .filter_map(|(_, r): &(Peer, Replica)| r.arrived)
        .max()
        .map_or(Duration::ZERO, |a| a - began);
    cpu.figures(&name, out);
    if failures == 0 {
        out.push(Figure::ms(&format!("{name}: time until all have it"), took));
        out.push(Figure::ms(
            &format!("{name}: time until its last frame reached every reader"),
            last_arrival,
        ));
    } else {
        out.push(Figure::text(
            &format!("{name}: time until all have it"),
            format!("{failures} of {joiners} failed"),
        ));
    }

    // Fan-out on the long document to 10 of them.
    let readers: Vec<_> = joined.drain(..joined.len().min(10)).collect();
    for (p, _) in joined {
        p.close().await;
    }
    let url = t.url().await?;
    let w = open_reader(&url, &id, &expected, Duration::from_secs(60)).await?;
    let name = format!(
        "fan-out on {changes}-change doc ({} readers, 10/s)",
        readers.len()
    );
    let kept = fan_out(t, &name, w, readers, Edits::new(last_seq, edits), 10.0, out).await?;
    for (p, _) in kept {
        p.close().await;
    }
    Ok(())
}

/// How large a document the `register` and `sla` scenarios build.
#[derive(Debug, Clone, Copy)]
pub struct Large {
    /// Risks, or KPIs.
    pub items: u64,
    /// Assessments, or measurements.
    pub records: u64,
    /// Changes of history in all (a register's rest are people typing into its risks' controls).
    pub changes: u64,
}

/// Fan-out on a large, realistic document (quality.md: "validation cost follows the change,
/// not the document"): a risk register of `items` risks and `records` assessments built in
/// `size.changes` changes, or an SLA of `items` KPIs with `records` monthly measurements. Each
/// edit records an assessment (measurement) and touches a second item; 10 readers, 10 edits/s.
pub async fn large(
    t: &Target,
    shape: Shape,
    size: Large,
    readers: usize,
    edits: u64,
    out: &mut Vec<Figure>,
) -> Result<()> {
    let (kind, what) = match shape {
        Shape::Register => ("risk-register", "register"),
        Shape::Sla => ("sla", "SLA"),
        Shape::Plain => bail!("the large scenario needs a register or an SLA"),
    };
    let id = t.new_documents_of(1, kind).await?.remove(0);
    let mut up = Peer::connect(&t.url().await?).await?;
    let mut r = Replica::shaped(&id, shape);
    if t.server_creates() {
        // The server's new document first: its lists, the register's matrix.
        sync_until(&mut up, &mut r, true, Duration::from_secs(30), |r| {
            !r.heads().is_empty() && r.server_has_all()
        })
        .await?;
    }
    // Build and upload the history in batches (not timed).
    let began = Instant::now();
    let (list, record_list) = match shape {
        Shape::Register => ("risks", "assessments"),
        _ => ("kpis", "measurements"),
    };
    let items = r.list(list);
    let records = r.list(record_list);
    let mut made = 0u64;
    let typing = size.changes.saturating_sub(size.items + size.records);
    let rest = size.records + typing;
    let mut recorded = 0u64;
    let mut step = 0u64;
    while made < size.items + rest {
        let batch_end = (made + 2_000).min(size.items + rest);
        while made < batch_end {
            let mut tx = r.doc.transaction();
            if made < size.items {
                let n = made;
                let end = tx.length(&items);
                let v = match shape {
                    Shape::Register => content::risk(&format!("risk-{n}"), n),
                    _ => content::kpi(&format!("kpi-{n}"), n),
                };
                content::insert(&mut tx, &items, end, &v);
            } else {
                // Records spread evenly through the typing.
                let due = (step + 1) * size.records / rest.max(1);
                step += 1;
                if due > recorded {
                    let n = recorded;
                    recorded += 1;
                    let end = tx.length(&records);
                    let v = match shape {
                        Shape::Register => content::assessment(
                            &format!("a-{n}"),
                            &format!("risk-{}", n % size.items),
                            n,
                        ),
                        _ => {
                            let month = n / size.items;
                            content::measurement(
                                &format!("m-{n}"),
                                &format!("kpi-{}", n % size.items),
                                &format!("{}-{:02}", 2021 + month / 12, month % 12 + 1),
                            )
                        }
                    };
                    content::insert(&mut tx, &records, end, &v);
                } else {
                    // Someone typing a few words into a risk's controls.
                    let k = step % size.items.max(1);
                    if let Ok(Some((_, risk))) = tx.get(&items, k as usize)
                        && let Ok(Some((_, text))) = tx.get(&risk, "controls")
                    {
                        let at = tx.length(&text);
                        tx.splice_text(&text, at, 0, " Reviewed.")?;
                    }
                }
            }
            tx.commit();
            made += 1;
        }
        upload(&mut up, &mut r)
            .await
            .with_context(|| format!("uploading the {what} ({made} changes so far)"))?;
    }
    let expected = r.heads();
    let last_seq = r.seq();
    up.close().await;
    drop(r);
    out.push(Figure::ms(
        &format!(
            "{what} ({} + {}, {} changes): built and uploaded",
            size.items, size.records, size.changes
        ),
        began.elapsed(),
    ));

    let urls = t.urls(readers + 1).await?;
    let mut rs = Vec::new();
    for url in &urls[1..] {
        rs.push(open_shaped(url, &id, shape, &expected, Duration::from_secs(120)).await?);
    }
    let w = open_shaped(&urls[0], &id, shape, &expected, Duration::from_secs(120)).await?;
    let name = format!(
        "fan-out on a {what} of {} + {} ({readers} readers, 10/s)",
        size.items, size.records
    );
    let kept = fan_out(t, &name, w, rs, Edits::new(last_seq, edits), 10.0, out).await?;
    for (p, _) in kept {
        p.close().await;
    }
    Ok(())
}

/// Sends the server everything the replica holds (not timed: up to 5 minutes).
async fn upload(peer: &mut Peer, r: &mut Replica) -> Result<()> {
    sync_until(
        peer,
        r,
        false,
        Duration::from_secs(300),
        Replica::server_has_all,
    )
    .await
}

/// A reader of a shaped document that waits until it holds `heads`.
async fn open_shaped(
    url: &str,
    id: &str,
    shape: Shape,
    heads: &[ChangeHash],
    deadline: Duration,
) -> Result<(Peer, Replica)> {
    let mut peer = Peer::connect(url).await?;
    let mut r = Replica::shaped(id, shape);
    sync_until(&mut peer, &mut r, true, deadline, |r| r.heads() == heads).await?;
    Ok((peer, r))
}
