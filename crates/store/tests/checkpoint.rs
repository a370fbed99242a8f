//! SQLite's write-ahead log is folded into the database file by `Store::checkpoint` (the server
//! calls it in the background), so that no commit has to pay for copying and syncing the file.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use store::{SqliteOptions, SqliteStore, Store};
use uuid::Uuid;

#[tokio::test]
async fn checkpoint_folds_the_log_into_the_file() {
    let path = std::env::temp_dir().join(format!("concordat-wal-{}.db", Uuid::new_v4()));
    let store = SqliteStore::open(&SqliteOptions {
        url: format!("sqlite:{}", path.display()),
        max_readers: 2,
    })
    .await
    .unwrap();
    let size = |suffix: &str| {
        std::fs::metadata(format!("{}{suffix}", path.display()))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    // Creating the schema writes some hundreds of pages: they wait in the log.
    store.migrate().await.unwrap();
    let (db, wal) = (size(""), size("-wal"));
    assert!(wal > 100_000, "the schema is in the log: {wal} bytes");
    store.checkpoint().await.unwrap();
    let after = size("");
    assert!(
        after > db + 100_000,
        "checkpoint copied the log into the file: {db} → {after} bytes"
    );
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
