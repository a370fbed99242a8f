//! The workspace: organisations, partnerships and their memberships, and the spaces documents
//! live in.

use async_trait::async_trait;
use domain::{
    DocumentId, Grant, Membership, Millis, Organisation, Partnership, Space, SpaceOwner,
    access::Principal,
};
use uuid::Uuid;

use crate::{Result, StoreError, System};

/// What the caller brings to every access decision: their organisation's memberships and their
/// own grants (live or not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerContext {
    pub memberships: Vec<Membership>,
    pub grants: Vec<Grant>,
}

impl CallerContext {
    /// The caller organisation's membership of `partnership_id`, if it ever had one.
    pub fn membership(&self, org_id: Uuid, partnership_id: Uuid) -> Option<&Membership> {
        self.memberships
            .iter()
            .find(|m| m.partnership_id == partnership_id && m.org_id == org_id)
    }

    /// The caller's grants on one document.
    pub fn grants_on(&self, id: DocumentId) -> Vec<Grant> {
        self.grants
            .iter()
            .filter(|g| g.document_id == id)
            .cloned()
            .collect()
    }
}

/// A council's exit export: what it took with it when it left a partnership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitExport {
    pub id: Uuid,
    pub org_id: Uuid,
    pub partnership_id: Uuid,
    pub created_by: Uuid,
    pub created_at: Millis,
    /// The ZIP's size and SHA-256 (hex).
    pub bytes: i64,
    pub checksum: String,
}

/// Organisations, partnerships, memberships and spaces.
#[async_trait]
pub trait Workspace: Send + Sync {
    /// Creates an organisation and its private space.
    async fn create_organisation(
        &self,
        sys: System,
        org: &Organisation,
        space: &Space,
    ) -> Result<()>;
    async fn organisation_by_name(&self, sys: System, name: &str) -> Result<Option<Organisation>>;
    /// Creates a partnership, its shared space and its first (host) membership.
    async fn create_partnership(
        &self,
        sys: System,
        partnership: &Partnership,
        host: &Membership,
        space: &Space,
    ) -> Result<()>;
    async fn list_organisations(&self, p: &Principal) -> Result<Vec<Organisation>>;
    /// Every organisation's aliases: the short and old names partners' spreadsheets use for it
    /// ("EDC", "Eastbridge"), as (organisation id, alias).
    async fn organisation_aliases(&self, p: &Principal) -> Result<Vec<(Uuid, String)>>;
    /// Replaces an organisation's aliases. System work: the server has checked that the caller
    /// administers the organisation.
    async fn set_organisation_aliases(
        &self,
        sys: System,
        org: Uuid,
        aliases: &[String],
    ) -> Result<()>;
    async fn get_organisation(&self, p: &Principal, id: Uuid) -> Result<Option<Organisation>>;
    async fn list_partnerships(&self, p: &Principal) -> Result<Vec<Partnership>>;
    async fn get_partnership(
        &self,
        p: &Principal,
        id: Uuid,
    ) -> Result<Option<(Partnership, Vec<Membership>)>>;
    /// Adds an organisation to a partnership, or rejoins one that left (clearing `left_at`).
    async fn put_membership(&self, p: &Principal, m: &Membership) -> Result<()>;
    /// Marks a membership as ended. False if there was no active one.
    async fn end_membership(
        &self,
        p: &Principal,
        partnership_id: Uuid,
        org_id: Uuid,
        now: Millis,
    ) -> Result<bool>;
    async fn list_spaces(&self, p: &Principal, now: Millis) -> Result<Vec<Space>>;
    async fn get_space(&self, p: &Principal, id: Uuid, now: Millis) -> Result<Option<Space>>;
    async fn caller_context(&self, p: &Principal) -> Result<CallerContext>;

