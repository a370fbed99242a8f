//! The SQL both backends share, written once.
//!
//! `impl_store!` expands to the whole `Store` implementation for one backend. The backend
//! supplies `user_tx` / `system_tx` (which open a transaction and, on PostgreSQL, set the caller
//! for row-level security) and `backend()`. Placeholders are `$N`, which both databases bind by
//! number; instants are integers (milliseconds), ids UUIDs, document ids text.
//!
//! Every user-scoped query repeats the access rule of `domain::access::decide` in SQL, so a
//! forgotten filter cannot exist: the filter is part of each statement's text.

use domain::{
    DocumentId, Grant, Invitation, Membership, Organisation, Partnership, Space, SpaceOwner, User,
};
use uuid::Uuid;

use crate::{Chunk, Document, DocumentRow, Result, Session, StoreError};

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

pub(crate) const DOC_COLUMNS: &str = "d.id, d.space_id, d.kind, d.title, d.archived, d.created_by, \
    d.created_at, d.updated_at, s.org_id as space_org_id, s.partnership_id as space_partnership_id";

#[derive(sqlx::FromRow)]
pub(crate) struct OrgRow {
    id: Uuid,
    name: String,
    kind: String,
    created_at: i64,
}

impl TryFrom<OrgRow> for Organisation {
    type Error = StoreError;
    fn try_from(r: OrgRow) -> Result<Self> {
        Ok(Organisation {
            id: r.id,
            name: r.name,
            kind: r.kind.parse()?,
            domains: Vec::new(),
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) id: Uuid,
    org_id: Uuid,
    email: String,
    display_name: String,
    role: String,
    is_guest: bool,
    disabled: bool,
    created_at: i64,
}

pub(crate) const USER_COLUMNS: &str =
    "id, org_id, email, display_name, role, is_guest, disabled, created_at";

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self> {
        Ok(User {
            id: r.id,
            org_id: r.org_id,
            email: r.email,
            display_name: r.display_name,
            role: r.role.parse()?,
            is_guest: r.is_guest,
            disabled: r.disabled,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LoginRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: Option<String>,
}

impl TryFrom<LoginRow> for (User, Option<String>) {
    type Error = StoreError;
    fn try_from(r: LoginRow) -> Result<Self> {
        Ok((r.user.try_into()?, r.password_hash))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    refresh_hash: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: r.id,
            user_id: r.user_id,
            refresh_hash: r.refresh_hash,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PartnershipRow {
    id: Uuid,
    name: String,
    legal_basis: String,
    review_date: Option<String>,
    notice_period_months: Option<i32>,
    created_at: i64,
}

impl TryFrom<PartnershipRow> for Partnership {
    type Error = StoreError;
    fn try_from(r: PartnershipRow) -> Result<Self> {
        let review_date = r
            .review_date
            .map(|d| {
                d.parse()
                    .map_err(|_| StoreError::Corrupt(format!("review date {d:?}")))
            })
            .transpose()?;
        Ok(Partnership {
            id: r.id,
            name: r.name,
            legal_basis: r.legal_basis.parse()?,
            review_date,
            notice_period_months: r.notice_period_months,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    partnership_id: Uuid,
    org_id: Uuid,
    role: String,
    joined_at: i64,
    left_at: Option<i64>,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;
    fn try_from(r: MembershipRow) -> Result<Self> {
        Ok(Membership {
            partnership_id: r.partnership_id,
            org_id: r.org_id,
            role: r.role.parse()?,
            joined_at: r.joined_at,
            left_at: r.left_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SpaceRow {
    id: Uuid,
    name: String,
    org_id: Option<Uuid>,
    partnership_id: Option<Uuid>,
}

fn owner(org_id: Option<Uuid>, partnership_id: Option<Uuid>) -> Result<SpaceOwner> {
    match (org_id, partnership_id) {
        (Some(org_id), None) => Ok(SpaceOwner::Private { org_id }),
        (None, Some(partnership_id)) => Ok(SpaceOwner::Partnership { partnership_id }),
        _ => Err(StoreError::Corrupt("space with no single owner".into())),
    }
}

impl TryFrom<SpaceRow> for Space {
    type Error = StoreError;
    fn try_from(r: SpaceRow) -> Result<Self> {
        Ok(Space {
            id: r.id,
            name: r.name,
            owner: owner(r.org_id, r.partnership_id)?,
        })
    }
}

pub(crate) fn space_owner_columns(owner: &SpaceOwner) -> (Option<Uuid>, Option<Uuid>) {
    match *owner {
        SpaceOwner::Private { org_id } => (Some(org_id), None),
        SpaceOwner::Partnership { partnership_id } => (None, Some(partnership_id)),
    }
}

fn document_id(s: &str) -> Result<DocumentId> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("document id {s:?}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct DocRow {
    id: String,
    space_id: Uuid,
    kind: String,
    title: String,
    archived: bool,
    created_by: Uuid,
    created_at: i64,
    updated_at: i64,
    space_org_id: Option<Uuid>,
    space_partnership_id: Option<Uuid>,
}

impl TryFrom<DocRow> for DocumentRow {
    type Error = StoreError;
    fn try_from(r: DocRow) -> Result<Self> {
        Ok(DocumentRow {
            document: Document {
                id: document_id(&r.id)?,
                space_id: r.space_id,
                kind: r.kind.parse()?,
                title: r.title,
                archived: r.archived,
                created_by: r.created_by,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
            owner: owner(r.space_org_id, r.space_partnership_id)?,
        })
    }
}

pub(crate) const GRANT_COLUMNS: &str =
    "id, document_id, user_id, role, expires_at, revoked_at, granted_by, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    id: Uuid,
    document_id: String,
    user_id: Uuid,
    role: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    granted_by: Uuid,
    created_at: i64,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self> {
        Ok(Grant {
            id: r.id,
            document_id: document_id(&r.document_id)?,
            user_id: r.user_id,
            role: r.role.parse()?,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            granted_by: r.granted_by,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct VersionRow {
    id: Uuid,
    document_id: String,
    label: String,
    heads: String,
    created_by: Uuid,
    created_at: i64,
}

impl TryFrom<VersionRow> for domain::Version {
    type Error = StoreError;
    fn try_from(r: VersionRow) -> Result<Self> {
        Ok(domain::Version {
            id: r.id,
            document_id: document_id(&r.document_id)?,
            label: r.label,
            heads: serde_json::from_str(&r.heads)
                .map_err(|e| StoreError::Corrupt(format!("version {}: heads: {e}", r.id)))?,
            created_by: r.created_by,
            created_at: r.created_at,
        })
    }
}

pub(crate) const INVITATION_COLUMNS: &str = "id, email, org_id, guest_org_id, role, expires_at, \
    grant_expires_at, accepted_at, revoked_at, created_by, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct InvitationRow {
    pub(crate) id: Uuid,
    email: String,
    org_id: Uuid,
    guest_org_id: Uuid,
    role: String,
    expires_at: i64,
    grant_expires_at: Option<i64>,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
    created_by: Uuid,
    created_at: i64,
}

impl InvitationRow {
    pub(crate) fn into_invitation(self, document_ids: Vec<String>) -> Result<Invitation> {
        Ok(Invitation {
            id: self.id,
            email: self.email,
            org_id: self.org_id,
            guest_org_id: self.guest_org_id,
            role: self.role.parse()?,
            document_ids: document_ids
                .iter()
                .map(|d| document_id(d))
                .collect::<Result<_>>()?,
            expires_at: self.expires_at,
            grant_expires_at: self.grant_expires_at,
            accepted_at: self.accepted_at,
            revoked_at: self.revoked_at,
            created_by: self.created_by,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChunkRow {
    seq: i64,
    kind: String,
    data: Vec<u8>,
}

impl TryFrom<ChunkRow> for Chunk {
    type Error = StoreError;
    fn try_from(r: ChunkRow) -> Result<Self> {
        let snapshot = match r.kind.as_str() {
            "snapshot" => true,
            "incremental" => false,
            other => return Err(StoreError::Corrupt(format!("chunk kind {other:?}"))),
        };
        Ok(Chunk {
            seq: r.seq,
            snapshot,
            data: r.data,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct StoredChunkRow {
    seq: i64,
    kind: String,
    data: Vec<u8>,
    checksum: Option<String>,
}

impl StoredChunkRow {
    /// The chunk, if its checksum matches (rows written before checksums existed have none).
    pub(crate) fn verified(self, doc: &DocumentId) -> Result<Chunk> {
        if let Some(sum) = &self.checksum
            && *sum != crate::checksum(&self.data)
        {
            return Err(StoreError::Corrupt(format!(
                "document {doc}: chunk {} fails its checksum",
                self.seq
            )));
        }
        Chunk::try_from(ChunkRow {
            seq: self.seq,
            kind: self.kind,
            data: self.data,
        })
    }
}

pub(crate) fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}

/// Expands to `impl Store for $store` over database `$db`.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                self.backend_kind()
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("select 1").execute(self.read_pool()).await?;
                Ok(())
            }

            async fn create_organisation(
                &self,
                sys: $crate::System,
                org: &domain::Organisation,
                space: &domain::Space,
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                sqlx::query("insert into organisations (id, name, kind, created_at) values ($1, $2, $3, $4)")
                    .bind(org.id)
                    .bind(&org.name)
                    .bind(org.kind.as_str())
                    .bind(org.created_at)
                    .execute(&mut *tx)
                    .await?;
                for d in &org.domains {
                    sqlx::query("insert into organisation_domains (domain, org_id) values ($1, $2)")
                        .bind(d)
                        .bind(org.id)
                        .execute(&mut *tx)
                        .await?;
                }
                insert_space(&mut tx, space).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn organisation_by_name(
                &self,
                sys: $crate::System,
                name: &str,
            ) -> $crate::Result<Option<domain::Organisation>> {
                let mut tx = self.system_tx(sys, false).await?;
                let row: Option<$crate::sql::OrgRow> = sqlx::query_as(
                    "select id, name, kind, created_at from organisations where name = $1",
                )
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
                let org = with_domains(&mut tx, row.into_iter().collect()).await?.pop();
                tx.commit().await?;
                Ok(org)
            }

            async fn create_user(&self, sys: $crate::System, u: &$crate::NewUser) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                insert_user(&mut tx, u).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_partnership(
                &self,
                sys: $crate::System,
                p: &domain::Partnership,
                host: &domain::Membership,
                space: &domain::Space,
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                sqlx::query(
                    "insert into partnerships (id, name, legal_basis, review_date, notice_period_months, created_at) \
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(p.id)
                .bind(&p.name)
                .bind(p.legal_basis.as_str())
                .bind(p.review_date.map(|d| d.to_string()))
                .bind(p.notice_period_months)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "insert into partnership_members (partnership_id, org_id, role, joined_at, left_at) \
                     values ($1, $2, $3, $4, null)",
                )
                .bind(host.partnership_id)
                .bind(host.org_id)
                .bind(host.role.as_str())
                .bind(host.joined_at)
                .execute(&mut *tx)
                .await?;
                insert_space(&mut tx, space).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn login_lookup(
                &self,
                sys: $crate::System,
                email: &str,
            ) -> $crate::Result<Option<(domain::User, Option<String>)>> {
                let mut tx = self.system_tx(sys, false).await?;
                let row: Option<$crate::sql::LoginRow> = sqlx::query_as(&format!(
                    "select {}, password_hash from users where email = $1",
                    $crate::sql::USER_COLUMNS
                ))
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn create_session(&self, sys: $crate::System, s: &$crate::Session) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                sqlx::query(
                    "insert into sessions (id, user_id, refresh_hash, created_at, expires_at, revoked_at) \
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(s.id)
                .bind(s.user_id)
                .bind(&s.refresh_hash)
                .bind(s.created_at)
                .bind(s.expires_at)
                .bind(s.revoked_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn refresh_session(
                &self,
                sys: $crate::System,
                old_hash: &str,
                new_hash: &str,
                now: domain::Millis,
            ) -> $crate::Result<$crate::Refresh> {
                let mut tx = self.system_tx(sys, true).await?;
                let rotated: Option<$crate::sql::SessionRow> = sqlx::query_as(
                    "update sessions set refresh_hash = $1 \
                     where refresh_hash = $2 and revoked_at is null and expires_at > $3 \
                     returning id, user_id, refresh_hash, created_at, expires_at, revoked_at",
                )
                .bind(new_hash)
                .bind(old_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = rotated {
                    let session: $crate::Session = row.into();
                    sqlx::query(
                        "insert into refresh_spent (hash, session_id, spent_at) values ($1, $2, $3)",
                    )
                    .bind(old_hash)
                    .bind(session.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok($crate::Refresh::Rotated(session));
                }
                let spent: Option<(uuid::Uuid,)> =
                    sqlx::query_as("select session_id from refresh_spent where hash = $1")
                        .bind(old_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((session_id,)) = spent else {
                    tx.commit().await?;
                    return Ok($crate::Refresh::Unknown);
                };
                sqlx::query("update sessions set revoked_at = $1 where id = $2 and revoked_at is null")
                    .bind(now)
                    .bind(session_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok($crate::Refresh::Reused(session_id))
            }

            async fn authenticate(
                &self,
                p: &domain::access::Principal,
                session_id: uuid::Uuid,
            ) -> $crate::Result<Option<(domain::User, $crate::Session)>> {
                let mut tx = self.user_tx(p, false).await?;
                let user: Option<$crate::sql::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where id = $1",
                    $crate::sql::USER_COLUMNS
                ))
                .bind(p.user_id)
                .fetch_optional(&mut *tx)
                .await?;
                let session: Option<$crate::sql::SessionRow> = sqlx::query_as(
                    "select id, user_id, refresh_hash, created_at, expires_at, revoked_at \
                     from sessions where id = $1 and user_id = $2",
                )
                .bind(session_id)
                .bind(p.user_id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                match (user, session) {
                    (Some(u), Some(s)) => Ok(Some((u.try_into()?, s.into()))),
                    _ => Ok(None),
                }
            }

            async fn revoke_session(
                &self,
                p: &domain::access::Principal,
                session_id: uuid::Uuid,
                now: domain::Millis,
            ) -> $crate::Result<()> {
                let mut tx = self.user_tx(p, true).await?;
                sqlx::query(
                    "update sessions set revoked_at = $1 where id = $2 and user_id = $3 and revoked_at is null",
                )
                .bind(now)
                .bind(session_id)
                .bind(p.user_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_organisations(
                &self,
                p: &domain::access::Principal,
            ) -> $crate::Result<Vec<domain::Organisation>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::sql::OrgRow> =
                    sqlx::query_as("select id, name, kind, created_at from organisations order by name")
                        .fetch_all(&mut *tx)
                        .await?;
                let orgs = with_domains(&mut tx, rows).await?;
                tx.commit().await?;
                Ok(orgs)
            }

            async fn get_organisation(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::Organisation>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::sql::OrgRow> =
                    sqlx::query_as("select id, name, kind, created_at from organisations where id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let org = with_domains(&mut tx, row.into_iter().collect()).await?.pop();
                tx.commit().await?;
                Ok(org)
            }

            async fn get_user(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::User>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::sql::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where id = $1 \
                     and (id = $3 or (org_id = $2 and not $4 and not is_guest))",
                    $crate::sql::USER_COLUMNS
                ))
                .bind(id)
                .bind(p.org_id)
                .bind(p.user_id)
                .bind(p.is_guest)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_users(&self, p: &domain::access::Principal) -> $crate::Result<Vec<domain::User>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::sql::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where org_id = $1 and not $2 and not is_guest \
                     order by display_name, email",
                    $crate::sql::USER_COLUMNS
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::convert(rows)
            }

            async fn add_user(
                &self,
                p: &domain::access::Principal,
                u: &$crate::NewUser,
            ) -> $crate::Result<()> {
                if u.user.org_id != p.org_id || !p.is_org_admin() || u.user.is_guest {
                    return Err($crate::StoreError::Refused);
                }
                let mut tx = self.user_tx(p, true).await?;
                // Only in the caller's own verified domains: an address elsewhere belongs to
                // someone this council cannot vouch for.
                let verified: Option<(i64,)> = sqlx::query_as(
                    "select cast(1 as bigint) from organisation_domains where org_id = $1 and domain = $2",
                )
                .bind(p.org_id)
                .bind(domain::validate::email_domain(&u.user.email).unwrap_or_default())
                .fetch_optional(&mut *tx)
                .await?;
                if verified.is_none() {
                    return Err($crate::StoreError::Refused);
                }
                insert_user(&mut tx, u).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_partnerships(
                &self,
                p: &domain::access::Principal,
            ) -> $crate::Result<Vec<domain::Partnership>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::sql::PartnershipRow> = sqlx::query_as(
                    "select id, name, legal_basis, review_date, notice_period_months, created_at \
                     from partnerships where id in \
                     (select partnership_id from partnership_members where org_id = $1) \
                     order by name",
                )
                .bind(p.org_id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::convert(rows)
            }

            async fn get_partnership(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<(domain::Partnership, Vec<domain::Membership>)>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::sql::PartnershipRow> = sqlx::query_as(
                    "select id, name, legal_basis, review_date, notice_period_months, created_at \
                     from partnerships where id = $1 and id in \
                     (select partnership_id from partnership_members where org_id = $2)",
                )
                .bind(id)
                .bind(p.org_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let members: Vec<$crate::sql::MembershipRow> = sqlx::query_as(
                    "select partnership_id, org_id, role, joined_at, left_at \
                     from partnership_members where partnership_id = $1 order by joined_at",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some((row.try_into()?, $crate::sql::convert(members)?)))
            }

            async fn put_membership(
                &self,
                p: &domain::access::Principal,
                m: &domain::Membership,
            ) -> $crate::Result<()> {
                let mut tx = self.user_tx(p, true).await?;
                // Only an active host council's admin may add members.
                let done = sqlx::query(
                    "insert into partnership_members (partnership_id, org_id, role, joined_at, left_at) \
                     select $1, $2, $3, $4, null where $5 and exists (select 1 from partnership_members h \
                        where h.partnership_id = $1 and h.org_id = $6 and h.role = 'host' and h.left_at is null) \
                     on conflict (partnership_id, org_id) do update \
                     set role = excluded.role, joined_at = excluded.joined_at, left_at = null",
                )
                .bind(m.partnership_id)
                .bind(m.org_id)
                .bind(m.role.as_str())
                .bind(m.joined_at)
                .bind(p.is_org_admin())
                .bind(p.org_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                if done == 0 {
                    return Err($crate::StoreError::Refused);
                }
                Ok(())
            }

            async fn end_membership(
                &self,
                p: &domain::access::Principal,
                partnership_id: uuid::Uuid,
                org_id: uuid::Uuid,
                now: domain::Millis,
            ) -> $crate::Result<bool> {
                let mut tx = self.user_tx(p, true).await?;
                // A council's admin may leave; the host's admin may remove anyone.
                let done = sqlx::query(
                    "update partnership_members set left_at = $1 \
                     where partnership_id = $2 and org_id = $3 and left_at is null and $4 \
                     and ($3 = $5 or exists (select 1 from partnership_members h \
                        where h.partnership_id = $2 and h.org_id = $5 and h.role = 'host' and h.left_at is null))",
                )
                .bind(now)
                .bind(partnership_id)
                .bind(org_id)
                .bind(p.is_org_admin())
                .bind(p.org_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(done == 1)
            }

            async fn list_spaces(&self, p: &domain::access::Principal) -> $crate::Result<Vec<domain::Space>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::sql::SpaceRow> = sqlx::query_as(concat!(
                    "select s.id, s.name, s.org_id, s.partnership_id from spaces s where ",
                    $crate::sql::reach!(),
                    " or s.id in (select space_id from grants where user_id = $3 and revoked_at is null \
                       and (expires_at is null or expires_at > $4)) order by s.name"
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(p.user_id)
                .bind(domain_now())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::convert(rows)
            }

            async fn get_space(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::Space>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::sql::SpaceRow> = sqlx::query_as(concat!(
                    "select s.id, s.name, s.org_id, s.partnership_id from spaces s where (",
                    $crate::sql::reach!(),
                    " or s.id in (select space_id from grants where user_id = $3 and revoked_at is null \
                       and (expires_at is null or expires_at > $4))) and s.id = $5"
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(p.user_id)
                .bind(domain_now())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn caller_context(
                &self,
                p: &domain::access::Principal,
            ) -> $crate::Result<$crate::CallerContext> {
                let mut tx = self.user_tx(p, false).await?;
                let memberships: Vec<$crate::sql::MembershipRow> = sqlx::query_as(
                    "select partnership_id, org_id, role, joined_at, left_at \
                     from partnership_members where org_id = $1",
                )
                .bind(p.org_id)
                .fetch_all(&mut *tx)
                .await?;
                let grants: Vec<$crate::sql::GrantRow> = sqlx::query_as(&format!(
                    "select {} from grants where user_id = $1",
                    $crate::sql::GRANT_COLUMNS
                ))
                .bind(p.user_id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::CallerContext {
                    memberships: $crate::sql::convert(memberships)?,
                    grants: $crate::sql::convert(grants)?,
                })
            }

            async fn create_document(
                &self,
                p: &domain::access::Principal,
                doc: &domain::Document,
                content: &[u8],
            ) -> $crate::Result<()> {
                let mut tx = self.user_tx(p, true).await?;
                let done = sqlx::query(concat!(
                    "insert into documents (id, space_id, kind, title, archived, created_by, created_at, updated_at) \
                     select $3, s.id, $4, $5, false, $6, $7, $7 from spaces s where s.id = $8 and ",
                    $crate::sql::reach!()
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(doc.id.to_string())
                .bind(doc.kind.as_str())
                .bind(&doc.title)
                .bind(p.user_id)
                .bind(doc.created_at)
                .bind(doc.space_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done != 1 {
                    return Err($crate::StoreError::Refused);
                }
                sqlx::query(
                    "insert into doc_chunks (document_id, seq, kind, data, checksum, created_at) \
                     values ($1, 0, 'snapshot', $2, $3, $4)",
                )
                .bind(doc.id.to_string())
                .bind(content)
                .bind($crate::checksum(content))
                .bind(doc.created_at)
                .execute(&mut *tx)
                .await?;
                // The server authored the initial content; no user may write as its actor.
                sqlx::query(
                    "insert into doc_actors (document_id, actor_id, user_id, created_at) values ($1, $2, $3, $4)",
                )
                .bind(doc.id.to_string())
                .bind(domain::schema::SERVER_ACTOR.as_slice())
                .bind(uuid::Uuid::nil())
                .bind(doc.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_document(
                &self,
                p: &domain::access::Principal,
                id: domain::DocumentId,
            ) -> $crate::Result<Option<$crate::DocumentRow>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::sql::DocRow> = sqlx::query_as(&format!(
                    "select {} from documents d join spaces s on s.id = d.space_id where {} and d.id = $5",
                    $crate::sql::DOC_COLUMNS,
                    $crate::sql::visible_doc!()
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(p.user_id)
                .bind(domain_now())
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_documents(
                &self,
                p: &domain::access::Principal,
                filter: &$crate::DocumentFilter,
                after: Option<&$crate::Cursor>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::DocumentRow>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::sql::DocRow> = sqlx::query_as(&format!(
                    "select {} from documents d join spaces s on s.id = d.space_id where {} \
                     and ($5 is null or d.space_id = $5) \
                     and ($6 is null or d.kind = $6) \
                     and ($7 or not d.archived) \
                     and ($8 is null or d.created_at > $8 or (d.created_at = $8 and d.id > $9)) \
                     order by d.created_at, d.id limit $10",
                    $crate::sql::DOC_COLUMNS,
                    $crate::sql::visible_doc!()
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(p.user_id)
                .bind(domain_now())
                .bind(filter.space_id)
                .bind(filter.kind.map(|k| k.as_str()))
                .bind(filter.include_archived)
                .bind(after.map(|c| c.created_at))
                .bind(after.map(|c| c.id.clone()))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::convert(rows)
            }

            async fn update_document(
                &self,
                p: &domain::access::Principal,
                id: domain::DocumentId,
                title: Option<&str>,
                archived: Option<bool>,
                now: domain::Millis,
            ) -> $crate::Result<bool> {
                let mut tx = self.user_tx(p, true).await?;
                let done = sqlx::query(concat!(
                    "update documents set title = coalesce($3, title), archived = coalesce($4, archived), \
                     updated_at = $5 where id = $6 and space_id in (select s.id from spaces s where ",
                    $crate::sql::reach!(),
                    ")"
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(title)
                .bind(archived)
                .bind(now)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(done == 1)
            }

            async fn load_chunks(
                &self,
                p: &domain::access::Principal,
                id: domain::DocumentId,
            ) -> $crate::Result<Vec<$crate::Chunk>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::sql::StoredChunkRow> = sqlx::query_as(concat!(
                    "select seq, kind, data, checksum from doc_chunks where document_id = $5 and seq >= \
                     coalesce((select max(seq) from doc_chunks where document_id = $5 and kind = 'snapshot'), 0) \
                     and exists (select 1 from documents d join spaces s on s.id = d.space_id where d.id = $5 and ",
                    $crate::sql::visible_doc!(),
                    ") order by seq"
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(p.user_id)
                .bind(domain_now())
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter().map(|r| r.verified(&id)).collect()
            }

            async fn document_authors(
                &self,
                p: &domain::access::Principal,
                id: domain::DocumentId,
            ) -> $crate::Result<Vec<$crate::Author>> {
                // A system transaction (users of other councils are outside the caller's
                // row-level security), so the statement itself checks the caller may see the
                // document.
                let mut tx = self.system_tx($crate::System::AUDIT, false).await?;
                let rows: Vec<(Vec<u8>, uuid::Uuid, Option<String>, Option<uuid::Uuid>, Option<String>)> =
                    sqlx::query_as(concat!(
                        "select a.actor_id, a.user_id, u.display_name, o.id, o.name from doc_actors a \
                         left join users u on u.id = a.user_id left join organisations o on o.id = u.org_id \
                         where a.document_id = $5 and exists (select 1 from documents d \
                         join spaces s on s.id = d.space_id where d.id = $5 and ",
                        $crate::sql::visible_doc!(),
                        ") order by a.created_at"
                    ))
                    .bind(p.org_id)
                    .bind(p.is_guest)
                    .bind(p.user_id)
                    .bind(domain_now())
                    .bind(id.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows
                    .into_iter()
                    .map(|(actor, user_id, name, org_id, org_name)| $crate::Author {
                        actor,
                        user_id,
                        display_name: name.unwrap_or_else(|| "Concordat (server)".to_owned()),
                        org_id,
                        org_name,
                    })
                    .collect())
            }

            async fn document_grantees(
                &self,
                p: &domain::access::Principal,
                id: domain::DocumentId,
            ) -> $crate::Result<Vec<$crate::Grantee>> {
                // As for authors: a system transaction whose statement checks the caller may
                // see the document.
                let mut tx = self.system_tx($crate::System::AUDIT, false).await?;
                let rows: Vec<(uuid::Uuid, String, String, Option<String>)> =
                    sqlx::query_as(concat!(
                        "select distinct u.id, u.display_name, u.email, o.name from grants g \
                         join users u on u.id = g.user_id left join organisations o on o.id = u.org_id \
                         where g.document_id = $5 and exists (select 1 from documents d \
                         join spaces s on s.id = d.space_id where d.id = $5 and ",
                        $crate::sql::visible_doc!(),
                        ")"
                    ))
                    .bind(p.org_id)
                    .bind(p.is_guest)
                    .bind(p.user_id)
                    .bind(domain_now())
                    .bind(id.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows
                    .into_iter()
                    .map(|(user_id, display_name, email, org_name)| $crate::Grantee {
                        user_id,
                        display_name,
                        email,
                        org_name,
                    })
                    .collect())
            }

            async fn create_version(
                &self,
                p: &domain::access::Principal,
                v: &domain::Version,
            ) -> $crate::Result<bool> {
                let mut tx = self.user_tx(p, true).await?;
                let heads = serde_json::to_string(&v.heads)
                    .map_err(|e| $crate::StoreError::Corrupt(e.to_string()))?;
                let done = sqlx::query(concat!(
                    "insert into doc_versions (id, document_id, label, heads, created_by, created_at) \
                     select $6, d.id, $7, $8, $3, $9 from documents d join spaces s on s.id = d.space_id \
                     where d.id = $5 and ",
                    $crate::sql::visible_doc!()
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(p.user_id)
                .bind(domain_now())
                .bind(v.document_id.to_string())
                .bind(v.id)
                .bind(&v.label)
                .bind(heads)
                .bind(v.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(done == 1)
            }

            async fn list_versions(
                &self,
                p: &domain::access::Principal,
                id: domain::DocumentId,
            ) -> $crate::Result<Vec<domain::Version>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::sql::VersionRow> = sqlx::query_as(concat!(
                    "select v.id, v.document_id, v.label, v.heads, v.created_by, v.created_at \
                     from doc_versions v join documents d on d.id = v.document_id \
                     join spaces s on s.id = d.space_id where v.document_id = $5 and ",
                    $crate::sql::visible_doc!(),
                    " order by v.created_at, v.id"
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(p.user_id)
                .bind(domain_now())
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::convert(rows)
            }

            async fn get_version(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::Version>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::sql::VersionRow> = sqlx::query_as(concat!(
                    "select v.id, v.document_id, v.label, v.heads, v.created_by, v.created_at \
                     from doc_versions v join documents d on d.id = v.document_id \
                     join spaces s on s.id = d.space_id where v.id = $5 and ",
                    $crate::sql::visible_doc!()
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(p.user_id)
                .bind(domain_now())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn load_content(
                &self,
                sys: $crate::System,
                id: domain::DocumentId,
            ) -> $crate::Result<Option<$crate::Content>> {
                let mut tx = self.system_tx(sys, false).await?;
                let exists: Option<(String,)> = sqlx::query_as("select kind from documents where id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((kind,)) = exists else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let rows: Vec<$crate::sql::StoredChunkRow> = sqlx::query_as(
                    "select seq, kind, data, checksum from doc_chunks where document_id = $1 and seq >= \
                     coalesce((select max(seq) from doc_chunks where document_id = $1 and kind = 'snapshot'), 0) \
                     order by seq",
                )
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
                let actors: Vec<(Vec<u8>, uuid::Uuid)> = sqlx::query_as(
                    "select actor_id, user_id from doc_actors where document_id = $1",
                )
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let chunks = rows
                    .into_iter()
                    .map(|r| r.verified(&id))
                    .collect::<$crate::Result<Vec<_>>>()?;
                Ok(Some($crate::Content {
                    kind: kind.parse().ok(),
                    chunks,
                    actors,
                }))
            }

            async fn append_changes(
                &self,
                sys: $crate::System,
                batch: &[$crate::Append],
                now: domain::Millis,
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                for append in batch {
                    let id = append.id.to_string();
                    sqlx::query(
                        "insert into doc_chunks (document_id, seq, kind, data, checksum, created_at) \
                         select $1, coalesce(max(seq), 0) + 1, 'incremental', $2, $3, $4 \
                         from doc_chunks where document_id = $1",
                    )
                    .bind(&id)
                    .bind(append.data.as_slice())
                    .bind($crate::checksum(&append.data))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    for (actor, user) in &append.actors {
                        sqlx::query(
                            "insert into doc_actors (document_id, actor_id, user_id, created_at) \
                             values ($1, $2, $3, $4) on conflict (document_id, actor_id) do nothing",
                        )
                        .bind(&id)
                        .bind(actor.as_slice())
                        .bind(user)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn compact(
                &self,
                sys: $crate::System,
                id: domain::DocumentId,
                snapshot: &[u8],
                now: domain::Millis,
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                sqlx::query(
                    "insert into doc_chunks (document_id, seq, kind, data, checksum, created_at) \
                     select $1, coalesce(max(seq), 0) + 1, 'snapshot', $2, $3, $4 \
                     from doc_chunks where document_id = $1",
                )
                .bind(id.to_string())
                .bind(snapshot)
                .bind($crate::checksum(snapshot))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "delete from doc_chunks where document_id = $1 and seq < \
                     (select max(seq) from doc_chunks where document_id = $1 and kind = 'snapshot')",
                )
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_grant(
                &self,
                p: &domain::access::Principal,
                g: &domain::Grant,
            ) -> $crate::Result<()> {
                let mut tx = self.user_tx(p, true).await?;
                let done = sqlx::query(concat!(
                    "insert into grants (id, document_id, space_id, user_id, role, expires_at, revoked_at, granted_by, created_at) \
                     select $3, d.id, d.space_id, $4, $5, $6, null, $7, $8 \
                     from documents d join spaces s on s.id = d.space_id where d.id = $9 and ",
                    $crate::sql::reach!()
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(g.id)
                .bind(g.user_id)
                .bind(g.role.as_str())
                .bind(g.expires_at)
                .bind(p.user_id)
                .bind(g.created_at)
                .bind(g.document_id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                if done != 1 {
                    return Err($crate::StoreError::Refused);
                }
                Ok(())
            }

            async fn list_grants(
                &self,
                p: &domain::access::Principal,
                document: domain::DocumentId,
            ) -> $crate::Result<Vec<domain::Grant>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::sql::GrantRow> = sqlx::query_as(&format!(
                    "select {} from grants g where g.document_id = $3 and g.space_id in \
                     (select s.id from spaces s where {}) order by g.created_at",
                    $crate::sql::GRANT_COLUMNS,
                    $crate::sql::reach!()
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(document.to_string())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::convert(rows)
            }

            async fn get_grant(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::Grant>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::sql::GrantRow> = sqlx::query_as(&format!(
                    "select {} from grants g where g.id = $3 and (g.user_id = $4 or g.space_id in \
                     (select s.id from spaces s where {}))",
                    $crate::sql::GRANT_COLUMNS,
                    $crate::sql::reach!()
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(id)
                .bind(p.user_id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn revoke_grant(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
                now: domain::Millis,
            ) -> $crate::Result<bool> {
                let mut tx = self.user_tx(p, true).await?;
                let done = sqlx::query(concat!(
                    "update grants set revoked_at = $3 where id = $4 and revoked_at is null \
                     and space_id in (select s.id from spaces s where ",
                    $crate::sql::reach!(),
                    ")"
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(done == 1)
            }

            async fn create_invitation(
                &self,
                p: &domain::access::Principal,
                inv: &domain::Invitation,
                token_hash: &str,
            ) -> $crate::Result<()> {
                if inv.org_id != p.org_id || p.is_guest {
                    return Err($crate::StoreError::Refused);
                }
                let mut tx = self.user_tx(p, true).await?;
                if !guest_org_may_hold(&mut tx, inv.guest_org_id, &inv.email).await? {
                    return Err($crate::StoreError::Refused);
                }
                sqlx::query(
                    "insert into invitations (id, token_hash, email, org_id, guest_org_id, role, expires_at, \
                     grant_expires_at, accepted_at, accepted_user_id, revoked_at, created_by, created_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, null, null, null, $9, $10)",
                )
                .bind(inv.id)
                .bind(token_hash)
                .bind(&inv.email)
                .bind(inv.org_id)
                .bind(inv.guest_org_id)
                .bind(inv.role.as_str())
                .bind(inv.expires_at)
                .bind(inv.grant_expires_at)
                .bind(p.user_id)
                .bind(inv.created_at)
                .execute(&mut *tx)
                .await?;
                for doc in &inv.document_ids {
                    // The inviter's council must reach each document's space.
                    let done = sqlx::query(concat!(
                        "insert into invitation_documents (invitation_id, document_id) \
                         select $3, d.id from documents d join spaces s on s.id = d.space_id \
                         where d.id = $4 and ",
                        $crate::sql::reach!()
                    ))
                    .bind(p.org_id)
                    .bind(p.is_guest)
                    .bind(inv.id)
                    .bind(doc.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if done != 1 {
                        return Err($crate::StoreError::Refused);
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_invitations(
                &self,
                p: &domain::access::Principal,
            ) -> $crate::Result<Vec<domain::Invitation>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::sql::InvitationRow> = sqlx::query_as(&format!(
                    "select {} from invitations where org_id = $1 and not $2 order by created_at desc",
                    $crate::sql::INVITATION_COLUMNS
                ))
                .bind(p.org_id)
                .bind(p.is_guest)
                .fetch_all(&mut *tx)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let docs = invitation_documents(&mut tx, row.id).await?;
                    out.push(row.into_invitation(docs)?);
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn revoke_invitation(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
                now: domain::Millis,
            ) -> $crate::Result<bool> {
                let mut tx = self.user_tx(p, true).await?;
                let done = sqlx::query(
                    "update invitations set revoked_at = $1 \
                     where id = $2 and org_id = $3 and not $4 and revoked_at is null and accepted_at is null",
                )
                .bind(now)
                .bind(id)
                .bind(p.org_id)
                .bind(p.is_guest)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(done == 1)
            }

            async fn accept_invitation(
                &self,
                sys: $crate::System,
                token_hash: &str,
                acceptor: Option<uuid::Uuid>,
                new_user: &$crate::NewUser,
                now: domain::Millis,
            ) -> $crate::Result<$crate::Acceptance> {
                let mut tx = self.system_tx(sys, true).await?;
                let row: Option<$crate::sql::InvitationRow> = sqlx::query_as(&format!(
                    "select {} from invitations where token_hash = $1 \
                     and accepted_at is null and revoked_at is null and expires_at > $2",
                    $crate::sql::INVITATION_COLUMNS
                ))
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    tx.commit().await?;
                    return Ok($crate::Acceptance::NotUsable);
                };
                let docs = invitation_documents(&mut tx, row.id).await?;
                let inv = row.into_invitation(docs)?;
                let existing: Option<$crate::sql::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where email = $1",
                    $crate::sql::USER_COLUMNS
                ))
                .bind(&inv.email)
                .fetch_optional(&mut *tx)
                .await?;
                let (user, created) = match existing {
                    // A link alone never attaches a grant to an existing account: its holder
                    // must be signed in as that account.
                    Some(u) if acceptor != Some(u.id) => {
                        tx.commit().await?;
                        return Ok($crate::Acceptance::SignInRequired);
                    }
                    Some(u) => (domain::User::try_from(u)?, false),
                    None if new_user.password_hash.is_none() => {
                        tx.commit().await?;
                        return Ok($crate::Acceptance::NeedsAccount);
                    }
                    // Checked again here: a domain verified since the invitation was made.
                    None if !guest_org_may_hold(&mut tx, inv.guest_org_id, &inv.email).await? => {
                        tx.commit().await?;
                        return Ok($crate::Acceptance::NotUsable);
                    }
                    None => {
                        let mut u = new_user.clone();
                        u.user.email = inv.email.clone();
                        u.user.org_id = inv.guest_org_id;
                        u.user.is_guest = true;
                        u.user.role = domain::OrgRole::Member;
                        insert_user(&mut tx, &u).await?;
                        (u.user, true)
                    }
                };
                for doc in &inv.document_ids {
                    sqlx::query(
                        "insert into grants (id, document_id, space_id, user_id, role, expires_at, revoked_at, granted_by, created_at) \
                         select $1, d.id, d.space_id, $2, $3, $4, null, $5, $6 from documents d where d.id = $7",
                    )
                    .bind(uuid::Uuid::new_v4())
                    .bind(user.id)
                    .bind(inv.role.as_str())
                    .bind(inv.grant_expires_at)
                    .bind(inv.created_by)
                    .bind(now)
                    .bind(doc.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("update invitations set accepted_at = $1, accepted_user_id = $2 where id = $3")
                    .bind(now)
                    .bind(user.id)
                    .bind(inv.id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok($crate::Acceptance::Accepted { user, created })
            }
        }

        async fn insert_space(
            tx: &mut sqlx::Transaction<'static, $db>,
            space: &domain::Space,
        ) -> $crate::Result<()> {
            let (org_id, partnership_id) = $crate::sql::space_owner_columns(&space.owner);
            sqlx::query("insert into spaces (id, name, org_id, partnership_id) values ($1, $2, $3, $4)")
                .bind(space.id)
                .bind(&space.name)
                .bind(org_id)
                .bind(partnership_id)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        async fn insert_user(
            tx: &mut sqlx::Transaction<'static, $db>,
            u: &$crate::NewUser,
        ) -> $crate::Result<()> {
            sqlx::query(
                "insert into users (id, org_id, email, display_name, password_hash, role, is_guest, disabled, created_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(u.user.id)
            .bind(u.user.org_id)
            .bind(&u.user.email)
            .bind(&u.user.display_name)
            .bind(u.password_hash.as_deref())
            .bind(u.user.role.as_str())
            .bind(u.user.is_guest)
            .bind(u.user.disabled)
            .bind(u.user.created_at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Whether a guest with address `email` may live in organisation `org_id`: it is a
        /// partner body (never a council), and the address is not in a domain another
        /// organisation has verified.
        async fn guest_org_may_hold(
            tx: &mut sqlx::Transaction<'static, $db>,
            org_id: uuid::Uuid,
            email: &str,
        ) -> $crate::Result<bool> {
            let ok: Option<(i64,)> = sqlx::query_as(
                "select cast(1 as bigint) from organisations o where o.id = $1 and o.kind = 'partner' \
                 and not exists (select 1 from organisation_domains od \
                                 where od.domain = $2 and od.org_id <> $1)",
            )
            .bind(org_id)
            .bind(domain::validate::email_domain(email).unwrap_or_default())
            .fetch_optional(&mut **tx)
            .await?;
            Ok(ok.is_some())
        }

        /// Fills in the verified domains of organisations read from `rows`.
        async fn with_domains(
            tx: &mut sqlx::Transaction<'static, $db>,
            rows: Vec<$crate::sql::OrgRow>,
        ) -> $crate::Result<Vec<domain::Organisation>> {
            let mut orgs: Vec<domain::Organisation> = $crate::sql::convert(rows)?;
            if orgs.is_empty() {
                return Ok(orgs);
            }
            let pairs: Vec<(uuid::Uuid, String)> = if let [one] = orgs.as_slice() {
                sqlx::query_as("select org_id, domain from organisation_domains where org_id = $1 order by domain")
                    .bind(one.id)
                    .fetch_all(&mut **tx)
                    .await?
            } else {
                sqlx::query_as("select org_id, domain from organisation_domains order by domain")
                    .fetch_all(&mut **tx)
                    .await?
            };
            for (org_id, d) in pairs {
                if let Some(o) = orgs.iter_mut().find(|o| o.id == org_id) {
                    o.domains.push(d);
                }
            }
            Ok(orgs)
        }

        async fn invitation_documents(
            tx: &mut sqlx::Transaction<'static, $db>,
            id: uuid::Uuid,
        ) -> $crate::Result<Vec<String>> {
            let rows: Vec<(String,)> = sqlx::query_as(
                "select document_id from invitation_documents where invitation_id = $1 order by document_id",
            )
            .bind(id)
            .fetch_all(&mut **tx)
            .await?;
            Ok(rows.into_iter().map(|(d,)| d).collect())
        }

        fn domain_now() -> domain::Millis {
            $crate::now_millis()
        }
    };
}
pub(crate) use impl_store;
