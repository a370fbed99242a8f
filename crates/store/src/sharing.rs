//! Sharing with people outside the partnership: per-document grants and the invitations that
//! make them.

use async_trait::async_trait;
use domain::{DocumentId, Grant, Invitation, Millis, User, access::Principal};
use uuid::Uuid;

use crate::{NewUser, Result, StoreError, System};

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// The grants were made to this user (new or existing).
    Accepted { user: User, created: bool },
    /// No usable invitation has this token (unknown, used, expired or revoked).
    NotUsable,
    /// The invited address has no account yet and no password was given to create one:
    /// nothing was changed, the invitation is still usable.
    NeedsAccount,
    /// The invited address has an account and the acceptor is not signed in as it: nothing
    /// was changed, the invitation is still usable.
    SignInRequired,
}

/// Grants and invitations.
#[async_trait]
pub trait Sharing: Send + Sync {
    async fn create_grant(&self, p: &Principal, grant: &Grant) -> Result<()>;
    async fn list_grants(&self, p: &Principal, document: DocumentId) -> Result<Vec<Grant>>;
    async fn get_grant(&self, p: &Principal, id: Uuid) -> Result<Option<Grant>>;
    async fn revoke_grant(&self, p: &Principal, id: Uuid, now: Millis) -> Result<bool>;
    /// Refused unless the guest organisation is a partner body and the address is in no
    /// other organisation's verified domain.
    async fn create_invitation(
        &self,
        p: &Principal,
        inv: &Invitation,
        token_hash: &str,
    ) -> Result<()>;
    async fn list_invitations(&self, p: &Principal) -> Result<Vec<Invitation>>;
    async fn revoke_invitation(&self, p: &Principal, id: Uuid, now: Millis) -> Result<bool>;
    /// Accepts the invitation whose token hashes to `token_hash`: attaches its grants to the
    /// account with the invited e-mail if `acceptor` (the signed-in user) is that account, or
    /// creates a guest account from `new_user` (whose e-mail, organisation and id are taken from
    /// the invitation) in the invitation's partner organisation. One transaction: all or nothing.
    async fn accept_invitation(
        &self,
        sys: System,
        token_hash: &str,
        acceptor: Option<Uuid>,
        new_user: &NewUser,
        now: Millis,
    ) -> Result<Acceptance>;
}

pub(crate) const GRANT_COLUMNS: &str =
    "id, document_id, user_id, role, expires_at, revoked_at, granted_by, created_at";

#[derive(sqlx::FromRow, serde::Deserialize)]
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
            document_id: crate::documents::document_id(&r.document_id)?,
            user_id: r.user_id,
            role: r.role.parse()?,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            granted_by: r.granted_by,
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
                .map(|d| crate::documents::document_id(d))
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

/// Expands to `impl Sharing for $store` over database `$db`.
macro_rules! impl_sharing {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Sharing for $store {
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
                .bind_reach(p)
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
                let rows: Vec<$crate::sharing::GrantRow> = sqlx::query_as(&format!(
                    "select {} from grants g where g.document_id = $3 and g.space_id in \
                     (select s.id from spaces s where {}) order by g.created_at",
                    $crate::sharing::GRANT_COLUMNS,
                    $crate::sql::reach!()
                ))
                .bind_reach(p)
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
                let row: Option<$crate::sharing::GrantRow> = sqlx::query_as(&format!(
                    "select {} from grants g where g.id = $3 and (g.user_id = $4 or g.space_id in \
                     (select s.id from spaces s where {}))",
                    $crate::sharing::GRANT_COLUMNS,
                    $crate::sql::reach!()
                ))
                .bind_reach(p)
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
                .bind_reach(p)
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
                    .bind_reach(p)
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
                let rows: Vec<$crate::sharing::InvitationRow> = sqlx::query_as(&format!(
                    "select {} from invitations where org_id = $1 and not $2 order by created_at desc",
                    $crate::sharing::INVITATION_COLUMNS
                ))
                .bind_reach(p)
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
                .bind_reach(p)
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
                let row: Option<$crate::sharing::InvitationRow> = sqlx::query_as(&format!(
                    "select {} from invitations where token_hash = $1 \
                     and accepted_at is null and revoked_at is null and expires_at > $2",
                    $crate::sharing::INVITATION_COLUMNS
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
                let existing: Option<$crate::accounts::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where email = $1",
                    $crate::accounts::USER_COLUMNS
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
    };
}
pub(crate) use impl_sharing;
