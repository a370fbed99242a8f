//! Accounts: users, their passwords' hashes and their sessions.

use async_trait::async_trait;
use domain::{Millis, User, access::Principal};
use uuid::Uuid;

use crate::{Result, StoreError, System};

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The token was live: this session now holds the new hash.
    Rotated(Session),
    /// The token had been exchanged before: this session is now revoked.
    Reused(Uuid),
    /// No live session holds it and none ever did (or its session has ended).
    Unknown,
}

/// A login session: the refresh token's hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_hash: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
}

impl Session {
    pub fn is_live(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A user being created, with the hash of their password (none: cannot log in by password).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user: User,
    pub password_hash: Option<String>,
}

/// Users, sign-in and sessions.
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn create_user(&self, sys: System, user: &NewUser) -> Result<()>;
    /// The account with this e-mail address and its password hash.
    async fn login_lookup(
        &self,
        sys: System,
        email: &str,
    ) -> Result<Option<(User, Option<String>)>>;
    async fn create_session(&self, sys: System, session: &Session) -> Result<()>;
    /// Exchanges a refresh token's hash for a new one, once: the old hash is remembered as spent.
    /// Presenting a spent hash again revokes its whole session (the token was copied).
    async fn refresh_session(
        &self,
        sys: System,
        old_hash: &str,
        new_hash: &str,
        now: Millis,
    ) -> Result<Refresh>;
    /// The caller's own user and session, if both still hold: checked on every request.
    async fn authenticate(
        &self,
        p: &Principal,
        session_id: Uuid,
    ) -> Result<Option<(User, Session)>>;
    async fn revoke_session(&self, p: &Principal, session_id: Uuid, now: Millis) -> Result<()>;
    async fn get_user(&self, p: &Principal, id: Uuid) -> Result<Option<User>>;
    async fn list_users(&self, p: &Principal) -> Result<Vec<User>>;
    /// An org admin adds a (non-guest) user to their own organisation, with an address in one
    /// of its verified domains; [`StoreError::Refused`] otherwise.
    async fn add_user(&self, p: &Principal, user: &NewUser) -> Result<()>;

    /// Changes one account of `org_id` (never a guest): enables or disables it, sets its role.
    /// Disabling also revokes every live session of the account, whose ids are returned (their
    /// connections close). `None` if `org_id` has no such account. System work: the server has
    /// checked the caller administers `org_id`.
    async fn set_user_access(
        &self,
        sys: System,
        org_id: Uuid,
        user_id: Uuid,
        disabled: bool,
        role: domain::OrgRole,
        now: Millis,
    ) -> Result<Option<(User, Vec<Uuid>)>>;

