//! Documents: their rows (what an access decision needs), listings, named versions, and who
//! wrote them.

use async_trait::async_trait;
use domain::{DocumentId, DocumentKind, Millis, SpaceOwner, Version, access::Principal};
use uuid::Uuid;

use crate::{Document, Result, StoreError};

/// A document with the owner of its space: what an access decision needs about the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    pub document: Document,
    pub owner: SpaceOwner,
}

/// Which documents to list.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub space_id: Option<Uuid>,
    pub kind: Option<DocumentKind>,
    pub include_archived: bool,
}

/// A position in a listing ordered by (created_at, id): list what comes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Millis,
    pub id: String,
}

/// The user behind an automerge actor id, as the audit trail names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub actor: Vec<u8>,
    /// The nil id for the server's own actor (schema upgrades).
    pub user_id: Uuid,
    pub display_name: String,
    pub org_id: Option<Uuid>,
    pub org_name: Option<String>,
}

/// The person a grant was made to, as the document's administrators see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grantee {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub org_name: Option<String>,
}

/// Documents, their named versions, authors and grantees.
#[async_trait]
pub trait Documents: Send + Sync {
    async fn create_document(&self, p: &Principal, doc: &Document, content: &[u8]) -> Result<()>;
    async fn get_document(
        &self,
        p: &Principal,
        id: DocumentId,
        now: Millis,
    ) -> Result<Option<DocumentRow>>;
    /// The document and the caller's context for deciding their access to it, read in one
    /// transaction (a live connection's access decision, and a REST request's on one
    /// document); `None` if they may not see it. On PostgreSQL one call of a function
    /// (migration 0021) that reads exactly what the separate statements read, as the
    /// policies show them to the principal's session.
    async fn document_access(
        &self,
        p: &Principal,
        id: DocumentId,
        now: Millis,
    ) -> Result<Option<(DocumentRow, crate::CallerContext)>>;
    async fn list_documents(
        &self,
        p: &Principal,
        filter: &DocumentFilter,
        after: Option<&Cursor>,
        limit: u32,
        now: Millis,
    ) -> Result<Vec<DocumentRow>>;
    async fn update_document(
        &self,
        p: &Principal,
        id: DocumentId,
        title: Option<&str>,
        archived: Option<bool>,
        now: Millis,
    ) -> Result<bool>;
    /// Who authored with each of the document's automerge actors, with their names and
    /// councils: the audit trail of a shared document names every council's editors to anyone
    /// who may see the document (and only to them). Empty if the caller may not see it.
    async fn document_authors(
        &self,
        p: &Principal,
        id: DocumentId,
        now: Millis,
    ) -> Result<Vec<Author>>;
    /// The people granted access to a document (guests of other organisations, whom the
    /// caller's row-level security does not show), with their names, addresses and
    /// organisations. Empty if the caller may not see the document; the handler shows them to
    /// its administrators only.
    async fn document_grantees(
        &self,
        p: &Principal,
        id: DocumentId,
        now: Millis,
    ) -> Result<Vec<Grantee>>;
    /// Records a named version of a document the caller may see; false if they may not.
    async fn create_version(&self, p: &Principal, v: &Version) -> Result<bool>;
    /// The document's named versions, oldest first.
    async fn list_versions(
        &self,
        p: &Principal,
        id: DocumentId,
        now: Millis,
    ) -> Result<Vec<Version>>;
    async fn get_version(&self, p: &Principal, id: Uuid, now: Millis) -> Result<Option<Version>>;
}

pub(crate) const DOC_COLUMNS: &str = "d.id, d.space_id, d.kind, d.title, d.archived, d.created_by, \
    d.created_at, d.updated_at, s.org_id as space_org_id, s.partnership_id as space_partnership_id";

pub(crate) fn document_id(s: &str) -> Result<DocumentId> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("document id {s:?}")))
}

#[derive(sqlx::FromRow, serde::Deserialize)]
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
            owner: crate::workspace::owner(r.space_org_id, r.space_partnership_id)?,
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

