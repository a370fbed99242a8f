//! PostgreSQL's second wall: row-level security holds even for queries with no filter at all.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use domain::access::Principal;
use sqlx::Connection;
use sqlx::postgres::PgPoolOptions;
use store::{PgOptions, PostgresStore, Store, System};
use tests::{Backend, TestDb};

const TABLES: &[&str] = &[
    "organisations",
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
    let (u, _) = store
        .login_lookup(System::LOGIN, email)
        .await
        .unwrap()
        .unwrap();
    Principal {
        user_id: u.id,
        org_id: u.org_id,
        role: u.role,
        is_guest: u.is_guest,
    }
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
    let definer: i64 = sqlx::query_scalar(
        "select count(*) from pg_proc where prosecdef and pronamespace = 'public'::regnamespace",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(definer, 0, "no SECURITY DEFINER functions");
    // The store refuses to run as the owner, who row-level security would not hold... unless
    // FORCE applied; it refuses anyway, and as a superuser too.
    let as_owner = PostgresStore::open(&PgOptions {
        url: db.owner_url.clone(),
        max_connections: 1,
        allow_privileged_role: false,
    })
    .await;
    assert!(as_owner.is_err(), "store must refuse the owner role");
    let admin = tests::postgres_admin_url().await.unwrap();
    let as_super = PostgresStore::open(&PgOptions {
        url: admin,
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
            store::set_caller(&mut tx, &p).await.unwrap();
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
    assert_eq!(a_titles.len(), 5);
    assert!(a_titles.contains(&"Ashby corporate risk register".to_owned()));
    assert_eq!(a_chunks, 5);
    assert!(a_users.iter().all(|e| e.ends_with("@ashby.gov.uk")));
    let (b_titles, _, b_users) = titles_as(ben).await;
    assert!(!b_titles.contains(&"Ashby corporate risk register".to_owned()));
    assert!(b_titles.contains(&"Brockley exit planning register".to_owned()));
    assert!(b_users.iter().all(|e| e.ends_with("@brockley.gov.uk")));
    let (c_titles, c_chunks, _) = titles_as(carl).await;
    assert_eq!(c_titles, vec!["Carrow corporate risk register"]);
    assert_eq!(c_chunks, 1);

    // After those transactions the same connection carries no identity.
    let leftover: Option<String> =
        sqlx::query_scalar("select nullif(current_setting('concordat.user_id', true), '')")
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
        store::set_caller(&mut tx, &arun).await.unwrap();
        let id = sqlx::query_scalar("select id from spaces where org_id = $1")
            .bind(arun.org_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    let mut tx = pool.begin().await.unwrap();
    store::set_caller(&mut tx, &ben).await.unwrap();
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
        store::set_caller(&mut tx, &ben).await.unwrap();
        let n = sqlx::query("update documents set title = 'taken'")
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
        tx.rollback().await.unwrap();
        n
    };
    assert_eq!(
        updated, 5,
        "an unfiltered update touches only Brockley's reachable documents"
    );
    pool.close().await;
    db.drop_db().await;
}
