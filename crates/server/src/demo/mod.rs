//! The demo workspace: two councils in a shared-management partnership, a third council outside
//! it, a third-sector guest with a grant on the SLA, a private register for each council, and the
//! partnership's shared register, SLA, agreement and a meeting. Seeding is idempotent.

mod content;

use std::fmt::Write as _;

use domain::access::Principal;
use domain::{
    Document, DocumentId, DocumentKind, Grant, GrantRole, LegalBasis, MemberRole, Membership,
    OrgKind, OrgRole, Organisation, Partnership, Space, SpaceOwner, User,
};
use store::{NewUser, Store, System};
use uuid::Uuid;

/// The password of every demo account (printed: this is a demo, bound to localhost by default).
pub const DEMO_PASSWORD: &str = "concordat-demo";

pub const COUNCIL_A: &str = "Ashby Borough Council";
pub const COUNCIL_B: &str = "Brockley District Council";
pub const COUNCIL_C: &str = "Carrow City Council";
pub const PARTNER: &str = "Riverside Community Trust";
pub const PARTNERSHIP: &str = "Ashby & Brockley Shared Services";

/// The demo's platform operator (also Ashby's administrator).
pub const OPERATOR: &str = "alice@ashby.gov.uk";

/// The demo accounts: (e-mail, name, organisation, role, guest).
pub const ACCOUNTS: &[(&str, &str, &str, OrgRole, bool)] = &[
    (
        "alice@ashby.gov.uk",
        "Alice Adeyemi (Ashby, admin, platform operator)",
        COUNCIL_A,
        OrgRole::Admin,
        false,
    ),
    (
        "arun@ashby.gov.uk",
        "Arun Shah (Ashby)",
        COUNCIL_A,
        OrgRole::Member,
        false,
    ),
    (
        "bella@brockley.gov.uk",
        "Bella Okafor (Brockley, admin)",
        COUNCIL_B,
        OrgRole::Admin,
        false,
    ),
    (
        "ben@brockley.gov.uk",
        "Ben Walsh (Brockley)",
        COUNCIL_B,
        OrgRole::Member,
        false,
    ),
    (
        "carl@carrow.gov.uk",
        "Carl Nowak (Carrow, admin)",
        COUNCIL_C,
        OrgRole::Admin,
        false,
    ),
    (
        "grace@riverside.org.uk",
        "Grace Lin (Riverside, guest)",
        PARTNER,
        OrgRole::Member,
        true,
    ),
];

/// Creates the demo workspace unless it exists; returns a description with the accounts.
pub async fn seed(store: &dyn Store) -> anyhow::Result<String> {
    let mut out = String::new();
    if store
        .organisation_by_name(System::PROVISION, COUNCIL_A)
        .await?
        .is_some()
    {
        writeln!(out, "Demo workspace already present.")?;
    } else {
        create(store).await?;
        writeln!(out, "Demo workspace created.")?;
    }
    writeln!(out, "Accounts (password for all: {DEMO_PASSWORD}):")?;
    for (email, name, org, _, _) in ACCOUNTS {
        writeln!(out, "  {email:<26} {name}  [{org}]")?;
    }
    Ok(out)
}

