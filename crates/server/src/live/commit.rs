//! Group commit across documents. Every room hands its batch to one committer task, which
//! writes whatever has gathered meanwhile in one transaction: under load many documents share
//! one durable commit (one fsync) instead of each paying for its own, and SQLite's single
//! writer is never queued behind a thousand tiny transactions. A room still waits for its own
//! batch to be confirmed before broadcasting it.
//!
//! If a shared transaction fails, each batch is retried alone, so one document's bad write
//! cannot fail the others'.

use std::sync::Arc;

use store::{Append, Store, System};
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the committer; rooms wait (backpressure) beyond this.
const QUEUE: usize = 4096;

struct Request {
    append: Append,
    done: oneshot::Sender<bool>,
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
    /// many documents share one transaction.
    pub fn spawn(store: Arc<dyn Store>, max_batch: usize) -> Committer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx, max_batch.max(1)));
        Committer { tx }
    }

    /// Durably appends one document's changes; true once committed, false if storage refused
    /// them (the error is logged here).
    pub async fn append(&self, append: Append) -> bool {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Request { append, done }).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Request>, max_batch: usize) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let (appends, replies): (Vec<Append>, Vec<oneshot::Sender<bool>>) =
            batch.drain(..).map(|r| (r.append, r.done)).unzip();
        let now = store::now_millis();
        match store.append_changes(System::SYNC, &appends, now).await {
            Ok(()) => {
                for reply in replies {
                    let _ = reply.send(true);
                }
            }
            Err(e) if appends.len() == 1 => {
                tracing::error!(document = %appends[0].id, error = %e, "storing changes failed: nothing broadcast");
                for reply in replies {
                    let _ = reply.send(false);
                }
            }
            Err(e) => {
                tracing::warn!(documents = appends.len(), error = %e, "shared commit failed: retrying each document alone");
                for (append, reply) in appends.into_iter().zip(replies) {
                    let ok = match store
                        .append_changes(System::SYNC, std::slice::from_ref(&append), now)
                        .await
                    {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::error!(document = %append.id, error = %e, "storing changes failed: nothing broadcast");
                            false
                        }
                    };
                    let _ = reply.send(ok);
                }
            }
        }
    }
}
