//! One storage story, run unchanged against SQLite and PostgreSQL through the `Store` trait:
//! what each caller sees and may change, and that refusals change nothing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use domain::access::Principal;
use domain::{
    Document, DocumentId, DocumentKind, Grant, GrantRole, Invitation, MemberRole, Membership,
    OrgKind, Organisation, Space, SpaceOwner,
};
use store::{Acceptance, DocumentFilter, NewUser, Store, StoreError, System};
use tests::{Backend, TestDb, on_both_backends};
use uuid::Uuid;

async fn principal(store: &dyn Store, email: &str) -> Principal {
    tests::principal(store, email).await
}

async fn titles(store: &dyn Store, p: &Principal) -> Vec<String> {
    let filter = DocumentFilter {
        include_archived: true,
        ..Default::default()
    };
    let mut t: Vec<String> = store
        .list_documents(p, &filter, None, 1000, store::now_millis())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.document.title)
        .collect();
    t.sort();
    t
}

async fn doc(store: &dyn Store, p: &Principal, title: &str) -> DocumentId {
    let filter = DocumentFilter {
        include_archived: true,
        ..Default::default()
    };
    store
        .list_documents(p, &filter, None, 1000, store::now_millis())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.document.title == title)
        .map(|r| r.document.id)
        .unwrap_or_else(|| panic!("{title}"))
}

