//! The access decision: what one user may do with one document.
//!
//! This is the single authority. The store narrows its queries to the same rule (and, on
//! PostgreSQL, row-level security enforces it a second time), but every answer the server gives
//! about a document passes through [`decide`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{Grant, GrantRole, Membership, Millis, OrgRole, SpaceOwner};

/// What a user may do with a document, in increasing order of power.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Cannot see it; it does not exist as far as they can tell.
    None,
    /// Sees it and its history.
    Read,
    /// Reads and adds comments.
    Comment,
    /// Edits its content.
    Write,
    /// Edits, renames, archives and shares it.
    Admin,
}

impl Access {
    pub fn can_read(self) -> bool {
        self >= Access::Read
    }
    pub fn can_write(self) -> bool {
        self >= Access::Write
    }
    pub fn can_admin(self) -> bool {
        self >= Access::Admin
    }
}

impl From<GrantRole> for Access {
    fn from(role: GrantRole) -> Self {
        match role {
            GrantRole::Viewer => Access::Read,
            GrantRole::Commenter => Access::Comment,
            GrantRole::Editor => Access::Write,
        }
    }
}

/// The authenticated caller, as far as access is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub role: OrgRole,
    pub is_guest: bool,
    /// The login session the caller acts in. The store proves the caller with it: on
    /// PostgreSQL the database derives user, council and guest flag from the live session
    /// itself, so no statement can claim to be someone else.
    pub session_id: Uuid,
}

impl Principal {
    /// An administrator of their own (non-guest) organisation.
    pub fn is_org_admin(&self) -> bool {
        !self.is_guest && self.role == OrgRole::Admin
    }
}

/// How the caller's organisation relates to the space the document lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceAccess<'a> {
    /// The space is a private space of this organisation.
    Private { org_id: Uuid },
    /// The space is a partnership's; `membership` is the caller's organisation's membership of
    /// that partnership, if it ever had one.
    Partnership { membership: Option<&'a Membership> },
}

impl<'a> SpaceAccess<'a> {
    pub fn new(owner: SpaceOwner, membership: Option<&'a Membership>) -> Self {
        match owner {
            SpaceOwner::Private { org_id } => SpaceAccess::Private { org_id },
            SpaceOwner::Partnership { .. } => SpaceAccess::Partnership { membership },
        }
    }
}

/// Everything [`decide`] needs to know, gathered by the caller.
#[derive(Debug, Clone, Copy)]
pub struct AccessFacts<'a> {
    pub principal: &'a Principal,
    /// False for a disabled account: it gets nothing.
    pub user_active: bool,
    pub space: SpaceAccess<'a>,
    pub archived: bool,
    /// The caller's grants on this document (live or not; the rule checks).
    pub grants: &'a [Grant],
    pub now: Millis,
}

/// What the caller may do with the document.
///
/// - A disabled account: nothing.
/// - Own organisation's private space: admins administer, members write. Guests never get
///   space access, not even to their own organisation's space.
/// - A partnership's space: users of a host or member council that has not left write; their
///   organisation's admins administer. Guest organisations and councils that left get nothing
///   from the space.
/// - A live grant (not revoked, not expired) gives its role; the strongest of space and grant wins.
/// - An archived document is read-only for all but administrators.
pub fn decide(f: &AccessFacts<'_>) -> Access {
    if !f.user_active {
        return Access::None;
    }
    let p = f.principal;
    let from_space = if p.is_guest {
        Access::None
    } else {
        let reaches = match f.space {
            SpaceAccess::Private { org_id } => org_id == p.org_id,
            SpaceAccess::Partnership { membership } => {
                membership.is_some_and(|m| m.org_id == p.org_id && m.gives_space_access())
            }
        };
        match (reaches, p.role) {
            (false, _) => Access::None,
            (true, OrgRole::Admin) => Access::Admin,
            (true, OrgRole::Member) => Access::Write,
        }
    };
    let from_grants = f
        .grants
        .iter()
        .filter(|g| g.user_id == p.user_id && g.is_live(f.now))
        .map(|g| Access::from(g.role))
        .max()
        .unwrap_or(Access::None);
    let access = from_space.max(from_grants);
    if f.archived && access < Access::Admin {
        access.min(Access::Read)
    } else {
        access
    }
}

/// Which parts of a document a user may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "lists")]
pub enum Editable {
    Nothing,
    /// Only inside these top-level lists of the document: adding elements and editing within
    /// them, never removing one.
    Only(&'static [&'static str]),
    Everything,
}

