//! The SQL both backends share, written once.
//!
//! Each area of the store (`accounts`, `workspace`, `documents`, `chunks`, `sharing`) declares
//! its trait and an `impl_<area>!` macro holding its SQL; [`impl_store!`] expands all of them
//! for one backend. The backend supplies `user_tx` / `system_tx` (which open a transaction and,
//! on PostgreSQL, set the caller for row-level security), `read_pool`, `system_reads` (system
//! reads outside a transaction), `backend_kind`, and
//! `lock_documents` / `insert_increments` / `announce` (on PostgreSQL, per-document advisory
//! locks, one multi-row insert and `NOTIFY`).
//! Placeholders are `$N`, which both databases bind by number; instants are integers
//! (milliseconds), ids UUIDs, document ids text.
//!
//! Why macros and not functions generic over `sqlx::Database`: each such function would carry
//! a bound per bound type, per row type and per executor, longer than its query; the macro's
//! body is checked by the compiler once per backend all the same.
//!
//! Every user-scoped query repeats the access rule of `domain::access::decide` in SQL, so a
//! forgotten filter cannot exist: the filter is part of each statement's text, and the caller
//! is bound to it by one helper, [`BindCaller`]. Every method takes the instant it decides for
//! (`now`): the store never reads the clock.

use domain::{Millis, access::Principal};
use sqlx::query::{Query, QueryAs};
use sqlx::{Database, Encode, Type};
use uuid::Uuid;

use crate::{Result, StoreError};

/// The caller's council reaches space `s`: its private space, or a partnership's shared space
/// where it is an active host or member. Never for guests. Binds $1 = org id, $2 = is_guest.
macro_rules! reach {
    () => {
        "(not $2 and (s.org_id = $1 or s.partnership_id in (\
            select partnership_id from partnership_members \
            where org_id = $1 and role in ('host', 'member') and left_at is null)))"
    };
}

/// Document `d` is granted to the caller by a live grant. Binds $3 = user id, $4 = now.
macro_rules! granted {
    () => {
        "d.id in (select document_id from grants \
            where user_id = $3 and revoked_at is null and (expires_at is null or expires_at > $4))"
    };
}

/// The caller may see document `d` in space `s`. Binds $1..$4.
macro_rules! visible_doc {
    () => {
        concat!(
            "(",
            $crate::sql::reach!(),
            " or ",
            $crate::sql::granted!(),
            ")"
        )
    };
}
pub(crate) use {granted, reach, visible_doc};

/// Binds the caller for the access fragments above, always in the same positions, so that no
/// statement binds them by hand: [`reach`] reads `$1` (the caller's organisation) and `$2`
/// (whether they are a guest); [`granted`] and [`visible_doc`] also read `$3` (the caller's
/// user id) and `$4` (the instant decided for: grants expire). A statement's own parameters
/// follow, from `$3` or `$5`.
pub(crate) trait BindCaller: Sized {
    /// Binds `$1` and `$2`, for [`reach`].
    fn bind_reach(self, p: &Principal) -> Self;
    /// Binds `$1` to `$4`, for [`visible_doc`] and [`granted`].
    fn bind_visible(self, p: &Principal, now: Millis) -> Self;
}

impl<'q, DB: Database> BindCaller for Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    Uuid: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    fn bind_reach(self, p: &Principal) -> Self {
        self.bind(p.org_id).bind(p.is_guest)
    }
    fn bind_visible(self, p: &Principal, now: Millis) -> Self {
        self.bind_reach(p).bind(p.user_id).bind(now)
    }
}

impl<'q, DB: Database, O> BindCaller for QueryAs<'q, DB, O, <DB as Database>::Arguments<'q>>
where
    Uuid: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    fn bind_reach(self, p: &Principal) -> Self {
        self.bind(p.org_id).bind(p.is_guest)
    }
    fn bind_visible(self, p: &Principal, now: Millis) -> Self {
        self.bind_reach(p).bind(p.user_id).bind(now)
    }
}

pub(crate) fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}

/// Expands to the whole store for `$store` over database `$db`: every area's trait and
/// [`Store`](crate::Store) itself.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        use $crate::sql::BindCaller as _;

        $crate::accounts::impl_accounts!($store, $db);
        $crate::workspace::impl_workspace!($store, $db);
        $crate::documents::impl_documents!($store, $db);
        $crate::chunks::impl_chunks!($store, $db);
        $crate::sharing::impl_sharing!($store, $db);
        $crate::sso::impl_sso!($store, $db);

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                self.backend_kind()
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("select 1").execute(self.read_pool()).await?;
                Ok(())
            }

            async fn probe_write(&self, node: &str, now: domain::Millis) -> $crate::Result<()> {
                let mut tx = self.system_tx($crate::System::READINESS, true).await?;
                sqlx::query(
                    "insert into node_heartbeats (node, at) values ($1, $2) \
                     on conflict (node) do update set at = excluded.at",
                )
                .bind(node)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn backup(&self, to: &std::path::Path) -> $crate::Result<()> {
                self.backup_into(to).await
            }

            fn cluster(&self) -> Option<&dyn $crate::Cluster> {
                self.cluster_handle()
            }

            async fn checkpoint(&self) -> $crate::Result<()> {
                self.checkpoint_log().await
            }
        }
    };
}
pub(crate) use impl_store;