async fn storage_story(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let store = store.as_ref();
    server::demo::seed(store).await.unwrap();
    // Seeding twice is harmless.
    assert!(
        server::demo::seed(store)
            .await
            .unwrap()
            .contains("already present")
    );

    let alice = principal(store, "alice@ashby.gov.uk").await;
    let arun = principal(store, "arun@ashby.gov.uk").await;
    let ben = principal(store, "ben@brockley.gov.uk").await;
    let carl = principal(store, "carl@carrow.gov.uk").await;
    let grace = principal(store, "grace@riverside.org.uk").await;

    assert_eq!(
        titles(store, &carl).await,
        vec!["Carrow corporate risk register"]
    );
    assert_eq!(
        titles(store, &grace).await,
        vec!["Revenues & benefits SLA 2026/27"]
    );
    assert_eq!(titles(store, &arun).await.len(), 6);
    assert_eq!(titles(store, &ben).await.len(), 6);

    let a_private = doc(store, &arun, "Ashby corporate risk register").await;
    let shared = doc(store, &arun, "Shared services partnership risk register").await;
    assert!(
        store
            .get_document(&ben, a_private, store::now_millis())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_document(&carl, shared, store::now_millis())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_document(&ben, shared, store::now_millis())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .load_chunks(&ben, a_private, store::now_millis())
            .await
            .unwrap()
            .is_empty(),
        "no byte of another council's content"
    );
    assert_eq!(
        store
            .load_chunks(&arun, a_private, store::now_millis())
            .await
            .unwrap()
            .len(),
        1
    );

    // Refused writes change nothing.
    assert!(
        !store
            .update_document(&ben, a_private, Some("taken"), None, 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_document(&grace, shared, Some("taken"), None, 1)
            .await
            .unwrap()
    );
    let a_space = store
        .get_document(&arun, a_private, store::now_millis())
        .await
        .unwrap()
        .unwrap()
        .document
        .space_id;
    let intruder_doc = Document {
        id: DocumentId::random(),
        space_id: a_space,
        kind: DocumentKind::Meeting,
        title: "planted".into(),
        archived: false,
        created_by: ben.user_id,
        created_at: 1,
        updated_at: 1,
    };
    assert!(matches!(
        store.create_document(&ben, &intruder_doc, b"x").await,
        Err(StoreError::Refused)
    ));
    let stolen = Grant {
        id: Uuid::new_v4(),
        document_id: a_private,
        user_id: ben.user_id,
        role: GrantRole::Editor,
        expires_at: None,
        revoked_at: None,
        granted_by: ben.user_id,
        created_at: 1,
    };
    assert!(matches!(
        store.create_grant(&ben, &stolen).await,
        Err(StoreError::Refused)
    ));
    assert!(store.list_grants(&ben, a_private).await.unwrap().is_empty());
    assert!(
        store
            .get_space(&ben, a_space, store::now_millis())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .get_document(&arun, a_private, store::now_millis())
            .await
            .unwrap()
            .unwrap()
            .document
            .title,
        "Ashby corporate risk register"
    );
    let member_invite = store
        .put_membership(
            &arun,
            &Membership {
                partnership_id: store.list_partnerships(&arun).await.unwrap()[0].id,
                org_id: carl.org_id,
                role: MemberRole::Member,
                joined_at: 1,
                left_at: None,
            },
        )
        .await;
    assert!(
        matches!(member_invite, Err(StoreError::Refused)),
        "a non-admin cannot add members"
    );
    assert!(store.list_partnerships(&carl).await.unwrap().is_empty());

    // Users are visible within their own organisation only.
    let ashby_users = store.list_users(&arun).await.unwrap();
    assert_eq!(ashby_users.len(), 2);
    assert!(ashby_users.iter().all(|u| u.org_id == arun.org_id));
    assert!(store.get_user(&arun, ben.user_id).await.unwrap().is_none());
    assert!(
        store
            .get_user(&arun, alice.user_id)
            .await
            .unwrap()
            .is_some()
    );

    // Unique names and e-mails are conflicts.
    let dup = Organisation {
        id: Uuid::new_v4(),
        name: "Ashby Borough Council".into(),
        kind: OrgKind::Council,
        domains: Vec::new(),
        created_at: 1,
    };
    let dup_space = Space {
        id: Uuid::new_v4(),
        name: "x".into(),
        owner: SpaceOwner::Private { org_id: dup.id },
    };
    assert!(matches!(
        store
            .create_organisation(System::PROVISION, &dup, &dup_space)
            .await,
        Err(StoreError::Conflict)
    ));
    let (existing, _) = store
        .login_lookup(System::LOGIN, "arun@ashby.gov.uk")
        .await
        .unwrap()
        .unwrap();
    let mut clone = existing.clone();
    clone.id = Uuid::new_v4();
    assert!(matches!(
        store
            .add_user(
                &alice,
                &NewUser {
                    user: clone,
                    password_hash: None
                }
            )
            .await,
        Err(StoreError::Conflict)
    ));

    // An invitation: single use, all-or-nothing.
    let sla = doc(store, &alice, "Revenues & benefits SLA 2026/27").await;
    let now = store::now_millis();
    let inv = Invitation {
        id: Uuid::new_v4(),
        email: "new@riverside.org.uk".into(),
        org_id: alice.org_id,
        guest_org_id: grace.org_id,
        role: GrantRole::Commenter,
        document_ids: vec![sla, shared],
        expires_at: now + 60_000,
        grant_expires_at: None,
        accepted_at: None,
        revoked_at: None,
        created_by: alice.user_id,
        created_at: now,
    };
    store
        .create_invitation(&alice, &inv, "hash-1")
        .await
        .unwrap();
    let mut bad = inv.clone();
    bad.id = Uuid::new_v4();
    bad.org_id = ben.org_id;
    bad.document_ids = vec![a_private];
    assert!(matches!(
        store.create_invitation(&ben, &bad, "hash-2").await,
        Err(StoreError::Refused)
    ));
    let listed = store.list_invitations(&alice).await.unwrap();
    assert_eq!(listed.len(), 1);
    let mut want_docs = vec![sla, shared];
    want_docs.sort_by_key(|d| d.to_string());
    assert_eq!(listed[0].document_ids, want_docs);
    assert!(store.list_invitations(&ben).await.unwrap().is_empty());

    let no_password = NewUser {
        user: existing.clone(),
        password_hash: None,
    };
    assert_eq!(
        store
            .accept_invitation(System::INVITATION, "hash-1", None, &no_password, now)
            .await
            .unwrap(),
        Acceptance::NeedsAccount
    );
    let mut fresh = existing.clone();
    fresh.id = Uuid::new_v4();
    let new_user = NewUser {
        user: fresh,
        password_hash: Some("$argon2id$placeholder".into()),
    };
    let Acceptance::Accepted { user, created } = store
        .accept_invitation(System::INVITATION, "hash-1", None, &new_user, now)
        .await
        .unwrap()
    else {
        panic!("accepted");
    };
    assert!(
        created
            && user.is_guest
            && user.org_id == grace.org_id
            && user.email == "new@riverside.org.uk"
    );
    assert_eq!(
        store
            .accept_invitation(System::INVITATION, "hash-1", None, &new_user, now)
            .await
            .unwrap(),
        Acceptance::NotUsable
    );
    assert_eq!(
        store
            .accept_invitation(System::INVITATION, "no-such-hash", None, &new_user, now)
            .await
            .unwrap(),
        Acceptance::NotUsable
    );
    let newcomer = store::act_as(store, &user, 3_600_000).await.unwrap();
    assert_eq!(
        titles(store, &newcomer).await,
        vec![
            "Revenues & benefits SLA 2026/27",
            "Shared services partnership risk register"
        ]
    );
    let ctx = store.caller_context(&newcomer).await.unwrap();
    assert_eq!(ctx.grants.len(), 2);

    // A council leaving: its users lose the shared space; history stays.
    let pid = store.list_partnerships(&alice).await.unwrap()[0].id;
    assert!(
        !store
            .end_membership(&ben, pid, ben.org_id, now)
            .await
            .unwrap(),
        "a member who is not an admin cannot withdraw"
    );
    let bella = principal(store, "bella@brockley.gov.uk").await;
    assert!(
        store
            .end_membership(&bella, pid, bella.org_id, now)
            .await
            .unwrap()
    );
    assert_eq!(
        titles(store, &ben).await,
        vec!["Brockley exit planning register"]
    );
    let (_, members) = store.get_partnership(&alice, pid).await.unwrap().unwrap();
    assert!(
        members
            .iter()
            .any(|m| m.org_id == ben.org_id && m.left_at == Some(now))
    );
    // Brockley still sees the partnership record (it was a member), not its documents.
    assert!(store.get_partnership(&ben, pid).await.unwrap().is_some());

    // Sessions: a refresh token works once; a second use revokes the session.
    let session = store::Session {
        id: Uuid::new_v4(),
        user_id: arun.user_id,
        refresh_hash: "r1".into(),
        created_at: now,
        expires_at: now + 1000,
        revoked_at: None,
    };
    store.create_session(System::LOGIN, &session).await.unwrap();
    let rotated = store
        .refresh_session(System::REFRESH, "r1", "r2", now)
        .await
        .unwrap();
    assert!(
        matches!(&rotated, store::Refresh::Rotated(s) if s.id == session.id && s.refresh_hash == "r2"),
        "{rotated:?}"
    );
    assert_eq!(
        store
            .refresh_session(System::REFRESH, "never-issued", "r9", now)
            .await
            .unwrap(),
        store::Refresh::Unknown
    );
    assert!(
        store
            .authenticate(&arun, session.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .authenticate(&ben, session.id)
            .await
            .unwrap()
            .is_none(),
        "another user's session"
    );
    store.revoke_session(&arun, session.id, now).await.unwrap();
    let (_, s) = store
        .authenticate(&arun, session.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!s.is_live(now + 1));

    // A copied refresh token: the thief refreshes first; the owner's next use of the spent
    // token revokes the session, and with it the thief's new token.
    let family = store::Session {
        id: Uuid::new_v4(),
        refresh_hash: "f1".into(),
        revoked_at: None,
        ..session
    };
    store.create_session(System::LOGIN, &family).await.unwrap();
    assert!(matches!(
        store
            .refresh_session(System::REFRESH, "f1", "f2", now)
            .await
            .unwrap(),
        store::Refresh::Rotated(_)
    ));
    assert_eq!(
        store
            .refresh_session(System::REFRESH, "f1", "f3", now)
            .await
            .unwrap(),
        store::Refresh::Reused(family.id)
    );
    assert_eq!(
        store
            .refresh_session(System::REFRESH, "f2", "f4", now)
            .await
            .unwrap(),
        store::Refresh::Unknown,
        "the thief's token died with the session"
    );
    let (_, f) = store.authenticate(&arun, family.id).await.unwrap().unwrap();
    assert!(!f.is_live(now));

    db.drop_db().await;
}

/// A document's content comes back whole and in order: its kind, every chunk from the latest
/// snapshot on in sequence, and every actor binding — before and after a compaction, with
/// appends that bind actors and appends that do not; a document that does not exist has none.
async fn content_comes_back_whole_and_in_order(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let store = store.as_ref();
    server::demo::seed(store).await.unwrap();
    let arun = principal(store, "arun@ashby.gov.uk").await;
    let ben = principal(store, "ben@brockley.gov.uk").await;
    let filter = DocumentFilter::default();
    let row = store
        .list_documents(&arun, &filter, None, 1, store::now_millis())
        .await
        .unwrap()
        .remove(0);
    let id = row.document.id;
    let first = store.load_content(System::SYNC, id).await.unwrap().unwrap();
    assert_eq!(first.kind, Some(row.document.kind));
    // Each append's data and the actors it binds.
    type Bindings = Vec<(Vec<u8>, Uuid)>;
    let appended: Vec<(Vec<u8>, Bindings)> = vec![
        (b"one".to_vec(), vec![(vec![1; 16], arun.user_id)]),
        (b"two".to_vec(), Vec::new()),
        (
            b"three".to_vec(),
            vec![(vec![3; 16], ben.user_id), (vec![4; 16], arun.user_id)],
        ),
        (b"four".to_vec(), Vec::new()),
    ];
    for (data, actors) in &appended {
        let append = store::Append {
            id,
            data: data.clone(),
            actors: actors.clone(),
        };
        store
            .append_changes(System::SYNC, &[append], store::now_millis())
            .await
            .unwrap();
    }
    let mut bound: Bindings = first.actors.clone();
    bound.extend(appended.iter().flat_map(|(_, a)| a.clone()));
    bound.sort();
    let check = |content: store::Content, data: Vec<&[u8]>| {
        let seqs: Vec<i64> = content.chunks.iter().map(|c| c.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "in sequence: {seqs:?}"
        );
        let got: Vec<&[u8]> = content.chunks.iter().map(|c| c.data.as_slice()).collect();
        assert_eq!(got, data);
        let mut actors = content.actors;
        actors.sort();
        assert_eq!(actors, bound);
    };
    let content = store.load_content(System::SYNC, id).await.unwrap().unwrap();
    let mut expected: Vec<&[u8]> = first.chunks.iter().map(|c| c.data.as_slice()).collect();
    expected.extend(appended.iter().map(|(d, _)| d.as_slice()));
    check(content, expected);

    // Compacted up to the last chunk, then one more append: the snapshot, then that one.
    let last = store
        .load_content(System::SYNC, id)
        .await
        .unwrap()
        .unwrap()
        .chunks
        .last()
        .unwrap()
        .seq;
    let snapshot = store
        .compact(
            System::SYNC,
            id,
            b"snapshot",
            None,
            last,
            store::now_millis(),
        )
        .await
        .unwrap();
    assert!(snapshot.is_some());
    let five = store::Append {
        id,
        data: b"five".to_vec(),
        actors: Vec::new(),
    };
    store
        .append_changes(System::SYNC, &[five], store::now_millis())
        .await
        .unwrap();
    let content = store.load_content(System::SYNC, id).await.unwrap().unwrap();
    assert!(content.chunks[0].snapshot);
    check(content, vec![b"snapshot", b"five"]);

    assert!(
        store
            .load_content(System::SYNC, DocumentId::random())
            .await
            .unwrap()
            .is_none()
    );
    db.drop_db().await;
}

on_both_backends!(storage_story, content_comes_back_whole_and_in_order);

/// A SQLite database written before SLAs had partners' figures takes the new kind of document
/// when migrated: the widened CHECK is in force on every connection of the pool (including one
/// that read the old schema before the migration ran), it still refuses an unknown kind, rows
/// written before are kept, and the database passes SQLite's own integrity check afterwards.
#[tokio::test]
async fn a_sqlite_database_from_before_partners_figures_migrates() {
    use sqlx::Connection;
    let dir = std::env::temp_dir().join("concordat-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("old-{}.db", Uuid::new_v4().simple()));
    let url = format!("sqlite:{}?mode=rwc", path.display());
    let all = sqlx::migrate!("../migrations/sqlite");
    let mut before = sqlx::migrate!("../migrations/sqlite");
    before.migrations = all
        .migrations
        .iter()
        .filter(|m| m.version < 6)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let mut first = sqlx::SqliteConnection::connect(&url).await.unwrap();
    before.run(&mut first).await.unwrap();
    // A connection that has read the old schema, held open across the migration.
    let mut held = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("pragma foreign_keys = off")
        .execute(&mut held)
        .await
        .unwrap();
    let insert = |id: &str, kind: &str| {
        format!(
            "insert into documents (id, space_id, kind, title, archived, created_by, created_at, updated_at) \
             values ('{id}', x'00', '{kind}', 't', false, x'00', 0, 0)"
        )
    };
    assert!(
        sqlx::raw_sql(&insert("old-1", "sla-figures"))
            .execute(&mut held)
            .await
            .is_err(),
        "the old schema refuses the new kind"
    );
    sqlx::raw_sql(&insert("old-2", "sla"))
        .execute(&mut held)
        .await
        .unwrap();

    all.run(&mut first).await.unwrap();
    sqlx::raw_sql(&insert("new-1", "sla-figures"))
        .execute(&mut held)
        .await
        .unwrap();
    let refused = sqlx::raw_sql(&insert("new-2", "spreadsheet"))
        .execute(&mut held)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("CHECK"), "{refused}");
    let kinds: Vec<String> = sqlx::query_scalar("select kind from documents order by id")
        .fetch_all(&mut first)
        .await
        .unwrap();
    assert_eq!(kinds, ["sla-figures", "sla"]);
    let integrity: String = sqlx::query_scalar("pragma integrity_check")
        .fetch_one(&mut first)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(held);
    drop(first);
    let _ = std::fs::remove_file(&path);
}