/// Document `$id` if the caller may see it, read in transaction `$tx`.
macro_rules! read_document {
    ($tx:ident, $p:expr, $id:expr, $now:expr) => {{
        let row: Option<$crate::documents::DocRow> = sqlx::query_as(&format!(
            "select {} from documents d join spaces s on s.id = d.space_id where {} and d.id = $5",
            $crate::documents::DOC_COLUMNS,
            $crate::sql::visible_doc!()
        ))
        .bind_visible($p, $now)
        .bind($id.to_string())
        .fetch_optional(&mut *$tx)
        .await?;
        row
    }};
}
pub(crate) use read_document;

/// Expands to `impl Documents for $store` over database `$db`.
macro_rules! impl_documents {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Documents for $store {
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
                .bind_reach(p)
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
                    "insert into doc_chunks (document_id, seq, kind, data, checksum, created_at, schema_version) \
                     values ($1, 0, 'snapshot', $2, $3, $4, $5)",
                )
                .bind(doc.id.to_string())
                .bind(content)
                .bind($crate::checksum(content))
                .bind(doc.created_at)
                // A new document is made by this version, in its schema.
                .bind(domain::documents::SCHEMA_VERSION as i64)
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
                now: domain::Millis,
            ) -> $crate::Result<Option<$crate::DocumentRow>> {
                let mut tx = self.user_tx(p, false).await?;
                let row = $crate::documents::read_document!(tx, p, id, now);
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn document_access(
                &self,
                p: &domain::access::Principal,
                id: domain::DocumentId,
                now: domain::Millis,
            ) -> $crate::Result<Option<($crate::DocumentRow, $crate::CallerContext)>> {
                if let Some(found) = self.document_access_at_once(p, id, now).await? {
                    return Ok(found);
                }
                let mut tx = self.user_tx(p, false).await?;
                let Some(row) = $crate::documents::read_document!(tx, p, id, now) else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let ctx = $crate::workspace::read_caller_context!(tx, p);
                tx.commit().await?;
                Ok(Some((row.try_into()?, ctx)))
            }

            async fn list_documents(
                &self,
                p: &domain::access::Principal,
                filter: &$crate::DocumentFilter,
                after: Option<&$crate::Cursor>,
                limit: u32,
                now: domain::Millis,
            ) -> $crate::Result<Vec<$crate::DocumentRow>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::documents::DocRow> = sqlx::query_as(&format!(
                    "select {} from documents d join spaces s on s.id = d.space_id where {} \
                     and ($5 is null or d.space_id = $5) \
                     and ($6 is null or d.kind = $6) \
                     and ($7 or not d.archived) \
                     and ($8 is null or d.created_at > $8 or (d.created_at = $8 and d.id > $9)) \
                     order by d.created_at, d.id limit $10",
                    $crate::documents::DOC_COLUMNS,
                    $crate::sql::visible_doc!()
                ))
                .bind_visible(p, now)
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
                .bind_reach(p)
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

            async fn document_authors(
                &self,
                p: &domain::access::Principal,
                id: domain::DocumentId,
                now: domain::Millis,
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
                    .bind_visible(p, now)
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
                now: domain::Millis,
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
                    .bind_visible(p, now)
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
                .bind_visible(p, v.created_at)
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
                now: domain::Millis,
            ) -> $crate::Result<Vec<domain::Version>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::documents::VersionRow> = sqlx::query_as(concat!(
                    "select v.id, v.document_id, v.label, v.heads, v.created_by, v.created_at \
                     from doc_versions v join documents d on d.id = v.document_id \
                     join spaces s on s.id = d.space_id where v.document_id = $5 and ",
                    $crate::sql::visible_doc!(),
                    " order by v.created_at, v.id"
                ))
                .bind_visible(p, now)
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
                now: domain::Millis,
            ) -> $crate::Result<Option<domain::Version>> {
                let mut tx = self.user_tx(p, false).await?;
                let row: Option<$crate::documents::VersionRow> = sqlx::query_as(concat!(
                    "select v.id, v.document_id, v.label, v.heads, v.created_by, v.created_at \
                     from doc_versions v join documents d on d.id = v.document_id \
                     join spaces s on s.id = d.space_id where v.id = $5 and ",
                    $crate::sql::visible_doc!()
                ))
                .bind_visible(p, now)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }
        }
    };
}
pub(crate) use impl_documents;