/// What `access` lets its holder change in a document of `kind`. A commenter adds comments
/// (only agreements carry comment threads, so elsewhere a commenter reads). A guest editor —
/// a third-sector partner — changes only the part of a document a delivery partner reports
/// against: an SLA's measurements, a register's or a meeting's actions, an agreement's
/// comments; the terms themselves stay with the councils, and an SLA's partners-only figures
/// (which a guest reads only if a council grants them) are never theirs to change.
pub fn editable(access: Access, kind: crate::model::DocumentKind, is_guest: bool) -> Editable {
    use crate::model::DocumentKind as K;
    match access {
        Access::None | Access::Read => Editable::Nothing,
        Access::Comment => match kind {
            K::Agreement => Editable::Only(&["comments"]),
            _ => Editable::Nothing,
        },
        Access::Write | Access::Admin if is_guest && kind == K::SlaFigures => Editable::Nothing,
        Access::Write | Access::Admin if is_guest => Editable::Only(match kind {
            K::Sla | K::SlaFigures => &["measurements"],
            K::RiskRegister | K::Meeting => &["actions"],
            K::Agreement => &["comments"],
        }),
        Access::Write | Access::Admin => Editable::Everything,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DocumentId;
    use crate::model::MemberRole;

    const NOW: Millis = 1_800_000_000_000;

    #[test]
    fn a_guest_editor_reports_against_an_sla_and_never_changes_partners_figures() {
        use crate::model::DocumentKind as K;
        assert_eq!(
            editable(Access::Write, K::Sla, true),
            Editable::Only(&["measurements"])
        );
        assert_eq!(
            editable(Access::Write, K::SlaFigures, true),
            Editable::Nothing
        );
        assert_eq!(
            editable(Access::Admin, K::SlaFigures, true),
            Editable::Nothing
        );
        assert_eq!(
            editable(Access::Write, K::SlaFigures, false),
            Editable::Everything
        );
    }

    fn principal(org: u128, role: OrgRole, is_guest: bool) -> Principal {
        Principal {
            user_id: Uuid::from_u128(1000 + org),
            org_id: Uuid::from_u128(org),
            role,
            is_guest,
            session_id: Uuid::nil(),
        }
    }

    fn membership(org: u128, role: MemberRole, left: bool) -> Membership {
        Membership {
            partnership_id: Uuid::from_u128(77),
            org_id: Uuid::from_u128(org),
            role,
            joined_at: NOW - 10_000,
            left_at: left.then_some(NOW - 5),
        }
    }

    fn grant(user: &Principal, role: GrantRole, expires: Option<Millis>, revoked: bool) -> Grant {
        Grant {
            id: Uuid::from_u128(9),
            document_id: DocumentId::from_bytes([7; 16]),
            user_id: user.user_id,
            role,
            expires_at: expires,
            revoked_at: revoked.then_some(NOW - 1),
            granted_by: Uuid::from_u128(1),
            created_at: NOW - 100,
        }
    }

    struct Case {
        name: &'static str,
        principal: Principal,
        active: bool,
        space: SpaceOwnerCase,
        archived: bool,
        grants: Vec<Grant>,
        want: Access,
    }

    enum SpaceOwnerCase {
        Private(u128),
        Partnership(Option<Membership>),
    }

    #[test]
    #[rustfmt::skip]
    fn access_table() {
        let a_member = principal(1, OrgRole::Member, false);
        let a_admin = principal(1, OrgRole::Admin, false);
        let b_member = principal(2, OrgRole::Member, false);
        let guest = principal(3, OrgRole::Member, true);
        let cases = vec![
            Case { name: "own council private, member", principal: a_member, active: true, space: SpaceOwnerCase::Private(1), archived: false, grants: vec![], want: Access::Write },
            Case { name: "own council private, admin", principal: a_admin, active: true, space: SpaceOwnerCase::Private(1), archived: false, grants: vec![], want: Access::Admin },
            Case { name: "other council private", principal: b_member, active: true, space: SpaceOwnerCase::Private(1), archived: false, grants: vec![], want: Access::None },
            Case { name: "other council private, even as its admin", principal: principal(2, OrgRole::Admin, false), active: true, space: SpaceOwnerCase::Private(1), archived: false, grants: vec![], want: Access::None },
            Case { name: "partnership host member", principal: a_member, active: true, space: SpaceOwnerCase::Partnership(Some(membership(1, MemberRole::Host, false))), archived: false, grants: vec![], want: Access::Write },
            Case { name: "partnership member council", principal: b_member, active: true, space: SpaceOwnerCase::Partnership(Some(membership(2, MemberRole::Member, false))), archived: false, grants: vec![], want: Access::Write },
            Case { name: "partnership member council admin", principal: a_admin, active: true, space: SpaceOwnerCase::Partnership(Some(membership(1, MemberRole::Member, false))), archived: false, grants: vec![], want: Access::Admin },
            Case { name: "council outside the partnership", principal: b_member, active: true, space: SpaceOwnerCase::Partnership(None), archived: false, grants: vec![], want: Access::None },
            Case { name: "membership of another org is not ours", principal: b_member, active: true, space: SpaceOwnerCase::Partnership(Some(membership(1, MemberRole::Member, false))), archived: false, grants: vec![], want: Access::None },
            Case { name: "council that left the partnership", principal: b_member, active: true, space: SpaceOwnerCase::Partnership(Some(membership(2, MemberRole::Member, true))), archived: false, grants: vec![], want: Access::None },
            Case { name: "guest organisation gets nothing from the space", principal: principal(3, OrgRole::Admin, false), active: true, space: SpaceOwnerCase::Partnership(Some(membership(3, MemberRole::Guest, false))), archived: false, grants: vec![], want: Access::None },
            Case { name: "guest with live viewer grant", principal: guest, active: true, space: SpaceOwnerCase::Partnership(None), archived: false, grants: vec![grant(&guest, GrantRole::Viewer, None, false)], want: Access::Read },
            Case { name: "guest with live commenter grant", principal: guest, active: true, space: SpaceOwnerCase::Partnership(None), archived: false, grants: vec![grant(&guest, GrantRole::Commenter, Some(NOW + 1), false)], want: Access::Comment },
            Case { name: "guest with live editor grant", principal: guest, active: true, space: SpaceOwnerCase::Partnership(None), archived: false, grants: vec![grant(&guest, GrantRole::Editor, Some(NOW + 60_000), false)], want: Access::Write },
            Case { name: "guest with expired grant", principal: guest, active: true, space: SpaceOwnerCase::Partnership(None), archived: false, grants: vec![grant(&guest, GrantRole::Editor, Some(NOW), false)], want: Access::None },
            Case { name: "guest with revoked grant", principal: guest, active: true, space: SpaceOwnerCase::Partnership(None), archived: false, grants: vec![grant(&guest, GrantRole::Editor, None, true)], want: Access::None },
            Case { name: "guest never gets their own org's private space", principal: guest, active: true, space: SpaceOwnerCase::Private(3), archived: false, grants: vec![], want: Access::None },
            Case { name: "grant to someone else does not count", principal: guest, active: true, space: SpaceOwnerCase::Partnership(None), archived: false, grants: vec![grant(&b_member, GrantRole::Editor, None, false)], want: Access::None },
            Case { name: "strongest of grant and space", principal: b_member, active: true, space: SpaceOwnerCase::Private(2), archived: false, grants: vec![grant(&b_member, GrantRole::Viewer, None, false)], want: Access::Write },
            Case { name: "grant lifts a council outside the partnership", principal: b_member, active: true, space: SpaceOwnerCase::Partnership(None), archived: false, grants: vec![grant(&b_member, GrantRole::Commenter, None, false)], want: Access::Comment },
            Case { name: "archived document: member reads only", principal: a_member, active: true, space: SpaceOwnerCase::Private(1), archived: true, grants: vec![], want: Access::Read },
            Case { name: "archived document: admin keeps admin", principal: a_admin, active: true, space: SpaceOwnerCase::Private(1), archived: true, grants: vec![], want: Access::Admin },
            Case { name: "archived document: guest editor reads only", principal: guest, active: true, space: SpaceOwnerCase::Partnership(None), archived: true, grants: vec![grant(&guest, GrantRole::Editor, None, false)], want: Access::Read },
            Case { name: "archived document: outsider still nothing", principal: b_member, active: true, space: SpaceOwnerCase::Private(1), archived: true, grants: vec![], want: Access::None },
            Case { name: "disabled account", principal: a_admin, active: false, space: SpaceOwnerCase::Private(1), archived: false, grants: vec![], want: Access::None },
        ];
        let mut failures = Vec::new();
        for case in &cases {
            let space = match &case.space {
                SpaceOwnerCase::Private(org) => SpaceAccess::Private { org_id: Uuid::from_u128(*org) },
                SpaceOwnerCase::Partnership(m) => SpaceAccess::Partnership { membership: m.as_ref() },
            };
            let got = decide(&AccessFacts {
                principal: &case.principal,
                user_active: case.active,
                space,
                archived: case.archived,
                grants: &case.grants,
                now: NOW,
            });
            if got != case.want {
                failures.push(format!("{}: want {:?}, got {:?}", case.name, case.want, got));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