async fn create(store: &dyn Store) -> anyhow::Result<()> {
    let now = store::now_millis();
    let mut orgs = Vec::new();
    for (name, kind, domain) in [
        (COUNCIL_A, OrgKind::Council, "ashby.gov.uk"),
        (COUNCIL_B, OrgKind::Council, "brockley.gov.uk"),
        (COUNCIL_C, OrgKind::Council, "carrow.gov.uk"),
        (PARTNER, OrgKind::Partner, "riverside.org.uk"),
    ] {
        let org = Organisation {
            id: Uuid::new_v4(),
            name: name.into(),
            kind,
            domains: vec![domain.into()],
            created_at: now,
        };
        let space = Space {
            id: Uuid::new_v4(),
            name: format!("{name} (private)"),
            owner: SpaceOwner::Private { org_id: org.id },
        };
        store
            .create_organisation(System::PROVISION, &org, &space)
            .await?;
        orgs.push((org, space));
    }
    let org_id = |name: &str| {
        orgs.iter()
            .find(|(o, _)| o.name == name)
            .map(|(o, _)| o.id)
            .unwrap_or_default()
    };
    let private_space = |name: &str| {
        orgs.iter()
            .find(|(o, _)| o.name == name)
            .map(|(_, s)| s.id)
            .unwrap_or_default()
    };

    let hash = crate::auth::hash_password(DEMO_PASSWORD.to_owned()).await?;
    let mut users = Vec::new();
    for (email, name, org, role, guest) in ACCOUNTS {
        let user = User {
            id: Uuid::new_v4(),
            org_id: org_id(org),
            email: (*email).into(),
            display_name: (*name).into(),
            role: *role,
            is_guest: *guest,
            disabled: false,
            created_at: now,
            // Alice also runs the platform, so the demo shows the operator's screens.
            platform_operator: *email == OPERATOR,
        };
        store
            .create_user(
                System::PROVISION,
                &NewUser {
                    user: user.clone(),
                    password_hash: Some(hash.clone()),
                },
            )
            .await?;
        users.push(user);
    }
    let user = |email: &str| {
        users
            .iter()
            .find(|u| u.email == email)
            .ok_or_else(|| anyhow::anyhow!("demo user {email}"))
    };
    // The store proves every caller by a live session: seeding acts through short ones,
    // ended when it is done.
    const SEEDING_MS: i64 = 10 * 60 * 1000;
    let alice = store::act_as(store, user("alice@ashby.gov.uk")?, SEEDING_MS).await?;
    let bella = store::act_as(store, user("bella@brockley.gov.uk")?, SEEDING_MS).await?;
    let carl = store::act_as(store, user("carl@carrow.gov.uk")?, SEEDING_MS).await?;
    let grace = user("grace@riverside.org.uk")?;

    let partnership = Partnership {
        id: Uuid::new_v4(),
        name: PARTNERSHIP.into(),
        legal_basis: LegalBasis::InterAuthorityAgreement,
        review_date: chrono::NaiveDate::from_ymd_opt(2027, 3, 31),
        notice_period_months: Some(12),
        created_at: now,
    };
    let shared = Space {
        id: Uuid::new_v4(),
        name: format!("{PARTNERSHIP} (shared)"),
        owner: SpaceOwner::Partnership {
            partnership_id: partnership.id,
        },
    };
    let host = Membership {
        partnership_id: partnership.id,
        org_id: alice.org_id,
        role: MemberRole::Host,
        joined_at: now,
        left_at: None,
    };
    store
        .create_partnership(System::PROVISION, &partnership, &host, &shared)
        .await?;
    for (org, role) in [
        (bella.org_id, MemberRole::Member),
        (grace.org_id, MemberRole::Guest),
    ] {
        store
            .put_membership(
                &alice,
                &Membership {
                    partnership_id: partnership.id,
                    org_id: org,
                    role,
                    joined_at: now,
                    left_at: None,
                },
            )
            .await?;
    }

    let doc = |space_id: Uuid, kind: DocumentKind, title: &str, by: Principal| {
        let d = Document {
            id: DocumentId::random(),
            space_id,
            kind,
            title: title.into(),
            archived: false,
            created_by: by.user_id,
            created_at: now,
            updated_at: now,
        };
        (d, by)
    };
    let docs = [
        doc(
            private_space(COUNCIL_A),
            DocumentKind::RiskRegister,
            "Ashby corporate risk register",
            alice,
        ),
        doc(
            private_space(COUNCIL_B),
            DocumentKind::RiskRegister,
            "Brockley exit planning register",
            bella,
        ),
        doc(
            private_space(COUNCIL_C),
            DocumentKind::RiskRegister,
            "Carrow corporate risk register",
            carl,
        ),
        doc(
            shared.id,
            DocumentKind::RiskRegister,
            "Shared services partnership risk register",
            alice,
        ),
        doc(
            shared.id,
            DocumentKind::Sla,
            "Revenues & benefits SLA 2026/27",
            alice,
        ),
        doc(
            shared.id,
            DocumentKind::Agreement,
            "Inter-authority agreement",
            alice,
        ),
        doc(
            shared.id,
            DocumentKind::Meeting,
            "Joint Governance Committee, 12 March",
            bella,
        ),
        doc(
            shared.id,
            DocumentKind::SlaFigures,
            "Revenues & benefits SLA 2026/27 — partners' figures",
            alice,
        ),
    ];
    let today = chrono::Utc::now().date_naive();
    let councils = content::Councils {
        a: alice.org_id.to_string(),
        b: bella.org_id.to_string(),
        c: carl.org_id.to_string(),
        partner: grace.org_id.to_string(),
    };
    let (sla, sla_figures) = content::sla(
        &councils,
        today,
        &docs[4].0.id.to_string(),
        &docs[7].0.id.to_string(),
    )?;
    let contents = [
        content::private_register(
            &councils.a,
            "ash",
            &[
                (
                    "Ashby bears the exit costs if Brockley withdraws",
                    "Financial",
                    3,
                    4,
                ),
                (
                    "Ashby's own priorities lose out in the shared team",
                    "Strategic",
                    3,
                    3,
                ),
                (
                    "Leisure centre contract ends without a successor",
                    "Operational",
                    2,
                    4,
                ),
            ],
            today,
        )?,
        content::private_register(
            &councils.b,
            "brk",
            &[
                (
                    "Exit plan: revenues system licence cannot be split",
                    "Operational",
                    3,
                    3,
                ),
                ("Exit plan: staff transfer back under TUPE", "People", 2, 4),
            ],
            today,
        )?,
        content::private_register(
            &councils.c,
            "car",
            &[("City centre regeneration grant clawback", "Financial", 2, 5)],
            today,
        )?,
        content::shared_register(&councils, today)?,
        sla,
        content::agreement(today)?,
        content::meeting(
            &councils,
            today,
            &docs[3].0.id.to_string(),
            &docs[4].0.id.to_string(),
        )?,
        sla_figures,
    ];
    for ((d, by), c) in docs.iter().zip(&contents) {
        if let Err(problems) = c.check() {
            anyhow::bail!(
                "demo content for {:?} fails its schema: {problems:?}",
                d.title
            );
        }
        store
            .create_document(by, d, &domain::schema::document(d.kind, c))
            .await?;
    }
    let sla = &docs[4].0;
    store
        .create_grant(
            &alice,
            &Grant {
                id: Uuid::new_v4(),
                document_id: sla.id,
                user_id: grace.id,
                role: GrantRole::Editor,
                expires_at: None,
                revoked_at: None,
                granted_by: alice.user_id,
                created_at: now,
            },
        )
        .await?;
    for p in [alice, bella, carl] {
        store.revoke_session(&p, p.session_id, now).await?;
    }
    Ok(())
}