    // --- first run: the operator, and one-time links to choose a password ---
    /// Every platform operator.
    async fn operators(&self, sys: System) -> Result<Vec<User>>;
    /// Stores a one-time link (its token's hash) for `user_id` to choose a password.
    async fn create_account_setup(
        &self,
        sys: System,
        user_id: Uuid,
        token_hash: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<()>;
    /// The account a usable (unused, unexpired) set-up link is for, if its account is enabled.
    async fn account_setup(
        &self,
        sys: System,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<User>>;
    /// Uses a set-up link once: sets the account's password and marks the link — and every other
    /// link for the account — used, in one transaction. `None` if the link is not usable (unknown, used, expired) — then nothing
    /// changed.
    async fn complete_account_setup(
        &self,
        sys: System,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> Result<Option<User>>;
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
    platform_operator: bool,
}

pub(crate) const USER_COLUMNS: &str =
    "id, org_id, email, display_name, role, is_guest, disabled, created_at, platform_operator";
/// The same, from a table aliased `u`.
pub(crate) const USER_COLUMNS_OF_U: &str = "u.id, u.org_id, u.email, u.display_name, u.role, \
     u.is_guest, u.disabled, u.created_at, u.platform_operator";

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
            platform_operator: r.platform_operator,
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

/// Expands to `impl Accounts for $store` over database `$db`.
macro_rules! impl_accounts {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Accounts for $store {
            async fn create_user(&self, sys: $crate::System, u: &$crate::NewUser) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                insert_user(&mut tx, u).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn login_lookup(
                &self,
                sys: $crate::System,
                email: &str,
            ) -> $crate::Result<Option<(domain::User, Option<String>)>> {
                let mut tx = self.system_tx(sys, false).await?;
                let row: Option<$crate::accounts::LoginRow> = sqlx::query_as(&format!(
                    "select {}, password_hash from users where email = $1",
                    $crate::accounts::USER_COLUMNS
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
                let rotated: Option<$crate::accounts::SessionRow> = sqlx::query_as(
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
                let user: Option<$crate::accounts::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where id = $1",
                    $crate::accounts::USER_COLUMNS
                ))
                .bind(p.user_id)
                .fetch_optional(&mut *tx)
                .await?;
                let session: Option<$crate::accounts::SessionRow> = sqlx::query_as(
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

            async fn get_user(
                &self,
                p: &domain::access::Principal,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::User>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::accounts::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where id = $4 \
                     and (id = $3 or (org_id = $1 and not $2 and not is_guest))",
                    $crate::accounts::USER_COLUMNS
                ))
                .bind_reach(p)
                .bind(p.user_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_users(&self, p: &domain::access::Principal) -> $crate::Result<Vec<domain::User>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::accounts::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where org_id = $1 and not $2 and not is_guest \
                     order by display_name, email",
                    $crate::accounts::USER_COLUMNS
                ))
                .bind_reach(p)
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

            async fn set_user_access(
                &self,
                sys: $crate::System,
                org_id: uuid::Uuid,
                user_id: uuid::Uuid,
                disabled: bool,
                role: domain::OrgRole,
                now: domain::Millis,
            ) -> $crate::Result<Option<(domain::User, Vec<uuid::Uuid>)>> {
                let mut tx = self.system_tx(sys, true).await?;
                let row: Option<$crate::accounts::UserRow> = sqlx::query_as(&format!(
                    "update users set disabled = $1, role = $2 \
                     where id = $3 and org_id = $4 and not is_guest returning {}",
                    $crate::accounts::USER_COLUMNS
                ))
                .bind(disabled)
                .bind(role.as_str())
                .bind(user_id)
                .bind(org_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let revoked: Vec<(uuid::Uuid,)> = if disabled {
                    sqlx::query_as(
                        "update sessions set revoked_at = $1 \
                         where user_id = $2 and revoked_at is null returning id",
                    )
                    .bind(now)
                    .bind(user_id)
                    .fetch_all(&mut *tx)
                    .await?
                } else {
                    Vec::new()
                };
                tx.commit().await?;
                Ok(Some((row.try_into()?, revoked.into_iter().map(|(id,)| id).collect())))
            }

            async fn operators(&self, sys: $crate::System) -> $crate::Result<Vec<domain::User>> {
                let mut tx = self.system_tx(sys, false).await?;
                let rows: Vec<$crate::accounts::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where platform_operator order by created_at, email",
                    $crate::accounts::USER_COLUMNS
                ))
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::convert(rows)
            }

            async fn create_account_setup(
                &self,
                sys: $crate::System,
                user_id: uuid::Uuid,
                token_hash: &str,
                expires_at: domain::Millis,
                now: domain::Millis,
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                sqlx::query(
                    "insert into account_setups (token_hash, user_id, expires_at, used_at, created_at) \
                     values ($1, $2, $3, null, $4)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn account_setup(
                &self,
                sys: $crate::System,
                token_hash: &str,
                now: domain::Millis,
            ) -> $crate::Result<Option<domain::User>> {
                let mut tx = self.system_tx(sys, false).await?;
                let row: Option<$crate::accounts::UserRow> = sqlx::query_as(&format!(
                    "select {} from users where not disabled and id = (select user_id from account_setups \
                     where token_hash = $1 and used_at is null and expires_at > $2)",
                    $crate::accounts::USER_COLUMNS
                ))
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn complete_account_setup(
                &self,
                sys: $crate::System,
                token_hash: &str,
                password_hash: &str,
                now: domain::Millis,
            ) -> $crate::Result<Option<domain::User>> {
                let mut tx = self.system_tx(sys, true).await?;
                // Marking the link used first makes a second, concurrent use find nothing.
                let used: Option<(uuid::Uuid,)> = sqlx::query_as(
                    "update account_setups set used_at = $1 \
                     where token_hash = $2 and used_at is null and expires_at > $1 \
                     and user_id in (select id from users where not disabled) returning user_id",
                )
                .bind(now)
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user_id,)) = used else {
                    tx.commit().await?;
                    return Ok(None);
                };
                sqlx::query("update users set password_hash = $1 where id = $2")
                    .bind(password_hash)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                // The account has its password: any other link for it would reset it.
                sqlx::query(
                    "update account_setups set used_at = $1 where user_id = $2 and used_at is null",
                )
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
                let row: $crate::accounts::UserRow = sqlx::query_as(&format!(
                    "select {} from users where id = $1",
                    $crate::accounts::USER_COLUMNS
                ))
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(row.try_into()?))
            }
        }

        /// Inserts one account. Also called by `sharing`'s `accept_invitation`: every area
        /// expands into the same backend module (`impl_store!`).
        async fn insert_user(
            tx: &mut sqlx::Transaction<'static, $db>,
            u: &$crate::NewUser,
        ) -> $crate::Result<()> {
            sqlx::query(
                "insert into users (id, org_id, email, display_name, password_hash, role, is_guest, disabled, created_at, platform_operator) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
            .bind(u.user.platform_operator)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    };
}
pub(crate) use impl_accounts;