    // --- a council leaving ---
    /// Stores an exit export of the caller's own organisation (refused for another's, or for
    /// a guest).
    async fn create_exit_export(&self, p: &Principal, e: &ExitExport, data: &[u8]) -> Result<()>;
    /// The caller's organisation's exit exports, newest first (none for a guest).
    async fn list_exit_exports(&self, p: &Principal) -> Result<Vec<ExitExport>>;
    /// One of them with its ZIP.
    async fn get_exit_export(
        &self,
        p: &Principal,
        id: Uuid,
    ) -> Result<Option<(ExitExport, Vec<u8>)>>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct ExitRow {
    id: Uuid,
    org_id: Uuid,
    partnership_id: Uuid,
    created_by: Uuid,
    created_at: i64,
    bytes: i64,
    checksum: String,
}

impl From<ExitRow> for ExitExport {
    fn from(r: ExitRow) -> Self {
        ExitExport {
            id: r.id,
            org_id: r.org_id,
            partnership_id: r.partnership_id,
            created_by: r.created_by,
            created_at: r.created_at,
            bytes: r.bytes,
            checksum: r.checksum,
        }
    }
}

pub(crate) const EXIT_COLUMNS: &str =
    "id, org_id, partnership_id, created_by, created_at, bytes, checksum";

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

pub(crate) const MEMBERSHIP_COLUMNS: &str = "partnership_id, org_id, role, joined_at, left_at";

#[derive(sqlx::FromRow, serde::Deserialize)]
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

pub(crate) fn owner(org_id: Option<Uuid>, partnership_id: Option<Uuid>) -> Result<SpaceOwner> {
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

/// The caller's [`CallerContext`], read in transaction `$tx` (a user's: the policies and the
/// filters agree).
macro_rules! read_caller_context {
    ($tx:ident, $p:expr) => {{
        let memberships: Vec<$crate::workspace::MembershipRow> = sqlx::query_as(&format!(
            "select {} from partnership_members where org_id = $1",
            $crate::workspace::MEMBERSHIP_COLUMNS
        ))
        .bind($p.org_id)
        .fetch_all(&mut *$tx)
        .await?;
        let grants: Vec<$crate::sharing::GrantRow> = sqlx::query_as(&format!(
            "select {} from grants where user_id = $1",
            $crate::sharing::GRANT_COLUMNS
        ))
        .bind($p.user_id)
        .fetch_all(&mut *$tx)
        .await?;
        $crate::CallerContext {
            memberships: $crate::sql::convert(memberships)?,
            grants: $crate::sql::convert(grants)?,
        }
    }};
}
pub(crate) use read_caller_context;

/// Expands to `impl Workspace for $store` over database `$db`.
macro_rules! impl_workspace {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Workspace for $store {
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
                let row: Option<$crate::workspace::OrgRow> = sqlx::query_as(
                    "select id, name, kind, created_at from organisations where name = $1",
                )
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
                let org = with_domains(&mut tx, row.into_iter().collect()).await?.pop();
                tx.commit().await?;
                Ok(org)
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

            async fn list_organisations(
                &self,
                p: &domain::access::Principal,
            ) -> $crate::Result<Vec<domain::Organisation>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::workspace::OrgRow> =
                    sqlx::query_as("select id, name, kind, created_at from organisations order by name")
                        .fetch_all(&mut *tx)
                        .await?;
                let orgs = with_domains(&mut tx, rows).await?;
                tx.commit().await?;
                Ok(orgs)
            }

            async fn organisation_aliases(
                &self,
                p: &domain::access::Principal,
            ) -> $crate::Result<Vec<(uuid::Uuid, String)>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
                    "select org_id, alias from organisation_aliases order by org_id, alias",
                )
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn set_organisation_aliases(
                &self,
                sys: $crate::System,
                org: uuid::Uuid,
                aliases: &[String],
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                sqlx::query("delete from organisation_aliases where org_id = $1")
                    .bind(org)
                    .execute(&mut *tx)
                    .await?;
                for a in aliases {
                    sqlx::query("insert into organisation_aliases (org_id, alias) values ($1, $2)")
                        .bind(org)
                        .bind(a)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_organisation(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::Organisation>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::workspace::OrgRow> =
                    sqlx::query_as("select id, name, kind, created_at from organisations where id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let org = with_domains(&mut tx, row.into_iter().collect()).await?.pop();
                tx.commit().await?;
                Ok(org)
            }

            async fn list_partnerships(
                &self,
                p: &domain::access::Principal,
            ) -> $crate::Result<Vec<domain::Partnership>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::workspace::PartnershipRow> = sqlx::query_as(
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
                let row: Option<$crate::workspace::PartnershipRow> = sqlx::query_as(
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
                let members: Vec<$crate::workspace::MembershipRow> = sqlx::query_as(
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

            async fn list_spaces(&self, p: &domain::access::Principal, now: domain::Millis) -> $crate::Result<Vec<domain::Space>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::workspace::SpaceRow> = sqlx::query_as(concat!(
                    "select s.id, s.name, s.org_id, s.partnership_id from spaces s where ",
                    $crate::sql::reach!(),
                    " or s.id in (select space_id from grants where user_id = $3 and revoked_at is null \
                       and (expires_at is null or expires_at > $4)) order by s.name"
                ))
                .bind_visible(p, now)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::convert(rows)
            }

            async fn get_space(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
                now: domain::Millis,
            ) -> $crate::Result<Option<domain::Space>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::workspace::SpaceRow> = sqlx::query_as(concat!(
                    "select s.id, s.name, s.org_id, s.partnership_id from spaces s where (",
                    $crate::sql::reach!(),
                    " or s.id in (select space_id from grants where user_id = $3 and revoked_at is null \
                       and (expires_at is null or expires_at > $4))) and s.id = $5"
                ))
                .bind_visible(p, now)
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
                let ctx = $crate::workspace::read_caller_context!(tx, p);
                tx.commit().await?;
                Ok(ctx)
            }

            async fn create_exit_export(
                &self,
                p: &domain::access::Principal,
                e: &$crate::ExitExport,
                data: &[u8],
            ) -> $crate::Result<()> {
                let mut tx = self.user_tx(p, true).await?;
                let done = sqlx::query(
                    "insert into exit_exports (id, org_id, partnership_id, created_by, created_at, bytes, checksum, data) \
                     select $3, $1, $4, $5, $6, $7, $8, $9 where not $2 and $1 = $10",
                )
                .bind_reach(p)
                .bind(e.id)
                .bind(e.partnership_id)
                .bind(p.user_id)
                .bind(e.created_at)
                .bind(e.bytes)
                .bind(&e.checksum)
                .bind(data)
                .bind(e.org_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done != 1 {
                    return Err($crate::StoreError::Refused);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_exit_exports(
                &self,
                p: &domain::access::Principal,
            ) -> $crate::Result<Vec<$crate::ExitExport>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::workspace::ExitRow> = sqlx::query_as(&format!(
                    "select {} from exit_exports where org_id = $1 and not $2 order by created_at desc, id",
                    $crate::workspace::EXIT_COLUMNS
                ))
                .bind_reach(p)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn get_exit_export(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<($crate::ExitExport, Vec<u8>)>> {
                let mut tx = self.user_tx(p, false).await?;
                let found: Option<(uuid::Uuid, uuid::Uuid, uuid::Uuid, uuid::Uuid, i64, i64, String, Vec<u8>)> =
                    sqlx::query_as(&format!(
                        "select {}, data from exit_exports where org_id = $1 and not $2 and id = $3",
                        $crate::workspace::EXIT_COLUMNS
                    ))
                    .bind_reach(p)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(found.map(|(id, org_id, partnership_id, created_by, created_at, bytes, checksum, data)| {
                    (
                        $crate::ExitExport {
                            id,
                            org_id,
                            partnership_id,
                            created_by,
                            created_at,
                            bytes,
                            checksum,
                        },
                        data,
                    )
                }))
            }
        }

        async fn insert_space(
            tx: &mut sqlx::Transaction<'static, $db>,
            space: &domain::Space,
        ) -> $crate::Result<()> {
            let (org_id, partnership_id) = $crate::workspace::space_owner_columns(&space.owner);
            sqlx::query("insert into spaces (id, name, org_id, partnership_id) values ($1, $2, $3, $4)")
                .bind(space.id)
                .bind(&space.name)
                .bind(org_id)
                .bind(partnership_id)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Fills in the verified domains of organisations read from `rows`.
        async fn with_domains(
            tx: &mut sqlx::Transaction<'static, $db>,
            rows: Vec<$crate::workspace::OrgRow>,
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
    };
}
pub(crate) use impl_workspace;
