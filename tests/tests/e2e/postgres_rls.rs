//! PostgreSQL's second wall: row-level security holds even for queries with no filter at all.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use domain::access::Principal;
use sqlx::Connection;
use sqlx::postgres::PgPoolOptions;
use store::{PgOptions, PostgresStore, Store};
use tests::{Backend, TestDb};

const TABLES: &[&str] = &[
    "organisations",
    "organisation_domains",
    "users",
    "sessions",
    "partnerships",
    "partnership_members",
    "spaces",
    "documents",
    "doc_chunks",
    "grants",
    "invitations",
    "invitation_documents",
];

async fn principal(store: &dyn Store, email: &str) -> Principal {
    tests::principal(store, email).await
}

async fn setup() -> Option<(TestDb, std::sync::Arc<dyn Store>)> {
    tests::postgres_admin_url().await?;
    let db = TestDb::new(Backend::Postgres).await;
    let store = db.store().await;
    server::demo::seed(store.as_ref()).await.unwrap();
    Some((db, store))
}

#[tokio::test]
async fn app_role_is_not_owner_and_cannot_bypass() {
    let Some((db, _store)) = setup().await else {
        return;
    };
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let (user, superuser, bypass): (String, bool, bool) = sqlx::query_as(
        "select current_user::text, rolsuper, rolbypassrls from pg_roles where rolname = current_user",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(user, "concordat_app");
    assert!(!superuser && !bypass);
    for table in TABLES {
        let (owner, rls, force): (String, bool, bool) = sqlx::query_as(
            "select pg_get_userbyid(relowner)::text, relrowsecurity, relforcerowsecurity \
             from pg_class where relname = $1 and relkind = 'r'",
        )
        .bind(table)
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_ne!(owner, "concordat_app", "{table} owned by the app role");
        assert!(
            rls && force,
            "{table}: row level security {rls}, forced {force}"
        );
    }
    // The only definer functions: the two that derive a caller from a live session (the one
    // that starts a user's transaction, and the access decision, which reads each table as its
    // policy shows that caller), which pin their search path with pg_temp last, and the readers
    // of the context concordat_begin records, which set nothing (a SET clause costs every
    // policy evaluation) and name every relation, function, type and operator by its schema
    // instead (`the_app_role_cannot_shadow_what_the_policies_read` makes the attack).
    let mut definer: Vec<(String, String)> = sqlx::query_as(
        "select proname::text, coalesce(array_to_string(proconfig, ';'), '') from pg_proc \
         where prosecdef and pronamespace = 'public'::regnamespace",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    definer.sort();
    let pinned = "search_path=pg_catalog, public, pg_temp";
    assert_eq!(
        definer,
        [
            ("concordat_begin", pinned),
            ("concordat_document_access", pinned),
            ("concordat_granted_spaces", ""),
            ("concordat_is_guest", ""),
            ("concordat_org", ""),
            ("concordat_space_partnerships", ""),
            ("concordat_user", "")
        ]
        .map(|(n, c)| (n.to_owned(), c.to_owned()))
    );
    // Any function that pins a search path puts pg_temp last: a temporary table left on a
    // pooled connection is never read in place of the real one.
    let temp_first: Vec<String> = sqlx::query_scalar(
        "select proname::text from pg_proc where pronamespace = 'public'::regnamespace \
         and proconfig is not null \
         and not exists (select 1 from unnest(proconfig) c where c like 'search_path=%, pg_temp')",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(temp_first.is_empty(), "pg_temp not last in {temp_first:?}");
    // The store refuses to run as the owner, who row-level security would not hold... unless
    // FORCE applied; it refuses anyway, and as a superuser too.
    let as_owner = PostgresStore::open(&PgOptions {
        url: db.owner_url.clone(),
        system_url: db.system_url(),
        max_connections: 1,
        allow_privileged_role: false,
    })
    .await;
    assert!(as_owner.is_err(), "store must refuse the owner role");
    let admin = tests::postgres_admin_url().await.unwrap();
    let as_super = PostgresStore::open(&PgOptions {
        url: admin,
        system_url: db.system_url(),
        max_connections: 1,
        allow_privileged_role: false,
    })
    .await;
    assert!(as_super.is_err(), "store must refuse a superuser");
    let _ = c.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn no_identity_no_rows_and_no_leak_across_a_pooled_connection() {
    let Some((db, store)) = setup().await else {
        return;
    };
    let arun = principal(store.as_ref(), "arun@ashby.gov.uk").await;
    let ben = principal(store.as_ref(), "ben@brockley.gov.uk").await;
    let carl = principal(store.as_ref(), "carl@carrow.gov.uk").await;

    // One connection, so every transaction below reuses it.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let count_all = |table: &'static str| {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };
    for table in TABLES {
        assert_eq!(
            count_all(table).await,
            0,
            "{table}: rows with no identity set"
        );
    }

    let titles_as = |p: Principal| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            store::begin_as(&mut tx, &p).await.unwrap();
            // No WHERE clause: only row-level security filters.
            let mut t: Vec<String> = sqlx::query_scalar("select title from documents")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            let chunks: i64 = sqlx::query_scalar("select count(*) from doc_chunks")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            let users: Vec<String> = sqlx::query_scalar("select email from users")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            t.sort();
            (t, chunks, users)
        }
    };
    let (a_titles, a_chunks, a_users) = titles_as(arun).await;
    // Its private register and the partnership's five documents (the SLA's partners' figures
    // among them).
    assert_eq!(a_titles.len(), 6);
    assert!(a_titles.contains(&"Ashby corporate risk register".to_owned()));
    assert_eq!(a_chunks, 6);
    assert!(a_users.iter().all(|e| e.ends_with("@ashby.gov.uk")));
    let (b_titles, _, b_users) = titles_as(ben).await;
    assert!(!b_titles.contains(&"Ashby corporate risk register".to_owned()));
    assert!(b_titles.contains(&"Brockley exit planning register".to_owned()));
    assert!(b_users.iter().all(|e| e.ends_with("@brockley.gov.uk")));
    let (c_titles, c_chunks, _) = titles_as(carl).await;
    assert_eq!(c_titles, vec!["Carrow corporate risk register"]);
    assert_eq!(c_chunks, 1);

    // After those transactions the same connection carries no identity.
    let leftover: Option<uuid::Uuid> = sqlx::query_scalar("select concordat_user()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(leftover, None);
    for table in TABLES {
        assert_eq!(
            count_all(table).await,
            0,
            "{table}: rows after identities were used"
        );
    }

    // A write into another council's space is refused by the database itself.
    let a_space: uuid::Uuid = {
        let mut tx = pool.begin().await.unwrap();
        store::begin_as(&mut tx, &arun).await.unwrap();
        let id = sqlx::query_scalar("select id from spaces where org_id = $1")
            .bind(arun.org_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    let mut tx = pool.begin().await.unwrap();
    store::begin_as(&mut tx, &ben).await.unwrap();
    let planted = sqlx::query(
        "insert into documents (id, space_id, kind, title, archived, created_by, created_at, updated_at) \
         values ('planted', $1, 'meeting', 'planted', false, $2, 0, 0)",
    )
    .bind(a_space)
    .bind(ben.user_id)
    .execute(&mut *tx)
    .await;
    let err = planted.expect_err("row-level security refuses the insert");
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);
    let updated = {
        let mut tx = pool.begin().await.unwrap();
        store::begin_as(&mut tx, &ben).await.unwrap();
        let n = sqlx::query("update documents set title = 'taken'")
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
        tx.rollback().await.unwrap();
        n
    };
    assert_eq!(
        updated, 6,
        "an unfiltered update touches only Brockley's reachable documents"
    );
    pool.close().await;
    db.drop_db().await;
}

/// The access decision in one call (`concordat_document_access`, what a live connection and a
/// REST request on one document ask) answers exactly what the separate statements answer
/// (`get_document` and `caller_context`, each its own transaction): for every account, every
/// document and one that does not exist, at an instant before and one after a grant ends, with
/// a grant revoked, a council that has left the partnership, principals claiming another
/// council or account than their session's (where the memberships and grants read would
/// differ if either wall were missing), and a session that has been revoked.
#[tokio::test]
async fn the_access_call_answers_as_the_separate_statements() {
    let Some((db, store)) = setup().await else {
        return;
    };
    let store = store.as_ref();
    let now = store::now_millis();
    let alice = principal(store, "alice@ashby.gov.uk").await;
    let bella = principal(store, "bella@brockley.gov.uk").await;
    let grace = principal(store, "grace@riverside.org.uk").await;
    let all = store::DocumentFilter {
        include_archived: true,
        ..Default::default()
    };
    let mut docs: Vec<domain::DocumentId> = Vec::new();
    for (email, ..) in server::demo::ACCOUNTS {
        let p = principal(store, email).await;
        for row in store
            .list_documents(&p, &all, None, 1000, now)
            .await
            .unwrap()
        {
            if !docs.contains(&row.document.id) {
                docs.push(row.document.id);
            }
        }
    }
    assert_eq!(docs.len(), 8, "the demo's documents, each seen by someone");
    docs.push(domain::DocumentId::random());

    // Grace: a grant that ends a minute from now, and one revoked.
    let grant = |document_id, expires_at| domain::Grant {
        id: uuid::Uuid::new_v4(),
        document_id,
        user_id: grace.user_id,
        role: domain::GrantRole::Viewer,
        expires_at,
        revoked_at: None,
        granted_by: alice.user_id,
        created_at: now,
    };
    let ends = grant(docs[0], Some(now + 60_000));
    let revoked = grant(docs[1], None);
    for g in [&ends, &revoked] {
        store.create_grant(&alice, g).await.unwrap();
    }
    assert!(store.revoke_grant(&alice, revoked.id, now).await.unwrap());
    // Brockley leaves the partnership.
    let partnership = store.list_partnerships(&bella).await.unwrap().remove(0);
    assert!(
        store
            .end_membership(&bella, partnership.id, bella.org_id, now)
            .await
            .unwrap()
    );
    // A second partnership, Ashby's with Carrow, and a register in its space: Carrow's
    // sessions reach Ashby's membership of it, not of the first.
    let second = domain::Partnership {
        id: uuid::Uuid::new_v4(),
        name: "Ashby and Carrow".into(),
        legal_basis: domain::LegalBasis::InterAuthorityAgreement,
        review_date: None,
        notice_period_months: None,
        created_at: now,
    };
    let second_space = domain::Space {
        id: uuid::Uuid::new_v4(),
        name: "Ashby and Carrow (shared)".into(),
        owner: domain::SpaceOwner::Partnership {
            partnership_id: second.id,
        },
    };
    let member = |org_id, role| domain::Membership {
        partnership_id: second.id,
        org_id,
        role,
        joined_at: now,
        left_at: None,
    };
    store
        .create_partnership(
            store::System::PROVISION,
            &second,
            &member(alice.org_id, domain::MemberRole::Host),
            &second_space,
        )
        .await
        .unwrap();
    let carl = principal(store, "carl@carrow.gov.uk").await;
    store
        .put_membership(&alice, &member(carl.org_id, domain::MemberRole::Member))
        .await
        .unwrap();
    let register = domain::Document {
        id: domain::DocumentId::random(),
        space_id: second_space.id,
        kind: domain::DocumentKind::RiskRegister,
        title: "Ashby and Carrow risk register".into(),
        archived: false,
        created_by: alice.user_id,
        created_at: now,
        updated_at: now,
    };
    store
        .create_document(&alice, &register, &automerge::AutoCommit::new().save())
        .await
        .unwrap();
    docs.push(register.id);

    let mut callers = Vec::new();
    for (email, ..) in server::demo::ACCOUNTS {
        callers.push((email.to_string(), principal(store, email).await));
    }
    // Ben's session claiming Ashby: the first wall filters by the claim, the second by the
    // session; neither path may show more than both allow.
    let mut forged = principal(store, "ben@brockley.gov.uk").await;
    forged.org_id = alice.org_id;
    callers.push(("ben claiming Ashby".into(), forged));
    // Carl's session claiming Ashby: the memberships read are Ashby's, but only those in
    // partnerships Carrow's session reaches.
    let mut forged = carl;
    forged.org_id = alice.org_id;
    callers.push(("carl claiming Ashby".into(), forged));
    // Ben's session claiming Grace's account: her grants are on documents Ben does not reach.
    let mut forged = principal(store, "ben@brockley.gov.uk").await;
    forged.user_id = grace.user_id;
    callers.push(("ben claiming Grace".into(), forged));
    let carl = principal(store, "carl@carrow.gov.uk").await;
    store
        .revoke_session(&carl, carl.session_id, now)
        .await
        .unwrap();
    callers.push(("carl, session revoked".into(), carl));

    let sorted = |found: Option<(store::DocumentRow, store::CallerContext)>| {
        found.map(|(row, mut ctx)| {
            ctx.memberships
                .sort_by_key(|m| (m.partnership_id, m.org_id));
            ctx.grants.sort_by_key(|g| g.id);
            (row, ctx)
        })
    };
    let mut seen = 0;
    let mut with_left_membership = 0;
    let mut forged_seen = 0;
    for (who, p) in &callers {
        for at in [now, now + 120_000] {
            for &id in &docs {
                let one_call = sorted(store.document_access(p, id, at).await.unwrap());
                let separate = match store.get_document(p, id, at).await.unwrap() {
                    Some(row) => Some((row, store.caller_context(p).await.unwrap())),
                    None => None,
                };
                assert_eq!(one_call, sorted(separate), "{who}, document {id}, at {at}");
                if let Some((_, ctx)) = &one_call {
                    seen += 1;
                    forged_seen += usize::from(who.contains("claiming"));
                    with_left_membership +=
                        usize::from(ctx.memberships.iter().any(|m| m.left_at.is_some()));
                }
            }
        }
    }
    // The comparison covered real answers, not only refusals: each account's own documents,
    // Brockley's after it left (its ended membership in the context), Grace's grants.
    assert!(seen > 20, "only {seen} documents seen");
    assert!(with_left_membership > 0);
    assert!(forged_seen > 0, "no forged principal saw a document");
    db.drop_db().await;
}

/// The application role cannot forge its tenant context: not by setting the old settings, not
/// by writing the context table, not by becoming the system role, not by naming a session it
/// does not hold, and not by changing settings inside a legitimate transaction.
#[tokio::test]
async fn the_app_role_cannot_forge_its_tenant() {
    let Some((db, store)) = setup().await else {
        return;
    };
    let arun = principal(store.as_ref(), "arun@ashby.gov.uk").await;
    let ben = principal(store.as_ref(), "ben@brockley.gov.uk").await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let ashby_private = "Ashby corporate risk register";
    let titles = |sql: &'static str, bind: Option<uuid::Uuid>| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            let mut q = sqlx::query(sql);
            if let Some(b) = bind {
                q = q.bind(b);
            }
            let prep = q.execute(&mut *tx).await.map(|_| ());
            let t: Vec<String> = match prep {
                Ok(()) => sqlx::query_scalar("select title from documents")
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let _ = tx.rollback().await;
            t
        }
    };
    let mut attempts = 0;
    let mut leaks = 0;
    // The settings that used to carry the caller, set as the app role.
    for (sql, bind) in [
        ("select set_config('concordat.system', 'login', true)", None),
        (
            "select set_config('concordat.org_id', $1::text, true)",
            Some(arun.org_id),
        ),
        (
            "select set_config('concordat.user_id', $1::text, true)",
            Some(arun.user_id),
        ),
        // A session id that is not a live session.
        ("select concordat_begin($1)", Some(uuid::Uuid::new_v4())),
        // A user id passed where a session is expected.
        ("select concordat_begin($1)", Some(arun.user_id)),
    ] {
        attempts += 1;
        let seen = titles(sql, bind).await;
        if !seen.is_empty() {
            leaks += 1;
            eprintln!("{sql}: saw {seen:?}");
        }
    }
    // Writing the context, or taking the system role, is refused outright.
    for sql in [
        "insert into concordat_context values (pg_backend_pid(), transaction_timestamp(), \
         gen_random_uuid(), gen_random_uuid(), false, '{}', '{}')",
        "set role concordat_system",
        "set role concordat_owner",
    ] {
        attempts += 1;
        let mut tx = pool.begin().await.unwrap();
        if sqlx::query(sql).execute(&mut *tx).await.is_ok() {
            leaks += 1;
            eprintln!("{sql}: allowed");
        }
        let _ = tx.rollback().await;
    }
    // Inside Ben's own transaction, an injected setting names Ashby: still Brockley's view.
    attempts += 1;
    {
        let mut tx = pool.begin().await.unwrap();
        store::begin_as(&mut tx, &ben).await.unwrap();
        sqlx::query(
            "select set_config('concordat.org_id', $1::text, true), \
                    set_config('concordat.system', 'sync', true)",
        )
        .bind(arun.org_id)
        .execute(&mut *tx)
        .await
        .unwrap();
        let seen: Vec<String> = sqlx::query_scalar("select title from documents")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert!(seen.contains(&"Brockley exit planning register".to_owned()));
        if seen.iter().any(|t| t == ashby_private) {
            leaks += 1;
        }
        tx.rollback().await.unwrap();
    }
    // A revoked session gives nothing, even to its own user.
    attempts += 1;
    store
        .revoke_session(&arun, arun.session_id, store::now_millis())
        .await
        .unwrap();
    {
        let mut tx = pool.begin().await.unwrap();
        store::begin_as(&mut tx, &arun).await.unwrap();
        let n: i64 = sqlx::query_scalar("select count(*) from documents")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        if n != 0 {
            leaks += 1;
        }
        tx.rollback().await.unwrap();
    }
    eprintln!("forgery attempts: {attempts}, successes: {leaks}");
    assert_eq!(leaks, 0);
    pool.close().await;
    db.drop_db().await;
}

/// The functions the policies call run as the tables' owner, and a database may let the
/// application role create temporary tables, which PostgreSQL looks up before any other schema's
/// for a relation whose schema is not named (unless a search path puts pg_temp elsewhere). A temporary
/// `concordat_context` naming Ashby (granted to everyone, so the owner may read it), or temporary
/// `sessions` and `users` making up a session for Arun, must not stand in for what those
/// functions read: not with no caller, not inside Ben's own transaction, not with the default
/// search path nor with pg_temp put first — even where the database still lets the application
/// role make temporary tables (by default it may not).
#[tokio::test]
async fn the_app_role_cannot_shadow_what_the_policies_read() {
    let Some((db, store)) = setup().await else {
        return;
    };
    let arun = principal(store.as_ref(), "arun@ashby.gov.uk").await;
    let ben = principal(store.as_ref(), "ben@brockley.gov.uk").await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let ashby_private = "Ashby corporate risk register";
    let forged_session = uuid::Uuid::new_v4();
    let shadow_context = format!(
        "create temp table concordat_context (pid int, xact_start timestamptz, user_id uuid, \
         org_id uuid, is_guest boolean, space_partnerships uuid[], granted_spaces uuid[]); \
         grant select on concordat_context to public; \
         insert into concordat_context values (pg_backend_pid(), transaction_timestamp(), \
         '{}', '{}', false, '{{}}', '{{}}')",
        arun.user_id, arun.org_id
    );
    let shadow_session = format!(
        "create temp table sessions (id uuid, user_id uuid, refresh_hash text, created_at bigint, \
         expires_at bigint, revoked_at bigint); \
         create temp table users (id uuid, org_id uuid, is_guest boolean, disabled boolean); \
         grant select on sessions, users to public; \
         insert into sessions values ('{forged_session}', '{}', 'x', 0, 9000000000000, null); \
         insert into users values ('{}', '{}', false, false); \
         select concordat_begin('{forged_session}')",
        arun.user_id, arun.user_id, arun.org_id
    );
    // By default the application role may not make a temporary table at all (0019) …
    {
        let mut tx = pool.begin().await.unwrap();
        let made = sqlx::query("create temp table t (x int)")
            .execute(&mut *tx)
            .await;
        assert!(made.is_err(), "the app role made a temporary table");
        let _ = tx.rollback().await;
    }
    // … but a deployment's database may still grant it (TEMPORARY is every role's by
    // default on a new database): the functions must hold without that layer.
    let mut owner = sqlx::PgConnection::connect(&db.owner_url).await.unwrap();
    sqlx::raw_sql(
        "do $$ begin execute format('grant temporary on database %I to concordat_app', \
         current_database()); end $$",
    )
    .execute(&mut owner)
    .await
    .unwrap();
    let _ = owner.close().await;
    // A fresh connection, so nothing of the refused attempt is left on it.
    pool.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let mut attempts = 0;
    let mut leaks = 0;
    for path in [
        None,
        Some("pg_temp, public"),
        Some("pg_temp, pg_catalog, public"),
    ] {
        for as_ben in [false, true] {
            for shadow in [&shadow_context, &shadow_session] {
                attempts += 1;
                let mut tx = pool.begin().await.unwrap();
                if as_ben {
                    store::begin_as(&mut tx, &ben).await.unwrap();
                }
                if let Some(path) = path {
                    sqlx::query(&format!("set local search_path = {path}"))
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
                // Every statement the attacker may run is allowed; the shadows are simply
                // not what the policies read.
                sqlx::raw_sql(shadow).execute(&mut *tx).await.unwrap();
                let seen: Vec<String> = sqlx::query_scalar("select title from public.documents")
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap();
                // Ben's own view replaced by a shadow is a success for the attack too.
                let lost_own = as_ben
                    && shadow == &shadow_context
                    && !seen.iter().any(|t| t == "Brockley exit planning register");
                if lost_own || seen.iter().any(|t| t == ashby_private) {
                    leaks += 1;
                    eprintln!("search path {path:?}, as Ben {as_ben}: saw {seen:?}");
                }
                tx.rollback().await.unwrap();
            }
        }
    }
    eprintln!("shadowing attempts: {attempts}, successes: {leaks}");
    assert_eq!(leaks, 0);
    pool.close().await;
    db.drop_db().await;
}

/// The application role can create nothing in the database: not a temporary table (PostgreSQL
/// grants that to every role on a new database) and not a table or function in the public
/// schema (PostgreSQL before 15 granted that to every role; granted here before the migrations
/// run, as an older server would have).
#[tokio::test]
async fn the_app_role_creates_nothing() {
    let Some(admin) = tests::postgres_admin_url().await else {
        return;
    };
    let db = TestDb::new(Backend::Postgres).await;
    let on_db = format!("{}/{}", admin.rsplit_once('/').unwrap().0, db.name());
    let mut c = sqlx::PgConnection::connect(&on_db).await.unwrap();
    sqlx::raw_sql("grant create on schema public to public")
        .execute(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;
    let store = db.store().await;
    server::demo::seed(store.as_ref()).await.unwrap();
    let mut app = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut made = Vec::new();
    for sql in [
        "create temp table t (x int)",
        "create table public.t (x int)",
        "create function public.array_agg(uuid) returns uuid[] language sql \
         as 'select array[$1]'",
        "create view public.v as select 1",
    ] {
        if sqlx::raw_sql(sql).execute(&mut app).await.is_ok() {
            made.push(sql);
        }
    }
    assert!(made.is_empty(), "the app role made {made:?}");
    let _ = app.close().await;
    db.drop_db().await;
}

/// Each policy is for one kind of role (migration 0020): the tenant policies for concordat_app,
/// with no arm testing for the system (PostgreSQL would plan and start it for every caller);
/// one policy per table for concordat_system and the owner, letting every row through. No
/// policy is for everyone, so a role that is neither — granted `select` on every table, as a
/// reporting role might be — reads no row of any of them.
#[tokio::test]
async fn each_policy_is_for_one_kind_of_role() {
    let Some((db, _store)) = setup().await else {
        return;
    };
    let admin = tests::postgres_admin_url().await.unwrap();
    let on_db = format!("{}/{}", admin.rsplit_once('/').unwrap().0, db.name());
    let mut c = sqlx::PgConnection::connect(&on_db).await.unwrap();
    let forced: Vec<String> = sqlx::query_scalar(
        "select relname::text from pg_class where relnamespace = 'public'::regnamespace \
         and relkind = 'r' and relforcerowsecurity order by 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(forced.len() >= 20, "{forced:?}");
    type Policy = (String, String, Vec<String>, Option<String>, Option<String>);
    let policies: Vec<Policy> = sqlx::query_as(
        "select tablename::text, policyname::text, roles::text[], qual, with_check \
             from pg_policies where schemaname = 'public' order by 1, 2",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut wrong = Vec::new();
    for (table, name, roles, qual, check) in &policies {
        let mut roles = roles.clone();
        roles.sort();
        let exprs = [qual.as_deref(), check.as_deref()];
        let ok = if roles == ["concordat_app"] {
            exprs
                .iter()
                .flatten()
                .all(|e| !e.contains("concordat_is_system"))
        } else if roles == ["concordat_owner", "concordat_system"] {
            exprs.iter().flatten().all(|e| *e == "true")
        } else {
            false
        };
        if !ok {
            wrong.push(format!(
                "{table}.{name} for {roles:?}: {qual:?} / {check:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "policies of the wrong shape: {wrong:#?}");
    let without_system: Vec<&String> = forced
        .iter()
        .filter(|t| {
            !policies
                .iter()
                .any(|(pt, _, roles, ..)| pt == *t && roles.iter().any(|r| r == "concordat_system"))
        })
        .collect();
    assert!(
        without_system.is_empty(),
        "no policy for the system on {without_system:?}"
    );

    // A role that is neither reads nothing, whatever it is granted.
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let other = format!("concordat_t_reader_{tag}");
    sqlx::raw_sql(&format!(
        "create role {other} login; grant usage on schema public to {other}; \
         grant select on all tables in schema public to {other}"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    let host = db.url.rsplit_once('@').map(|(_, h)| h.to_owned()).unwrap();
    let mut reader = sqlx::PgConnection::connect(&format!("postgres://{other}@{host}"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for table in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut reader)
            .await
            .unwrap();
        if n > 0 {
            seen.push((table, n));
        }
    }
    assert!(seen.is_empty(), "a role that is neither read {seen:?}");
    // The owner still reads them all (the demo's rows), through its own policy.
    let mut owner = sqlx::PgConnection::connect(&db.owner_url).await.unwrap();
    let docs: i64 = sqlx::query_scalar("select count(*) from documents")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert!(docs >= 8, "the owner reads {docs} documents");
    let _ = owner.close().await;
    let _ = reader.close().await;
    sqlx::raw_sql(&format!("drop owned by {other}; drop role {other}"))
        .execute(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;
    db.drop_db().await;
}

/// The README's deployment: the store logs in as members of concordat_app and of
/// concordat_system, not as those roles themselves. The policies (for concordat_app, for
/// concordat_system and the owner, migration 0020) hold for members as for the roles: each
/// account lists the documents it lists through concordat_app, and the access decision answers
/// the same.
#[tokio::test]
async fn members_of_the_roles_are_served_as_the_roles() {
    let Some((db, store)) = setup().await else {
        return;
    };
    let admin = tests::postgres_admin_url().await.unwrap();
    let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (web, sys) = (
        format!("concordat_t_web_{tag}"),
        format!("concordat_t_sys_{tag}"),
    );
    sqlx::raw_sql(&format!(
        "create role {web} login in role concordat_app; \
         create role {sys} login in role concordat_system"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    let host = db.url.rsplit_once('@').map(|(_, h)| h.to_owned()).unwrap();
    let members: std::sync::Arc<dyn Store> = std::sync::Arc::new(
        PostgresStore::open(&PgOptions {
            url: format!("postgres://{web}@{host}"),
            system_url: format!("postgres://{sys}@{host}"),
            max_connections: 2,
            allow_privileged_role: false,
        })
        .await
        .unwrap(),
    );
    let now = store::now_millis();
    let all = store::DocumentFilter {
        include_archived: true,
        ..Default::default()
    };
    let mut listed = 0;
    for (email, ..) in server::demo::ACCOUNTS {
        // Signed in through the members' store: its system role looks the account up.
        let p = principal(members.as_ref(), email).await;
        let ids = |rows: Vec<store::DocumentRow>| {
            let mut ids: Vec<String> = rows.iter().map(|r| r.document.id.to_string()).collect();
            ids.sort();
            ids
        };
        let mine = ids(members
            .list_documents(&p, &all, None, 1000, now)
            .await
            .unwrap());
        let theirs = ids(store
            .list_documents(&p, &all, None, 1000, now)
            .await
            .unwrap());
        assert_eq!(mine, theirs, "{email}");
        listed += mine.len();
        for id in &mine {
            let id: domain::DocumentId = id.parse().unwrap();
            let a = members.document_access(&p, id, now).await.unwrap();
            let b = store.document_access(&p, id, now).await.unwrap();
            assert!(a.is_some(), "{email}: {id} listed but not opened");
            assert_eq!(
                a.map(|(row, _)| row.document.id),
                b.map(|(row, _)| row.document.id)
            );
        }
    }
    assert!(listed > 8, "only {listed} documents listed");
    drop(members);
    db.drop_db().await;
    for role in [&web, &sys] {
        let _ = sqlx::raw_sql(&format!("drop role if exists {role}"))
            .execute(&mut c)
            .await;
    }
    let _ = c.close().await;
}

/// Only system work makes a platform operator: inside the app role's own transactions, a user
/// updating their own row (which the policies allow) and an organisation's admin adding a
/// colleague (likewise) are refused as soon as they touch the flag.
#[tokio::test]
async fn the_app_role_cannot_make_an_operator() {
    let Some((db, store)) = setup().await else {
        return;
    };
    // Bella administers Brockley and is not the operator (the demo's Alice is).
    let bella = principal(store.as_ref(), "bella@brockley.gov.uk").await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let run = |sql: String, binds: Vec<uuid::Uuid>| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            store::begin_as(&mut tx, &bella).await.unwrap();
            let mut q = sqlx::query(&sql);
            for b in binds {
                q = q.bind(b);
            }
            let done = q.execute(&mut *tx).await.map(|r| r.rows_affected());
            let _ = tx.rollback().await;
            done
        }
    };
    // The policies let Bella change her own row and add a colleague …
    let own = run(
        "update users set display_name = 'Bella O.' where id = $1".into(),
        vec![bella.user_id],
    );
    assert_eq!(own.await.unwrap(), 1);
    let insert = "insert into users (id, org_id, email, display_name, role, is_guest, disabled, \
                  created_at, platform_operator) values ($1, $2, 'new@brockley.gov.uk', 'New', \
                  'member', false, false, 1, ";
    let colleague = run(
        format!("{insert}false)"),
        vec![uuid::Uuid::new_v4(), bella.org_id],
    );
    assert_eq!(colleague.await.unwrap(), 1);
    // … but not the operator's flag, on either path.
    let promote = run(
        "update users set platform_operator = true where id = $1".into(),
        vec![bella.user_id],
    );
    let err = promote.await.unwrap_err().to_string();
    assert!(err.contains("platform_operator"), "{err}");
    let operator = run(
        format!("{insert}true)"),
        vec![uuid::Uuid::new_v4(), bella.org_id],
    );
    let err = operator.await.unwrap_err().to_string();
    assert!(err.contains("platform_operator"), "{err}");
    pool.close().await;
    db.drop_db().await;
}

/// The start-up check refuses an application role that is a member of the tables' owner, of a
/// BYPASSRLS role or of concordat_system, and a system role that is not one.
#[tokio::test]
async fn start_up_refuses_roles_that_would_bypass_the_wall() {
    let Some((db, _store)) = setup().await else {
        return;
    };
    let admin = tests::postgres_admin_url().await.unwrap();
    let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let host = db.url.rsplit_once('@').map(|(_, h)| h.to_owned()).unwrap();
    let bypass = format!("concordat_t_grp_{tag}");
    sqlx::raw_sql(&format!("create role {bypass} nologin bypassrls"))
        .execute(&mut c)
        .await
        .unwrap();
    let mut roles = vec![bypass.clone()];
    let cases = [
        ("owner", "concordat_app, concordat_owner"),
        ("bypass", &*format!("concordat_app, {bypass}")),
        ("system", "concordat_app, concordat_system"),
    ];
    for (what, groups) in cases {
        let role = format!("concordat_t_{what}_{tag}");
        sqlx::raw_sql(&format!("create role {role} login in role {groups}"))
            .execute(&mut c)
            .await
            .unwrap();
        roles.push(role.clone());
        let opened = PostgresStore::open(&PgOptions {
            url: format!("postgres://{role}@{host}"),
            system_url: db.system_url(),
            max_connections: 1,
            allow_privileged_role: false,
        })
        .await;
        let err = opened.expect_err(what).to_string();
        assert!(err.contains("bypass row-level security"), "{what}: {err}");
    }
    // The app role itself is fine; as the system role it is refused.
    let plain = PostgresStore::open(&PgOptions {
        url: db.url.clone(),
        system_url: db.system_url(),
        max_connections: 1,
        allow_privileged_role: false,
    })
    .await;
    assert!(plain.is_ok(), "{:?}", plain.err());
    let wrong_system = PostgresStore::open(&PgOptions {
        url: db.url.clone(),
        system_url: db.url.clone(),
        max_connections: 1,
        allow_privileged_role: false,
    })
    .await
    .expect_err("the app role is not a system role")
    .to_string();
    assert!(wrong_system.contains("concordat_system"), "{wrong_system}");
    db.drop_db().await;
    for role in roles.iter().rev() {
        let _ = sqlx::raw_sql(&format!("drop role if exists {role}"))
            .execute(&mut c)
            .await;
    }
}
