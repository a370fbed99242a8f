//! Single sign-on: each organisation's OpenID Connect provider, and sign-ins in progress.

use async_trait::async_trait;
use domain::Millis;
use uuid::Uuid;

use crate::{Result, System};

/// An organisation's identity provider. The issuer is compared as text with what the provider
/// says of itself, exactly.
#[derive(Clone, PartialEq, Eq)]
pub struct SsoConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A sign-in sent to the provider, waiting for its answer.
#[derive(Clone, PartialEq, Eq)]
pub struct SsoLogin {
    pub org_id: Uuid,
    pub nonce: String,
    pub verifier: String,
}

impl std::fmt::Debug for SsoLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoLogin")
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

/// Identity providers and sign-in states (system work: before anyone is signed in).
#[async_trait]
pub trait Sso: Send + Sync {
    /// Sets (or with `None` removes) an organisation's provider. False if there is no such
    /// organisation.
    async fn set_sso(
        &self,
        sys: System,
        org_id: Uuid,
        config: Option<&SsoConfig>,
        now: Millis,
    ) -> Result<bool>;
    /// The organisation owning verified e-mail domain `domain`, and its provider, if it has one.
    async fn sso_for_domain(&self, sys: System, domain: &str) -> Result<Option<(Uuid, SsoConfig)>>;
    /// An organisation's provider.
    async fn sso_of(&self, sys: System, org_id: Uuid) -> Result<Option<SsoConfig>>;
    /// Keeps a sign-in until `expires`, by its state's hash (and forgets sign-ins whose time
    /// was up by `now`).
    async fn begin_sso(
        &self,
        sys: System,
        hash: &str,
        login: &SsoLogin,
        expires: Millis,
        now: Millis,
    ) -> Result<()>;
    /// The sign-in with this state's hash, once: used up, and `None` if expired or unknown.
    async fn take_sso(&self, sys: System, hash: &str, now: Millis) -> Result<Option<SsoLogin>>;
    /// Keeps a one-time hand-off code's hash for the account `email` of `org_id` until
    /// `expires`.
    async fn begin_handoff(
        &self,
        sys: System,
        hash: &str,
        org_id: Uuid,
        email: &str,
        expires: Millis,
    ) -> Result<()>;
    /// The account (e-mail address) a hand-off code was made for, once.
    async fn take_handoff(&self, sys: System, hash: &str, now: Millis) -> Result<Option<String>>;
}

/// Expands to `impl Sso for $store` over database `$db`.
macro_rules! impl_sso {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Sso for $store {
            async fn set_sso(
                &self,
                sys: $crate::System,
                org_id: uuid::Uuid,
                config: Option<&$crate::SsoConfig>,
                now: domain::Millis,
            ) -> $crate::Result<bool> {
                let mut tx = self.system_tx(sys, true).await?;
                let exists: Option<(uuid::Uuid,)> =
                    sqlx::query_as("select id from organisations where id = $1")
                        .bind(org_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    tx.commit().await?;
                    return Ok(false);
                }
                sqlx::query("delete from organisation_sso where org_id = $1")
                    .bind(org_id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(c) = config {
                    sqlx::query(
                        "insert into organisation_sso (org_id, issuer, client_id, client_secret, updated_at) \
                         values ($1, $2, $3, $4, $5)",
                    )
                    .bind(org_id)
                    .bind(&c.issuer)
                    .bind(&c.client_id)
                    .bind(&c.client_secret)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn sso_for_domain(
                &self,
                sys: $crate::System,
                domain: &str,
            ) -> $crate::Result<Option<(uuid::Uuid, $crate::SsoConfig)>> {
                let mut tx = self.system_tx(sys, false).await?;
                let row: Option<(uuid::Uuid, String, String, String)> = sqlx::query_as(
                    "select s.org_id, s.issuer, s.client_id, s.client_secret \
                     from organisation_sso s join organisation_domains d on d.org_id = s.org_id \
                     where d.domain = $1",
                )
                .bind(domain.to_lowercase())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(|(org, issuer, client_id, client_secret)| {
                    (org, $crate::SsoConfig { issuer, client_id, client_secret })
                }))
            }

            async fn sso_of(
                &self,
                sys: $crate::System,
                org_id: uuid::Uuid,
            ) -> $crate::Result<Option<$crate::SsoConfig>> {
                let mut tx = self.system_tx(sys, false).await?;
                let row: Option<(String, String, String)> = sqlx::query_as(
                    "select issuer, client_id, client_secret from organisation_sso where org_id = $1",
                )
                .bind(org_id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(|(issuer, client_id, client_secret)| $crate::SsoConfig {
                    issuer,
                    client_id,
                    client_secret,
                }))
            }

            async fn begin_sso(
                &self,
                sys: $crate::System,
                hash: &str,
                login: &$crate::SsoLogin,
                expires: domain::Millis,
                now: domain::Millis,
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                // Sign-ins never finished go when their time is up.
                sqlx::query("delete from sso_states where expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "insert into sso_states (hash, kind, org_id, nonce, verifier, expires_at) \
                     values ($1, 'login', $2, $3, $4, $5)",
                )
                .bind(hash)
                .bind(login.org_id)
                .bind(&login.nonce)
                .bind(&login.verifier)
                .bind(expires)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn take_sso(
                &self,
                sys: $crate::System,
                hash: &str,
                now: domain::Millis,
            ) -> $crate::Result<Option<$crate::SsoLogin>> {
                let mut tx = self.system_tx(sys, true).await?;
                sqlx::query("delete from sso_states where expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let row: Option<(uuid::Uuid, Option<String>, Option<String>)> = sqlx::query_as(
                    "delete from sso_states where hash = $1 and kind = 'login' \
                     returning org_id, nonce, verifier",
                )
                .bind(hash)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.and_then(|(org_id, nonce, verifier)| {
                    Some($crate::SsoLogin { org_id, nonce: nonce?, verifier: verifier? })
                }))
            }

            async fn begin_handoff(
                &self,
                sys: $crate::System,
                hash: &str,
                org_id: uuid::Uuid,
                email: &str,
                expires: domain::Millis,
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                sqlx::query(
                    "insert into sso_states (hash, kind, org_id, email, expires_at) \
                     values ($1, 'handoff', $2, $3, $4)",
                )
                .bind(hash)
                .bind(org_id)
                .bind(email)
                .bind(expires)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn take_handoff(
                &self,
                sys: $crate::System,
                hash: &str,
                now: domain::Millis,
            ) -> $crate::Result<Option<String>> {
                let mut tx = self.system_tx(sys, true).await?;
                let row: Option<(Option<String>, domain::Millis)> = sqlx::query_as(
                    "delete from sso_states where hash = $1 and kind = 'handoff' \
                     returning email, expires_at",
                )
                .bind(hash)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.and_then(|(email, expires)| if expires > now { email } else { None }))
            }
        }
    };
}
pub(crate) use impl_sso;
