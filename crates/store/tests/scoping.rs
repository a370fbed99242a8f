//! The store's middle tier, on a real SQLite file: the caller's scope and the instant it is
//! decided for, one area at a time, without a server. (The full story on both backends is
//! `tests/tests/e2e/store_story.rs`.)

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use domain::access::Principal;
use domain::{
    Document, DocumentId, DocumentKind, Grant, GrantRole, Millis, OrgKind, OrgRole, Organisation,
    Space, SpaceOwner, User,
};
use store::{DocumentFilter, NewUser, SqliteOptions, SqliteStore, Store, System};
use uuid::Uuid;

/// A store in a fresh file, removed when dropped.
struct TempStore {
    store: SqliteStore,
    path: std::path::PathBuf,
}

impl Drop for TempStore {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

async fn temp_store() -> TempStore {
    let path = std::env::temp_dir().join(format!("concordat-store-{}.db", Uuid::new_v4()));
    let store = SqliteStore::open(&SqliteOptions {
        url: format!("sqlite:{}", path.display()),
        max_readers: 2,
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    TempStore { store, path }
}

async fn organisation(store: &dyn Store, name: &str, kind: OrgKind, domain: &str) -> Uuid {
    let org = Organisation {
        id: Uuid::new_v4(),
        name: name.into(),
        kind,
        domains: vec![domain.into()],
        created_at: 1,
    };
    let space = Space {
        id: Uuid::new_v4(),
        name: format!("{name} (private)"),
        owner: SpaceOwner::Private { org_id: org.id },
    };
    store
        .create_organisation(System::PROVISION, &org, &space)
        .await
        .unwrap();
    org.id
}

async fn person(store: &dyn Store, org_id: Uuid, email: &str, guest: bool) -> Principal {
    let user = User {
        id: Uuid::new_v4(),
        org_id,
        email: email.into(),
        display_name: email.into(),
        role: if guest {
            OrgRole::Member
        } else {
            OrgRole::Admin
        },
        is_guest: guest,
        disabled: false,
        created_at: 1,
        platform_operator: false,
    };
    store
        .create_user(
            System::PROVISION,
            &NewUser {
                user: user.clone(),
                password_hash: None,
            },
        )
        .await
        .unwrap();
    store::act_as(store, &user, 60 * 60 * 1000).await.unwrap()
}

/// A council with a private register, and a guest of a partner body granted it until `until`.
struct World {
    db: TempStore,
    admin: Principal,
    guest: Principal,
    doc: DocumentId,
    space: Uuid,
    until: Millis,
}

async fn world() -> World {
    let db = temp_store().await;
    let store: &dyn Store = &db.store;
    let council = organisation(store, "Ashby", OrgKind::Council, "ashby.gov.uk").await;
    let charity = organisation(store, "Riverside", OrgKind::Partner, "riverside.org.uk").await;
    let admin = person(store, council, "a@ashby.gov.uk", false).await;
    let guest = person(store, charity, "g@riverside.org.uk", true).await;
    let space = store.list_spaces(&admin, 1).await.unwrap()[0].id;
    let doc = Document {
        id: DocumentId::random(),
        space_id: space,
        kind: DocumentKind::RiskRegister,
        title: "Ashby register".into(),
        archived: false,
        created_by: admin.user_id,
        created_at: 1,
        updated_at: 1,
    };
    store
        .create_document(&admin, &doc, b"content")
        .await
        .unwrap();
    let until = 10_000;
    store
        .create_grant(
            &admin,
            &Grant {
                id: Uuid::new_v4(),
                document_id: doc.id,
                user_id: guest.user_id,
                role: GrantRole::Viewer,
                expires_at: Some(until),
                revoked_at: None,
                granted_by: admin.user_id,
                created_at: 2,
            },
        )
        .await
        .unwrap();
    World {
        db,
        admin,
        guest,
        doc: doc.id,
        space,
        until,
    }
}

#[tokio::test]
async fn a_grant_counts_until_the_instant_it_expires_in_every_area() {
    let w = world().await;
    let store: &dyn Store = &w.db.store;
    let filter = DocumentFilter::default();
    for (now, sees) in [(w.until - 1, true), (w.until, false), (w.until + 1, false)] {
        let at = format!("at {now}");
        let n = usize::from(sees);
        let doc = store.get_document(&w.guest, w.doc, now).await.unwrap();
        assert_eq!(doc.is_some(), sees, "get_document {at}");
        let listed = store.list_documents(&w.guest, &filter, None, 10, now).await;
        assert_eq!(listed.unwrap().len(), n, "list_documents {at}");
        let chunks = store.load_chunks(&w.guest, w.doc, now).await.unwrap();
        assert_eq!(chunks.len(), n, "load_chunks {at}");
        let space = store.get_space(&w.guest, w.space, now).await.unwrap();
        assert_eq!(space.is_some(), sees, "get_space {at}");
        let spaces = store.list_spaces(&w.guest, now).await.unwrap();
        assert_eq!(spaces.len(), n, "list_spaces {at}");
        // The server's own actor wrote the initial content.
        let authors = store.document_authors(&w.guest, w.doc, now).await.unwrap();
        assert_eq!(authors.len(), n, "document_authors {at}");
    }
    // The council's own reach does not depend on the instant.
    for now in [1, w.until, Millis::MAX] {
        let doc = store.get_document(&w.admin, w.doc, now).await.unwrap();
        assert!(doc.is_some(), "the council's own document at {now}");
    }
}

#[tokio::test]
async fn a_guest_sees_only_itself_among_users() {
    let w = world().await;
    let store: &dyn Store = &w.db.store;
    let me = store.get_user(&w.guest, w.guest.user_id).await.unwrap();
    assert_eq!(me.map(|u| u.id), Some(w.guest.user_id));
    let other = store.get_user(&w.guest, w.admin.user_id).await.unwrap();
    assert!(other.is_none(), "a guest does not see the council's users");
    // The council's admin sees its own people, not the guest of another body.
    let own = store.get_user(&w.admin, w.admin.user_id).await.unwrap();
    assert!(own.is_some());
    let guest = store.get_user(&w.admin, w.guest.user_id).await.unwrap();
    assert!(guest.is_none(), "the guest belongs to another body");
    let listed: Vec<Uuid> = store
        .list_users(&w.admin)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(listed, vec![w.admin.user_id]);
    assert!(store.list_users(&w.guest).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_version_is_decided_at_its_own_instant() {
    let w = world().await;
    let store: &dyn Store = &w.db.store;
    let grantees = store.document_grantees(&w.admin, w.doc, 5).await.unwrap();
    assert_eq!(grantees.len(), 1);
    assert_eq!(grantees[0].user_id, w.guest.user_id);
    let version = |created_at| domain::Version {
        id: Uuid::new_v4(),
        document_id: w.doc,
        label: "Agreed".into(),
        heads: Vec::new(),
        created_by: w.guest.user_id,
        created_at,
    };
    let late = store.create_version(&w.guest, &version(w.until)).await;
    assert!(!late.unwrap(), "made when the grant had ended");
    let early = store.create_version(&w.guest, &version(w.until - 1)).await;
    assert!(early.unwrap(), "made while the grant held");
    let versions = store.list_versions(&w.admin, w.doc, 1).await.unwrap();
    assert_eq!(versions.len(), 1);
}
