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
    let (row, ctx) = state
        .store
        .document_access(&caller.principal, id, caller.at)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
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

#[cfg(test)]
mod tests {
    //! The facts this module gathers for the domain's rule: whose membership, which grants.

    use domain::{
        Document, Grant, GrantRole, MemberRole, Membership, OrgRole, SpaceOwner, User,
        access::Principal,
    };
    use uuid::Uuid;

    use super::*;

    const NOW: domain::Millis = 1_800_000_000_000;

    fn caller(org_id: Uuid, is_guest: bool) -> Caller {
        let user = User {
            id: Uuid::new_v4(),
            org_id,
            email: "someone@example.gov.uk".into(),
            display_name: "Someone".into(),
            role: OrgRole::Member,
            is_guest,
            disabled: false,
            created_at: 1,
            platform_operator: false,
        };
        Caller {
            principal: Principal {
                user_id: user.id,
                org_id,
                role: user.role,
                is_guest,
                session_id: Uuid::new_v4(),
            },
            session_id: Uuid::new_v4(),
            session_expires_at: NOW + 1000,
            at: NOW,
            user,
        }
    }

    fn row(owner: SpaceOwner, kind: DocumentKind) -> DocumentRow {
        DocumentRow {
            document: Document {
                id: DocumentId::random(),
                space_id: Uuid::new_v4(),
                kind,
                title: "Shared register".into(),
                archived: false,
                created_by: Uuid::new_v4(),
                created_at: 1,
                updated_at: 1,
            },
            owner,
        }
    }

    fn membership(partnership_id: Uuid, org_id: Uuid, left_at: Option<i64>) -> Membership {
        Membership {
            partnership_id,
            org_id,
            role: MemberRole::Member,
            joined_at: 1,
            left_at,
        }
    }

    fn grant(document_id: DocumentId, user_id: Uuid, expires_at: Option<i64>) -> Grant {
        Grant {
            id: Uuid::new_v4(),
            document_id,
            user_id,
            role: GrantRole::Editor,
            expires_at,
            revoked_at: None,
            granted_by: Uuid::new_v4(),
            created_at: 1,
        }
    }

    #[test]
    fn only_the_callers_own_councils_membership_of_this_partnership_counts() {
        let (council, other_council) = (Uuid::new_v4(), Uuid::new_v4());
        let (partnership, other_partnership) = (Uuid::new_v4(), Uuid::new_v4());
        let me = caller(council, false);
        let doc = row(
            SpaceOwner::Partnership {
                partnership_id: partnership,
            },
            DocumentKind::RiskRegister,
        );
        let with = |memberships| CallerContext {
            memberships,
            grants: Vec::new(),
        };
        let member = with(vec![membership(partnership, council, None)]);
        assert_eq!(access_of(&me, &member, &doc, NOW), Access::Write);
        // Another council's membership, or ours of another partnership, gives nothing.
        let theirs = with(vec![
            membership(partnership, other_council, None),
            membership(other_partnership, council, None),
        ]);
        assert_eq!(access_of(&me, &theirs, &doc, NOW), Access::None);
        // A council that has left sees nothing of the shared space.
        let left = with(vec![membership(partnership, council, Some(NOW - 1))]);
        assert_eq!(access_of(&me, &left, &doc, NOW), Access::None);
    }

    #[test]
    fn a_guest_reaches_a_document_by_its_own_grant_until_it_ends() {
        let me = caller(Uuid::new_v4(), true);
        let partnership_id = Uuid::new_v4();
        let sla = row(
            SpaceOwner::Partnership { partnership_id },
            DocumentKind::Sla,
        );
        let other = row(
            SpaceOwner::Partnership { partnership_id },
            DocumentKind::Sla,
        );
        let until = NOW + 60_000;
        let ctx = CallerContext {
            // Even a membership in the caller's name opens no space to a guest.
            memberships: vec![membership(partnership_id, me.principal.org_id, None)],
            grants: vec![
                grant(sla.document.id, me.principal.user_id, Some(until)),
                grant(other.document.id, me.principal.user_id, Some(NOW + 5)),
            ],
        };
        assert_eq!(access_of(&me, &ctx, &sla, NOW), Access::Write);
        assert_eq!(access_of(&me, &ctx, &sla, until - 1), Access::Write);
        assert_eq!(access_of(&me, &ctx, &sla, until), Access::None);
        // The grant on another document says nothing about this one.
        let unrelated = row(
            SpaceOwner::Partnership { partnership_id },
            DocumentKind::Sla,
        );
        assert_eq!(access_of(&me, &ctx, &unrelated, NOW), Access::None);
        // Access to `sla` next changes when its own grant ends, not the other document's.
        assert_eq!(next_change(&ctx, sla.document.id, NOW), Some(until));
        assert_eq!(next_change(&ctx, other.document.id, NOW), Some(NOW + 5));
        assert_eq!(next_change(&ctx, other.document.id, NOW + 5), None);
        assert_eq!(next_change(&ctx, unrelated.document.id, NOW), None);
    }

    #[test]
    fn the_room_is_told_exactly_what_the_domain_lets_a_peer_change() {
        assert_eq!(
            sync_edit(Access::Write, DocumentKind::Sla, true),
            sync::Edit::Only(vec!["measurements".into()])
        );
        assert_eq!(
            sync_edit(Access::Write, DocumentKind::SlaFigures, true),
            sync::Edit::None
        );
        assert_eq!(
            sync_edit(Access::Comment, DocumentKind::Agreement, false),
            sync::Edit::Only(vec!["comments".into()])
        );
        assert_eq!(
            sync_edit(Access::Comment, DocumentKind::RiskRegister, false),
            sync::Edit::None
        );
        assert_eq!(
            sync_edit(Access::Read, DocumentKind::Meeting, false),
            sync::Edit::None
        );
        for kind in [DocumentKind::Agreement, DocumentKind::SlaFigures] {
            assert_eq!(sync_edit(Access::Admin, kind, false), sync::Edit::All);
        }
        let me = caller(Uuid::new_v4(), true);
        assert!(edits_everything(Access::Write, DocumentKind::Sla, &me, "terms").is_err());
        let member = caller(Uuid::new_v4(), false);
        assert!(edits_everything(Access::Write, DocumentKind::Sla, &member, "terms").is_ok());
        assert!(edits_everything(Access::Comment, DocumentKind::Agreement, &member, "x").is_err());
    }
}
