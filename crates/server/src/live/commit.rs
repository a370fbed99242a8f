//! Group commit across documents. Every room hands its batch to one committer task, which
//! writes whatever has gathered meanwhile in one transaction: under load many documents share
//! one durable commit (one fsync) instead of each paying for its own, and SQLite's single
//! writer is never queued behind a thousand tiny transactions. A room still waits for its own
//! batch to be confirmed before broadcasting it.
//!
//! While commits follow each other closely, the next one waits until a short window has passed
//! since the last one started (`window`, like PostgreSQL's `commit_delay`), gathering what
//! arrives meanwhile: at a thousand documents a second each edit otherwise pays a commit of its
//! own (an fsync and the hand-offs to SQLite's thread), since one commit is quicker than the
//! gap between edits. A commit after a quiet moment starts at once, so a meeting's edits wait
//! for nothing.
//!
//! If a shared transaction fails, each batch is retried alone, so one document's bad write
//! cannot fail the others'.

use std::sync::Arc;
use std::time::Duration;

use store::{Append, Store, System};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Requests waiting for the committer; rooms wait (backpressure) beyond this.
const QUEUE: usize = 4096;

struct Request {
    append: Append,
    done: oneshot::Sender<Option<i64>>,
}

/// A handle to the committer task.
#[derive(Clone, Debug)]
pub struct Committer {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("document", &self.append.id)
            .finish_non_exhaustive()
    }
}

impl Committer {
    /// Starts the committer; it runs until every handle is dropped. `max_batch` bounds how
    /// many documents share one transaction; a commit starts no sooner than `window` after the
    /// one before it started (zero: at once).
    pub fn spawn(store: Arc<dyn Store>, max_batch: usize, window: Duration) -> Committer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx, max_batch.max(1), window));
        Committer { tx }
    }

    /// Durably appends one document's changes; their sequence number once committed, `None`
    /// if storage refused them (the error is logged here).
    pub async fn append(&self, append: Append) -> Option<i64> {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Request { append, done }).await.is_err() {
            return None;
        }
        rx.await.unwrap_or(None)
    }
}

