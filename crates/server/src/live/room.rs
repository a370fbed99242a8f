//! One task per loaded document: loads it, drives its `sync::Room`, performs the effects.
//!
//! Group commit falls out of the loop: while a batch is being written, new input waits in the
//! channel; before writing, everything already waiting is handed to the room (which queues
//! sync input while a batch is in flight), so the next batch holds all of it. Across
//! documents, the batches of all rooms share transactions in the committer (`commit`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use automerge::{ActorId, Automerge, Change, ChangeHash};
use domain::DocumentId;
use store::System;
use sync::codec::{self, Message};
use sync::{ConnId, Effect, Input, Room};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::conn::ConnSender;
use super::{Hub, RoomMsg};

pub async fn run(hub: Arc<Hub>, id: DocumentId, generation: u64, mut rx: mpsc::Receiver<RoomMsg>) {
    // Set-up runs in its own (boxed) future and the room lives on the heap: an idle room's
    // task then holds little more than its channel (a room waits far more than it works).
    let Some((mut room, mut task)) = Box::pin(open(&hub, id)).await else {
        Box::pin(refuse_all(&hub, id, generation, rx)).await;
        return;
    };
    let unload_after = hub.limits.unload_after;
    let mut closing = hub.closing();
    loop {
        let idle = room.peer_count() == 0 && room.is_settled();
        let grace = if *closing.borrow_and_update() {
            Duration::ZERO
        } else {
            unload_after
        };
        let msg = if idle {
            let next = tokio::select! {
                m = rx.recv() => Ok(m),
                _ = tokio::time::sleep(grace) => Err(()),
                _ = closing.changed() => continue,
            };
            match next {
                Ok(m) => m,
                Err(_) => {
                    // Compact while this task still owns the document, then let go unless
                    // someone arrived meanwhile.
                    Box::pin(task.compact(&room)).await;
                    if hub.remove_room_if(id, generation, &rx) {
                        return;
                    }
                    continue;
                }
            }
        } else {
            let hibernate_after = hub.limits.hibernate_after;
            if task.snapshot_bytes + task.incremental_bytes >= PREPARE_BYTES
                && room.needs_preparing()
            {
                // A quiet moment with someone here: let the schema check learn a large
                // document now (on a register of thousands of assessments ~0.1 s, once per
                // load) rather than on the first person's edit. A small one costs its first
                // edit little, and a room nobody edits keeps no index (idle memory). Quiet
                // for a moment first: a joining peer's request follows its join, and must
                // not wait behind this.
                tokio::select! {
                    m = rx.recv() => m,
                    _ = tokio::time::sleep(PREPARE_QUIET) => {
                        room.prepare();
                        continue;
                    }
                }
            } else if hibernate_after.is_zero() || room.is_asleep() || !room.is_settled() {
                rx.recv().await
            } else {
                tokio::select! {
                    m = rx.recv() => m,
                    _ = tokio::time::sleep(hibernate_after) => {
                        // Quiet with peers connected: keep them, let go of the document.
                        Box::pin(task.compact(&room)).await;
                        if room.hibernate() {
                            crate::metrics::hibernation(true);
                        }
                        continue;
                    }
                }
            }
        };
        let Some(msg) = msg else {
            Box::pin(task.compact(&room)).await;
            return;
        };
        let effects = task.accept(&mut room, msg);
        Box::pin(task.perform(&mut room, &mut rx, effects)).await;
        if task.behind() {
            let effects = Box::pin(task.catch_up(&mut room)).await;
            Box::pin(task.perform(&mut room, &mut rx, effects)).await;
        }
        if task.unloadable {
            // Woken and the document could not be read back: its peers were closed (they
            // reconnect and load it afresh); whoever else waits is told.
            Box::pin(refuse_all(&hub, id, generation, rx)).await;
            return;
        }
    }
}

