//! The server's half of the access rule. `domain::decide` is the rule itself; here are the
//! facts it needs gathered from storage for one caller and one document, what a decision lets
//! a caller change (for REST writes and for the sync room), and "not found" for a document the
//! caller may not see. REST handlers and the live runtime both decide through this module, so
//! a document answers the same over either.

use domain::{Access, AccessFacts, DocumentId, DocumentKind, SpaceAccess};
use store::{CallerContext, DocumentRow};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// The caller's access to a document at `now`, by the domain's one rule.
pub fn access_of(
    caller: &Caller,
    ctx: &CallerContext,
    row: &DocumentRow,
    now: domain::Millis,
) -> Access {
    let membership = match row.owner {
        domain::SpaceOwner::Partnership { partnership_id } => {
            ctx.membership(caller.principal.org_id, partnership_id)
        }
        domain::SpaceOwner::Private { .. } => None,
    };
    domain::decide(&AccessFacts {
        principal: &caller.principal,
        user_active: !caller.user.disabled,
        space: SpaceAccess::new(row.owner, membership),
        archived: row.document.archived,
        grants: &ctx.grants_on(row.document.id),
        now,
    })
}

/// When the caller's access to `id` may next change by time: the earliest expiry among the
/// live grants behind it, if any.
pub fn next_change(
    ctx: &CallerContext,
    id: DocumentId,
    now: domain::Millis,
) -> Option<domain::Millis> {
    ctx.grants_on(id)
        .iter()
        .filter(|g| g.is_live(now))
        .filter_map(|g| g.expires_at)
        .min()
}

/// A document the caller may see (by id or `automerge:` URL) and their access to it, or "not
/// found" — exactly as for a document that does not exist.
pub async fn visible(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(DocumentRow, Access)> {
    let id = DocumentId::parse_url_or_id(id).map_err(|_| ApiError::NotFound("document"))?;
    let row = state
        .store
        .get_document(&caller.principal, id, caller.at)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    let ctx = state.store.caller_context(&caller.principal).await?;
    let access = access_of(caller, &ctx, &row, caller.at);
    if access == Access::None {
        return Err(ApiError::NotFound("document"));
    }
    Ok((row, access))
}

/// `Forbidden(why)` unless `access` lets the caller edit the whole of a document of `kind`
/// (not only inside some of its lists, as a guest editor or a commenter may).
pub fn edits_everything(
    access: Access,
    kind: DocumentKind,
    caller: &Caller,
    why: &'static str,
) -> ApiResult<()> {
    if domain::editable(access, kind, caller.principal.is_guest) == domain::Editable::Everything {
        Ok(())
    } else {
        Err(ApiError::Forbidden(why))
    }
}

/// What the sync room lets a peer with `access` change in a document of `kind`.
pub fn sync_edit(access: Access, kind: DocumentKind, is_guest: bool) -> sync::Edit {
    match domain::editable(access, kind, is_guest) {
        domain::Editable::Nothing => sync::Edit::None,
        domain::Editable::Only(lists) => {
            sync::Edit::Only(lists.iter().map(|l| (*l).to_owned()).collect())
        }
        domain::Editable::Everything => sync::Edit::All,
    }
}