/// Adds to `batch` what arrives before `until`, up to `max` in all; returns at once with
/// what is already waiting if `until` has passed (or the channel is closed).
async fn gather<T>(rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>, max: usize, until: Instant) {
    while batch.len() < max {
        let room = max - batch.len();
        match tokio::time::timeout_at(until, rx.recv_many(batch, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Request>,
    max_batch: usize,
    window: Duration,
) {
    let mut batch = Vec::new();
    let mut last_started: Option<Instant> = None;
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        if let Some(last) = last_started
            && !window.is_zero()
        {
            gather(&mut rx, &mut batch, max_batch, last + window).await;
        }
        last_started = Some(Instant::now());
        let (appends, replies): (Vec<Append>, Vec<oneshot::Sender<Option<i64>>>) =
            batch.drain(..).map(|r| (r.append, r.done)).unzip();
        let now = store::now_millis();
        let started = std::time::Instant::now();
        let documents = appends.len();
        match store.append_changes(System::SYNC, &appends, now).await {
            Ok(seqs) => {
                crate::metrics::committed(documents, 0, started.elapsed());
                for (reply, seq) in replies.into_iter().zip(seqs) {
                    let _ = reply.send(Some(seq));
                }
            }
            Err(e) if appends.len() == 1 => {
                crate::metrics::committed(1, 1, started.elapsed());
                tracing::error!(document = %appends[0].id, error = %e, "storing changes failed: nothing broadcast");
                for reply in replies {
                    let _ = reply.send(None);
                }
            }
            Err(e) => {
                tracing::warn!(documents = appends.len(), error = %e, "shared commit failed: retrying each document alone");
                let mut failed = 0;
                for (append, reply) in appends.into_iter().zip(replies) {
                    let seq = match store
                        .append_changes(System::SYNC, std::slice::from_ref(&append), now)
                        .await
                    {
                        Ok(seqs) => seqs.first().copied(),
                        Err(e) => {
                            tracing::error!(document = %append.id, error = %e, "storing changes failed: nothing broadcast");
                            failed += 1;
                            None
                        }
                    };
                    let _ = reply.send(seq);
                }
                crate::metrics::committed(documents, failed, started.elapsed());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The committer against a real SQLite file.

    use domain::{Document, DocumentId, DocumentKind, OrgKind, OrgRole, Organisation, Space};
    use domain::{SpaceOwner, User};
    use store::{NewUser, SqliteOptions, SqliteStore};
    use uuid::Uuid;

    use super::*;

    /// A store in a fresh file holding one document; the path is removed by the caller.
    async fn store_with_a_document() -> (Arc<dyn Store>, DocumentId, std::path::PathBuf) {
        let (store, docs, path) = store_with_documents(1).await;
        (store, docs[0], path)
    }

    async fn store_with_documents(
        n: usize,
    ) -> (Arc<dyn Store>, Vec<DocumentId>, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("concordat-commit-{}.db", Uuid::new_v4()));
        let url = format!("sqlite:{}", path.display());
        let (store, docs) = store_at(&url, n).await;
        (store, docs, path)
    }

    /// A store at `url` holding `n` new documents.
    async fn store_at(url: &str, n: usize) -> (Arc<dyn Store>, Vec<DocumentId>) {
        let sqlite = SqliteStore::open(&SqliteOptions {
            url: url.to_owned(),
            max_readers: 2,
        })
        .await
        .expect("open");
        sqlite.migrate().await.expect("migrate");
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let org = Organisation {
            id: Uuid::new_v4(),
            name: "Ashby".into(),
            kind: OrgKind::Council,
            domains: vec!["ashby.gov.uk".into()],
            created_at: 1,
        };
        let space = Space {
            id: Uuid::new_v4(),
            name: "Ashby".into(),
            owner: SpaceOwner::Private { org_id: org.id },
        };
        store
            .create_organisation(System::PROVISION, &org, &space)
            .await
            .expect("organisation");
        let user = User {
            id: Uuid::new_v4(),
            org_id: org.id,
            email: "a@ashby.gov.uk".into(),
            display_name: "A".into(),
            role: OrgRole::Admin,
            is_guest: false,
            disabled: false,
            created_at: 1,
            platform_operator: false,
        };
        let new = NewUser {
            user: user.clone(),
            password_hash: None,
        };
        store
            .create_user(System::PROVISION, &new)
            .await
            .expect("user");
        let p = store::act_as(store.as_ref(), &user, 60_000)
            .await
            .expect("session");
        let mut docs = Vec::new();
        for _ in 0..n {
            let doc = Document {
                id: DocumentId::random(),
                space_id: space.id,
                kind: DocumentKind::RiskRegister,
                title: "Register".into(),
                archived: false,
                created_by: user.id,
                created_at: 1,
                updated_at: 1,
            };
            store
                .create_document(&p, &doc, b"initial")
                .await
                .expect("document");
            docs.push(doc.id);
        }
        (store, docs)
    }

    fn append(id: DocumentId, data: &[u8]) -> Append {
        Append {
            id,
            data: data.to_vec(),
            // One actor, always bound to the same user (a second user for it is refused).
            actors: vec![(vec![7; 16], Uuid::from_u128(7))],
        }
    }

    #[tokio::test]
    async fn one_documents_failed_write_does_not_fail_the_others_in_its_transaction() {
        let (store, doc, path) = store_with_a_document().await;
        let committer = Committer::spawn(store.clone(), 16, Duration::ZERO);
        // Both are queued before the committer runs (one thread): they share a transaction,
        // which fails on the document that does not exist; each is then retried alone.
        let (good, bad) = tokio::join!(
            committer.append(append(doc, b"change-1")),
            committer.append(append(DocumentId::random(), b"change-2")),
        );
        assert_eq!(
            good,
            Some(1),
            "the existing document's change is numbered after its initial content (0)"
        );
        assert_eq!(bad, None, "the missing document's change is refused");
        let content = content_of(&store, doc).await;
        assert_eq!(chunks(&content), vec![&b"initial"[..], &b"change-1"[..]]);
        assert_eq!(
            content.actors.len(),
            2,
            "the server's actor and the new one"
        );
        // And the committer keeps working after a failure.
        assert_eq!(committer.append(append(doc, b"change-3")).await, Some(2));
        drop(store);
        remove(&path);
    }

    /// The committer keeps the window: a commit following one that has just started waits
    /// until the window since that one has passed (here long, so that the wait is plain), and
    /// both are stored in order.
    #[tokio::test]
    async fn a_commit_right_after_another_waits_out_the_window() {
        let (store, doc, path) = store_with_a_document().await;
        let window = Duration::from_millis(400);
        let committer = Committer::spawn(store.clone(), 16, window);
        let started = Instant::now();
        assert_eq!(committer.append(plain(doc, b"first")).await, Some(1));
        assert_eq!(committer.append(plain(doc, b"second")).await, Some(2));
        assert!(
            started.elapsed() >= window,
            "the second commit started no sooner than the window after the first"
        );
        let content = content_of(&store, doc).await;
        assert_eq!(
            chunks(&content),
            vec![&b"initial"[..], &b"first"[..], &b"second"[..]]
        );
        drop(store);
        remove(&path);
    }

    async fn content_of(store: &Arc<dyn Store>, doc: DocumentId) -> store::Content {
        store
            .load_content(System::SYNC, doc)
            .await
            .expect("load")
            .expect("the document")
    }

    fn chunks(content: &store::Content) -> Vec<&[u8]> {
        content.chunks.iter().map(|c| c.data.as_slice()).collect()
    }

    fn remove(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// The window: what arrives before it closes joins the batch, up to the bound; a batch
    /// not full waits for the window to close; once it has closed (or the channel has), only
    /// what is already waiting joins, at once.
    #[tokio::test]
    async fn a_commit_gathers_until_its_window_closes_and_no_longer() {
        // Open window, changes arriving inside it: gathered until the batch is full.
        let (tx, mut rx) = mpsc::channel::<u32>(16);
        let sender = tx.clone();
        tokio::spawn(async move {
            for i in 0..5 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                sender.send(i).await.expect("send");
            }
        });
        let mut batch = Vec::new();
        let started = Instant::now();
        gather(&mut rx, &mut batch, 3, started + Duration::from_secs(60)).await;
        assert_eq!(batch, vec![0, 1, 2], "gathered until full");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a full batch does not wait"
        );

        // Open window, nothing more arriving: it waits for the window to close.
        let window = Duration::from_millis(100);
        let mut batch = vec![9];
        let started = Instant::now();
        gather(&mut rx, &mut batch, 8, started + window).await;
        assert!(started.elapsed() >= window, "waited for the window");
        assert_eq!(batch, vec![9, 3, 4], "and took what came in it");

        // A closed window: what is waiting is taken, nothing more is waited for.
        for i in 10..13 {
            tx.send(i).await.expect("send");
        }
        let mut batch = Vec::new();
        let started = Instant::now();
        gather(&mut rx, &mut batch, 8, started - Duration::from_millis(1)).await;
        assert_eq!(batch, vec![10, 11, 12]);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no wait once it closed"
        );

        // A closed channel ends the wait.
        drop(tx);
        let mut batch = Vec::new();
        let started = Instant::now();
        gather(&mut rx, &mut batch, 8, started + Duration::from_secs(60)).await;
        assert!(batch.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no wait on a closed channel"
        );
    }

    fn plain(id: DocumentId, data: &[u8]) -> Append {
        Append {
            id,
            data: data.to_vec(),
            actors: Vec::new(),
        }
    }

    /// A database in memory has no file for the appender's connection: its appends all take
    /// the general path, numbered alike.
    #[tokio::test]
    async fn a_database_in_memory_appends_without_the_appender() {
        let (store, docs) = store_at("sqlite::memory:", 2).await;
        let seqs = store
            .append_changes(
                System::SYNC,
                &[plain(docs[1], b"one"), plain(docs[0], b"uno")],
                5,
            )
            .await
            .expect("appended");
        assert_eq!(seqs, vec![1, 1]);
        let seqs = store
            .append_changes(System::SYNC, &[plain(docs[1], b"two")], 6)
            .await
            .expect("appended again");
        assert_eq!(seqs, vec![2]);
        let content = content_of(&store, docs[1]).await;
        assert_eq!(chunks(&content), [&b"initial"[..], b"one", b"two"]);
    }

    /// SQLite's two writers — the appender's own connection and sqlx's writer — wait for each
    /// other: compactions, which read before they write, beside appends to another document
    /// on the appender's thread never fail for SQLite's lock, and nothing is lost either side.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_and_compactions_beside_them_both_succeed() {
        const ROUNDS: i64 = 200;
        let (store, docs, path) = store_with_documents(2).await;
        let appends = {
            let (store, doc) = (store.clone(), docs[0]);
            tokio::spawn(async move {
                for i in 0..ROUNDS {
                    let change = plain(doc, format!("a{i}").as_bytes());
                    store
                        .append_changes(System::SYNC, &[change], i)
                        .await
                        .expect("an append beside compactions");
                }
            })
        };
        let mut upto = 0;
        for i in 0..ROUNDS {
            upto = store
                .compact(
                    System::SYNC,
                    docs[1],
                    format!("s{i}").as_bytes(),
                    None,
                    upto,
                    i,
                )
                .await
                .expect("a compaction beside appends")
                .expect("nobody else appends to this document");
        }
        appends.await.expect("the appends");
        let appended = content_of(&store, docs[0]).await;
        assert_eq!(chunks(&appended).len(), 1 + ROUNDS as usize);
        let compacted = content_of(&store, docs[1]).await;
        assert_eq!(chunks(&compacted), [format!("s{}", ROUNDS - 1).as_bytes()]);
        drop(store);
        remove(&path);
    }

    /// Batches of different documents without a new actor take SQLite's one-hand-off path (one
    /// statement): a row failing leaves nothing of the batch behind and the writer usable; each
    /// document gets its own number whatever order SQLite returns them in; a caller that stops
    /// waiting leaves the batch committed whole; a document named twice, or a batch past the
    /// path's size, takes the general path, numbered alike.
    #[tokio::test]
    async fn a_batch_written_in_one_hand_off_is_all_or_nothing() {
        let (store, docs, path) = store_with_documents(3).await;
        let doc = docs[0];
        let failed = store
            .append_changes(
                System::SYNC,
                &[
                    plain(doc, b"kept-out"),
                    plain(DocumentId::random(), b"orphan"),
                ],
                5,
            )
            .await;
        assert!(failed.is_err(), "a missing document fails the batch");
        let seqs = store
            .append_changes(
                System::SYNC,
                &[
                    plain(doc, b"one"),
                    plain(docs[1], b"uno"),
                    plain(docs[2], b"eins"),
                ],
                6,
            )
            .await
            .expect("the writer is usable after the failure");
        assert_eq!(seqs, vec![1, 1, 1]);
        let seqs = store
            .append_changes(System::SYNC, &[plain(docs[1], b"dos")], 6)
            .await
            .expect("one more");
        assert_eq!(seqs, vec![2]);
        let seqs = store
            .append_changes(
                System::SYNC,
                &[
                    plain(docs[2], b"zwei"),
                    plain(docs[1], b"tres"),
                    plain(doc, b"two"),
                ],
                6,
            )
            .await
            .expect("three more");
        assert_eq!(
            seqs,
            vec![2, 3, 2],
            "each document's own number, in the batch's order"
        );
        let seqs = store
            .append_changes(
                System::SYNC,
                &[plain(doc, b"three"), plain(doc, b"four")],
                6,
            )
            .await
            .expect("one document twice");
        assert_eq!(seqs, vec![3, 4], "a document named twice is numbered twice");
        // A caller that stops waiting (its future dropped while SQLite writes) changes
        // nothing: the batch is still committed, and the writer is free after it. The change
        // is large so that SQLite is still writing it when the caller goes.
        let one = [plain(doc, &vec![b'x'; 16 << 20])];
        let dropped = store.append_changes(System::SYNC, &one, 7);
        let _ = tokio::time::timeout(std::time::Duration::from_nanos(1), dropped).await;
        let seqs = store
            .append_changes(System::SYNC, &[plain(doc, b"after")], 7)
            .await
            .expect("the writer is usable after a caller stopped waiting");
        assert_eq!(
            seqs,
            vec![6],
            "the dropped caller's batch was committed whole"
        );
        let many: Vec<Append> = (0..40)
            .map(|i| plain(doc, format!("n{i}").as_bytes()))
            .collect();
        let seqs = store
            .append_changes(System::SYNC, &many, 7)
            .await
            .expect("a larger batch");
        assert_eq!(seqs, (7..=46).collect::<Vec<i64>>());
        let content = content_of(&store, doc).await;
        let stored = chunks(&content);
        assert_eq!(
            stored.len(),
            47,
            "initial, one to four, dropped, after, forty: nothing of the failed batch"
        );
        assert!(!stored.contains(&&b"kept-out"[..]));
        assert_eq!(
            stored[5].len(),
            16 << 20,
            "the dropped caller's change, whole"
        );
        assert_eq!(
            stored[1..5],
            [&b"one"[..], &b"two"[..], &b"three"[..], &b"four"[..]]
        );
        let third = chunks(&content_of(&store, docs[2]).await)
            .iter()
            .map(|c| c.to_vec())
            .collect::<Vec<_>>();
        assert_eq!(third[1..], [b"eins".to_vec(), b"zwei".to_vec()]);
        drop(store);
        remove(&path);
    }
}