/// Loads the document (upgrading an old schema) and builds its room; `None` if it cannot be
/// opened (logged).
async fn open(hub: &Arc<Hub>, id: DocumentId) -> Option<(Box<Room>, RoomTask)> {
    let started = std::time::Instant::now();
    let content = match hub.store.load_content(System::SYNC, id).await {
        Ok(Some(content)) => content,
        Ok(None) => {
            tracing::error!(document = %id, "document could not be loaded: no such document");
            return None;
        }
        Err(e) => {
            tracing::error!(document = %id, reason = %e, "document could not be loaded");
            return None;
        }
    };
    let read_took = started.elapsed();
    let mut read = content.last_seq();
    let actors: Vec<(ActorId, sync::room::UserKey)> = content
        .actors
        .iter()
        .map(|(a, u)| (ActorId::from(a.as_slice()), super::user_key(*u)))
        .collect();
    // Stored as one snapshot of the current schema: not loaded until something needs it (a
    // peer that has nothing is sent the snapshot as it is; one that reads only, nothing more).
    let sole = content
        .kind
        .and(content.sole_snapshot(domain::documents::SCHEMA_VERSION as i64))
        .and_then(|bytes| Some((sync::chunks::document_heads(bytes)?, bytes)));
    let snapshot_current = sole.is_some();
    let mut room = if let Some((heads, bytes)) = sole {
        tracing::debug!(
            document = %id,
            bytes = bytes.len(),
            read_ms = read_took.as_secs_f64() * 1e3,
            "document opened from its snapshot, not loaded"
        );
        crate::metrics::room_opened(true);
        Room::asleep(
            hub.peer_id.clone(),
            id.to_string(),
            heads,
            bytes.to_vec(),
            actors,
        )
    } else {
        let doc = match load_document(&content) {
            Ok(doc) => doc,
            Err(reason) => {
                tracing::error!(document = %id, %reason, "document could not be loaded");
                return None;
            }
        };
        tracing::debug!(
            document = %id,
            chunks = content.chunks.len(),
            bytes = content.snapshot_bytes() + content.incremental_bytes(),
            read_ms = read_took.as_secs_f64() * 1e3,
            load_ms = (started.elapsed() - read_took).as_secs_f64() * 1e3,
            "document loaded"
        );
        crate::metrics::room_opened(false);
        // A document an older version wrote is brought up to the current schema first, as a
        // change by the server's actor, stored before anyone syncs it.
        let doc = match content.kind {
            Some(kind) if domain::schema::version(&doc) < domain::documents::SCHEMA_VERSION => {
                match upgrade(hub, id, kind, doc).await {
                    Ok((doc, seq)) => {
                        if seq == Some(read + 1) {
                            read += 1;
                        }
                        doc
                    }
                    Err(reason) => {
                        tracing::error!(document = %id, %reason, "document could not be upgraded");
                        return None;
                    }
                }
            }
            _ => doc,
        };
        Room::new(hub.peer_id.clone(), id.to_string(), doc, actors)
    };
    if let Some(kind) = content.kind {
        let mut checker = domain::documents::incremental::Checker::new(kind, hub.limits.document);
        room = room
            .with_root_keys(root_keys(kind))
            .with_max_ops(hub.limits.max_change_ops)
            .with_reserved(
                domain::documents::server_written(kind)
                    .iter()
                    .map(|k| (*k).to_owned()),
            )
            .with_validator(Box::new(
                move |doc: &Automerge, before: &[ChangeHash], fresh: &[Change]| {
                    let whole = checker.counts().whole;
                    let verdict = checker.check_changes(doc, before, fresh);
                    crate::metrics::validated(checker.counts().whole > whole);
                    verdict.map_err(|problems| {
                        problems
                            .iter()
                            .take(3)
                            .map(|p| {
                                if p.path.is_empty() {
                                    p.message.clone()
                                } else {
                                    format!("{}: {}", p.path, p.message)
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                },
            ));
    }
    let task = RoomTask {
        hub: hub.clone(),
        id,
        conns: HashMap::new(),
        replies: HashMap::new(),
        next_request: 1,
        incremental_bytes: content.incremental_bytes(),
        snapshot_bytes: content.snapshot_bytes(),
        snapshot_current,
        read,
        heard: None,
        unloadable: false,
    };
    // The stored bytes are in the document now; holding them for the room's life would
    // double its memory.
    drop(content);
    Some((Box::new(room), task))
}

/// The top-level keys a document of this kind may have, computed once per kind.
fn root_keys(kind: domain::DocumentKind) -> Arc<[String]> {
    static KEYS: std::sync::LazyLock<HashMap<domain::DocumentKind, Arc<[String]>>> =
        std::sync::LazyLock::new(|| {
            domain::DocumentKind::ALL
                .iter()
                .map(|k| (*k, domain::documents::root_keys(*k).into()))
                .collect()
        });
    KEYS.get(&kind)
        .cloned()
        .unwrap_or_else(|| domain::documents::root_keys(kind).into())
}

/// Stored size from which a room prepares its schema check before the first edit
/// ([`Room::prepare`]). A new register is ~3 KB saved, and its first whole-document check
/// well under a millisecond; an SLA of 40 KPIs × 60 months is ~33 KB (~30 ms), a register of
/// 5 000 assessments ~100 KB (~90 ms).
const PREPARE_BYTES: usize = 16 * 1024;

/// How long a room with peers must be quiet before it prepares its schema check.
const PREPARE_QUIET: Duration = Duration::from_millis(50);

/// Reads the document's stored content and loads it.
async fn load(hub: &Hub, id: DocumentId) -> Result<(Automerge, store::Content), String> {
    match hub.store.load_content(System::SYNC, id).await {
        Ok(Some(content)) => load_document(&content).map(|doc| (doc, content)),
        Ok(None) => Err("no such document".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// The document stored content holds.
fn load_document(content: &store::Content) -> Result<Automerge, String> {
    sync::stored::load(content.chunks.iter().map(|c| sync::stored::Stored {
        seq: c.seq,
        snapshot: c.snapshot,
        data: &c.data,
    }))
    .map_err(|e| e.to_string())
}

/// Tells whoever is waiting that the document cannot be opened, then goes; a later join tries
/// again.
async fn refuse_all(hub: &Hub, id: DocumentId, generation: u64, mut rx: mpsc::Receiver<RoomMsg>) {
    rx.close();
    while let Some(msg) = rx.recv().await {
        let why = format!("document {id} cannot be loaded; the administrators have been told");
        match msg {
            RoomMsg::Join { input, out } => {
                if let Input::Join { peer_id, .. } = *input {
                    out.send(codec::encode(&Message::Error {
                        sender_id: hub.peer_id.clone(),
                        target_id: Some(peer_id),
                        message: why,
                    }));
                }
            }
            RoomMsg::Apply(apply) => {
                let _ = apply.reply.send(Err(super::ApplyError::Unavailable));
            }
            _ => {}
        }
    }
    hub.remove_room_if(id, generation, &rx);
}

/// Upgrades the document's schema as a change by the server's actor and stores that change
/// (with the sequence number it was stored under).
async fn upgrade(
    hub: &Hub,
    id: DocumentId,
    kind: domain::DocumentKind,
    doc: Automerge,
) -> Result<(Automerge, Option<i64>), String> {
    let heads = doc.get_heads();
    let mut working = automerge::AutoCommit::load(&doc.save())
        .map_err(|e| e.to_string())?
        .with_actor(ActorId::from(domain::schema::SERVER_ACTOR));
    // Deterministic: another node upgrading it at the same moment makes the identical change.
    if !domain::schema::upgrade_deterministically(&mut working, kind).map_err(|e| e.to_string())? {
        return Ok((doc, None));
    }
    let upgraded = working.document().clone();
    let data: Vec<u8> = upgraded
        .get_changes(&heads)
        .iter()
        .flat_map(|c| c.raw_bytes().to_vec())
        .collect();
    let stored = hub
        .committer()
        .append(store::Append {
            id,
            data,
            actors: Vec::new(),
        })
        .await;
    let Some(seq) = stored else {
        return Err("storing the schema upgrade failed".into());
    };
    tracing::info!(document = %id, "document upgraded to the current schema");
    Ok((upgraded, Some(seq)))
}

struct RoomTask {
    hub: Arc<Hub>,
    id: DocumentId,
    conns: HashMap<ConnId, ConnSender>,
    /// Who waits for each `Apply` request's outcome.
    replies: HashMap<u64, tokio::sync::oneshot::Sender<Result<(), super::ApplyError>>>,
    next_request: u64,
    incremental_bytes: usize,
    snapshot_bytes: usize,
    /// Storage holds one snapshot of the current schema (from which the next cold join is
    /// answered without a load), as long as nothing is stored after it.
    snapshot_current: bool,
    /// The stored chunks this room holds: every one up to this sequence number.
    read: i64,
    /// The highest sequence number another node is known to have stored (and when it was
    /// committed), if beyond `read`; or `Some((i64::MAX, _))` when notices may have been missed.
    heard: Option<(i64, Option<domain::Millis>)>,
    /// A hibernating room's document could not be loaded back: the room gives up.
    unloadable: bool,
}

impl RoomTask {
    /// A room born asleep wakes from the snapshot it holds when storage has nothing newer
    /// (no other node has announced a chunk since): no read, which under load competes with
    /// the committer for connections (on PostgreSQL, a thousand rooms waking at once held
    /// commits back ~0.4 s).
    fn wake_from_held(&self, room: &Room) -> Option<Result<(Automerge, store::Content), String>> {
        if self.behind() {
            return None;
        }
        let bytes = room.held_snapshot()?;
        let content = store::Content {
            kind: None,
            chunks: vec![store::Chunk {
                seq: self.read,
                snapshot: true,
                data: bytes.to_vec(),
                schema_version: Some(domain::documents::SCHEMA_VERSION as i64),
            }],
            actors: Vec::new(),
        };
        Some(load_document(&content).map(|doc| (doc, content)))
    }

    /// Whether another node has stored chunks this room has not read.
    fn behind(&self) -> bool {
        self.heard.is_some_and(|(seq, _)| seq > self.read)
    }

    fn hear(&mut self, seq: i64, at: Option<domain::Millis>) {
        if seq > self.read && self.heard.is_none_or(|(s, _)| seq > s) {
            self.heard = Some((seq, at.or(self.heard.and_then(|(_, a)| a))));
        }
    }

    /// Reads what other nodes stored since `read` and hands it to the room, which syncs this
    /// node's peers with it (the effects returned). On a failed read, stays behind: the next
    /// notice (or the next own commit) tries again.
    async fn catch_up(&mut self, room: &mut Room) -> Vec<Effect> {
        let Some((_, at)) = self.heard else {
            return Vec::new();
        };
        let mut content = match self
            .hub
            .store
            .load_after(System::SYNC, self.id, self.read)
            .await
        {
            Ok(Some(content)) => content,
            Ok(None) => {
                self.heard = None;
                return Vec::new();
            }
            Err(e) => {
                tracing::error!(document = %self.id, error = %e, "reading another node's changes failed");
                return Vec::new();
            }
        };
        content.skip_covered(self.read);
        let last = content.last_seq().max(self.read);
        self.heard = None;
        if content.chunks.is_empty() {
            self.read = last;
            return Vec::new();
        }
        for c in &content.chunks {
            if c.snapshot {
                self.snapshot_bytes = c.data.len();
                self.incremental_bytes = 0;
            } else {
                self.incremental_bytes += c.data.len();
            }
        }
        let actors = content
            .actors
            .iter()
            .map(|(a, u)| (ActorId::from(a.as_slice()), super::user_key(*u)))
            .collect();
        tracing::debug!(document = %self.id, from = self.read, to = last, chunks = content.chunks.len(), "read another node's changes");
        let changes = content.chunks.into_iter().map(|c| c.data).collect();
        self.read = last;
        if let Some(at) = at {
            crate::metrics::relayed(store::now_millis().saturating_sub(at));
        }
        room.handle(Input::Stored { changes, actors })
    }

    fn accept(&mut self, room: &mut Room, msg: RoomMsg) -> Vec<Effect> {
        match msg {
            RoomMsg::Join { input, out } => {
                if let Input::Join { conn, .. } = &*input {
                    self.conns.insert(*conn, out);
                }
                room.handle(*input)
            }
            RoomMsg::Input(input) => {
                if let Input::Leave { conn } = &*input {
                    self.conns.remove(conn);
                }
                room.handle(*input)
            }
            RoomMsg::CatchUp(heard) => {
                let (seq, at) = *heard;
                self.hear(seq.unwrap_or(i64::MAX), at);
                Vec::new()
            }
            RoomMsg::Apply(apply) => {
                let super::Apply {
                    user,
                    changes,
                    reply,
                } = *apply;
                if reply.is_closed() {
                    // The request ended (timed out, client gone) before its turn: apply
                    // nothing it can no longer be told about.
                    tracing::info!(document = %self.id, "server-side change dropped: its request ended");
                    return Vec::new();
                }
                let request = self.next_request;
                self.next_request += 1;
                self.replies.insert(request, reply);
                room.handle(Input::Apply {
                    request,
                    user: super::user_key(user),
                    changes,
                })
            }
        }
    }

    async fn perform(
        &mut self,
        room: &mut Room,
        rx: &mut mpsc::Receiver<RoomMsg>,
        effects: Vec<Effect>,
    ) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Send { conn, msg } => {
                    if let Some(out) = self.conns.get(&conn) {
                        out.send(codec::encode(&msg));
                    }
                }
                Effect::Close { conn, reason } => {
                    if let Some(out) = self.conns.remove(&conn) {
                        out.close(&reason);
                    }
                }
                Effect::Unreadable { reason } => {
                    tracing::error!(document = %self.id, %reason, "a stored chunk could not be read");
                }
                Effect::Wake => {
                    let loaded = match self.wake_from_held(room) {
                        Some(held) => held,
                        None => load(&self.hub, self.id).await,
                    };
                    match loaded {
                        Ok((doc, content)) => {
                            crate::metrics::hibernation(false);
                            self.read = self.read.max(content.last_seq());
                            self.snapshot_bytes = content.snapshot_bytes();
                            self.snapshot_current = content
                                .sole_snapshot(domain::documents::SCHEMA_VERSION as i64)
                                .is_some();
                            self.incremental_bytes = content.incremental_bytes();
                            queue.extend(room.wake(doc));
                        }
                        Err(reason) => {
                            tracing::error!(document = %self.id, %reason, "a hibernating document could not be loaded back");
                            for (_, out) in self.conns.drain() {
                                out.close(&sync::Refusal::StorageUnavailable);
                            }
                            for (_, reply) in self.replies.drain() {
                                let _ = reply.send(Err(super::ApplyError::Unavailable));
                            }
                            self.unloadable = true;
                            return;
                        }
                    }
                }
                Effect::Applied { request, result } => {
                    if let Some(reply) = self.replies.remove(&request) {
                        if let Err(refusal) = &result {
                            crate::metrics::refused(refusal, "api");
                        }
                        let _ = reply.send(result.map_err(super::ApplyError::Refused));
                    }
                }
                Effect::Persist {
                    batch,
                    changes,
                    actors,
                } => {
                    // Everything already waiting joins the next batch.
                    while let Ok(msg) = rx.try_recv() {
                        queue.extend(self.accept(room, msg));
                    }
                    let actors: Vec<(Vec<u8>, Uuid)> = actors
                        .into_iter()
                        .map(|(a, u)| (a.to_bytes().to_vec(), Uuid::from_bytes(u)))
                        .collect();
                    let bytes = changes.len();
                    let stored = self
                        .hub
                        .committer()
                        .append(store::Append {
                            id: self.id,
                            data: changes,
                            actors,
                        })
                        .await;
                    let ok = stored.is_some();
                    if !ok && self.hub.store.cluster().is_some() {
                        // Perhaps this node is behind: a client that came from another node
                        // passed on a change this room had not read yet, and the room took its
                        // author for the client (the database refused that binding). Read what
                        // is stored before anything else, so that its resend is known.
                        self.hear(i64::MAX, None);
                    }
                    if let Some(seq) = stored {
                        self.incremental_bytes += bytes;
                        if seq == self.read + 1 {
                            self.read = seq;
                        } else {
                            // Another node stored chunks in between: read them (and this
                            // one again, which changes nothing).
                            self.hear(seq, None);
                        }
                    }
                    queue.extend(room.handle(Input::Persisted { batch, ok }));
                    // Under a steady stream of this node's own edits this loop may not end for
                    // a while: other nodes' changes are read here too, not only after it.
                    if self.behind() {
                        queue.extend(self.catch_up(room).await);
                    }
                }
            }
        }
    }

    /// At a quiet moment (the last peer gone, or the room about to hibernate), writes the
    /// document as one snapshot of the current schema unless storage already holds exactly
    /// that: the next cold join is then answered from it without loading the document
    /// ([`sync::Room::asleep`]). A `save()` costs ~1.5 ms on a 20 000-change document.
    /// Only what this room has read is compacted: if another node has stored more since,
    /// the store leaves everything as it is (that node, or the next, compacts later).
    async fn compact(&mut self, room: &Room) {
        if room.is_asleep()
            || !room.is_settled()
            || self.behind()
            || (self.incremental_bytes == 0 && self.snapshot_current)
        {
            return;
        }
        let snapshot = room.document().save();
        match self
            .hub
            .store
            .compact(
                System::SYNC,
                self.id,
                &snapshot,
                Some(domain::schema::version(room.document()) as i64),
                self.read,
                store::now_millis(),
            )
            .await
        {
            Ok(Some(seq)) => {
                tracing::debug!(document = %self.id, bytes = snapshot.len(), "compacted");
                self.snapshot_bytes = snapshot.len();
                self.incremental_bytes = 0;
                self.snapshot_current = true;
                self.read = seq;
            }
            Ok(None) => {
                tracing::debug!(document = %self.id, "not compacted: another node stored changes meanwhile");
            }
            Err(e) => {
                tracing::warn!(document = %self.id, error = %e, "compaction failed; chunks kept")
            }
        }
    }
}
