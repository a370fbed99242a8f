//! The entities of a Concordat workspace. Plain data: the store persists them, the server
//! serialises them, the access decision reads them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ids::DocumentId;

/// Milliseconds since the Unix epoch (UTC). Every stored instant uses this one unit.
pub type Millis = i64;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        // Written by hand: utoipa's derive does not see a `serde(rename)` whose text comes
        // through a macro, and would document the variant names instead of the wire values.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }
        impl ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable text stored in the database and sent over the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::validate::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(crate::validate::UnknownValue {
                        what: stringify!($name),
                        value: s.to_owned(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// What kind of body an organisation is.
    OrgKind { Council => "council", Partner => "partner" }
}

string_enum! {
    /// A user's role inside their own organisation.
    OrgRole { Admin => "admin", Member => "member" }
}

string_enum! {
    /// An organisation's place in a partnership. Guests reach only documents granted to their users.
    MemberRole { Host => "host", Member => "member", Guest => "guest" }
}

string_enum! {
    /// The legal basis a partnership rests on.
    LegalBasis {
        InterAuthorityAgreement => "inter-authority-agreement",
        S101Delegation => "s101-delegation",
        JointCommittee => "joint-committee",
        Other => "other",
    }
}

string_enum! {
    /// The kinds of live document.
    DocumentKind {
        RiskRegister => "risk-register",
        Sla => "sla",
        /// An SLA's cost shares, shared posts' time and savings that its guests do not see
        /// (see `documents::sla::PartnersFigures`).
        SlaFigures => "sla-figures",
        Agreement => "agreement",
        Meeting => "meeting",
    }
}

string_enum! {
    /// The role a per-document grant gives (guests, or anyone given extra access).
    GrantRole { Viewer => "viewer", Commenter => "commenter", Editor => "editor" }
}

/// A council or partner body: the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Organisation {
    pub id: Uuid,
    pub name: String,
    pub kind: OrgKind,
    /// The e-mail domains this organisation has verified (set by the platform operator when it
    /// is created). Accounts of its people are created only for addresses in these domains, and
    /// no other organisation may hold an account or guest in them.
    #[serde(default)]
    pub domains: Vec<String>,
    pub created_at: Millis,
}

impl Organisation {
    /// Whether `email` (already normalised by [`crate::validate::email`]) is in one of this
    /// organisation's verified domains.
    pub fn owns_address(&self, email: &str) -> bool {
        crate::validate::email_domain(email).is_some_and(|d| self.domains.iter().any(|o| o == d))
    }
}

/// A person with an account. They belong to exactly one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: OrgRole,
    /// A guest reaches only documents explicitly granted to them, never a whole space.
    pub is_guest: bool,
    pub disabled: bool,
    pub created_at: Millis,
    /// The platform operator (made by `concordat setup`): creates organisations, their first
    /// administrators and partnerships. Only system work sets it.
    #[serde(default)]
    pub platform_operator: bool,
}

/// A shared-service partnership between councils, with invited guest organisations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Partnership {
    pub id: Uuid,
    pub name: String,
    pub legal_basis: LegalBasis,
    /// When the agreement is next due for review.
    pub review_date: Option<NaiveDate>,
    /// Notice a member must give to leave, in months.
    pub notice_period_months: Option<i32>,
    pub created_at: Millis,
}

/// An organisation's membership of a partnership. `left_at` set means it has left: history is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    pub partnership_id: Uuid,
    pub org_id: Uuid,
    pub role: MemberRole,
    pub joined_at: Millis,
    pub left_at: Option<Millis>,
}

impl Membership {
    /// Host or member, and not left: such an organisation's users reach the shared space.
    pub fn gives_space_access(&self) -> bool {
        self.left_at.is_none() && matches!(self.role, MemberRole::Host | MemberRole::Member)
    }
}

/// Who owns a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SpaceOwner {
    /// One organisation's private space: no partner sees it.
    Private { org_id: Uuid },
    /// A partnership's shared space.
    Partnership { partnership_id: Uuid },
}

/// Where documents live. Access follows the space, plus per-document grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Space {
    pub id: Uuid,
    pub name: String,
    pub owner: SpaceOwner,
}

/// A live document's metadata; its content is an automerge document with the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Document {
    pub id: DocumentId,
    pub space_id: Uuid,
    pub kind: DocumentKind,
    pub title: String,
    pub archived: bool,
    pub created_by: Uuid,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A named version: the document's heads frozen under a label ("Agreed at Joint Governance
/// Committee, 12 March"). Never altered once made (the database refuses updates and deletes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Version {
    pub id: Uuid,
    pub document_id: DocumentId,
    pub label: String,
    /// The automerge change hashes (hex) that were the document's heads.
    pub heads: Vec<String>,
    pub created_by: Uuid,
    pub created_at: Millis,
}

/// Per-document access for one user, with optional expiry; revocable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Grant {
    pub id: Uuid,
    pub document_id: DocumentId,
    pub user_id: Uuid,
    pub role: GrantRole,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    pub granted_by: Uuid,
    pub created_at: Millis,
}

impl Grant {
    /// Not revoked and not past its expiry at `now`.
    pub fn is_live(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// An invitation for an e-mail address to named documents. The secret token is never stored:
/// only its hash is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    /// The organisation that invited.
    pub org_id: Uuid,
    /// The organisation the guest belongs to (a partner body).
    pub guest_org_id: Uuid,
    pub role: GrantRole,
    pub document_ids: Vec<DocumentId>,
    /// The link stops working at this instant.
    pub expires_at: Millis,
    /// The grants it creates end at this instant (none: until revoked).
    pub grant_expires_at: Option<Millis>,
    pub accepted_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    pub created_by: Uuid,
    pub created_at: Millis,
}

impl Invitation {
    pub fn is_usable(&self, now: Millis) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}
