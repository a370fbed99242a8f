//! `concordat setup`: the first run on an empty database. Makes the platform operator — an
//! administrator of the organisation deploying Concordat (usually the host council), with the
//! operator's flag — and prints the one-time link with which they choose a password. From then
//! on the operator works in the web UI or over REST (`api::platform`): other councils and
//! partner bodies with their verified domains, their first administrators, partnerships.
//!
//! Non-interactive with every flag given (for scripts); asks on the terminal for what is missing
//! when there is one. Safe to run again: for the same operator it prints a fresh link while they
//! have not chosen a password, and otherwise changes nothing.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use domain::{OrgKind, OrgRole, User, validate};
use store::System;
use uuid::Uuid;

use crate::AppState;
use crate::api::platform::{SETUP_LINK_DAYS, account_to_set_up, new_setup_link};

/// What `concordat setup` was given (flags; `None` = ask).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub organisation: Option<String>,
    pub domains: Vec<String>,
    pub link_days: Option<u32>,
}

/// Runs the set-up and returns what to print.
pub async fn run(state: &AppState, req: Request) -> anyhow::Result<String> {
    let mut ask = Asker::new();
    let email = match req.email {
        Some(e) => e,
        None => ask.line("E-mail address of the platform operator", "--email")?,
    };
    let email = validate::email("email", &email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let days = req.link_days.unwrap_or(SETUP_LINK_DAYS);
    if !(1..=30).contains(&days) {
        bail!("--link-days must be between 1 and 30");
    }

    let operators = state.store.operators(System::PROVISION).await?;
    if let Some(op) = operators.iter().find(|o| o.email == email) {
        let (_, password) = state
            .store
            .login_lookup(System::LOGIN, &email)
            .await?
            .context("the operator's account")?;
        if password.is_some() {
            return Ok(format!(
                "Concordat is already set up: {email} is the platform operator. Sign in at {}.",
                state.config.public_url
            ));
        }
        let (link, _) = new_setup_link(state, op.id, days)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(format!(
            "Concordat is already set up, and {email} has not chosen a password yet. A new \
             one-time link (valid {days} days):\n{link}"
        ));
    }
    if !operators.is_empty() {
        let names: Vec<&str> = operators.iter().map(|o| o.email.as_str()).collect();
        bail!(
            "Concordat is already set up: the platform operator is {}. `concordat setup` makes the \
             first operator of an empty database only",
            names.join(", ")
        );
    }

    let display_name = match req.display_name {
        Some(n) => n,
        None => ask.line("The operator's name, as colleagues will see it", "--name")?,
    };
    let display_name =
        validate::name("name", &display_name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let org_name = match req.organisation {
        Some(o) => o,
        None => ask.line(
            "The operator's organisation (the council deploying Concordat)",
            "--organisation",
        )?,
    };
    let org_name = validate::name("organisation", &org_name)
        .map_err(|e| anyhow::anyhow!("--organisation: {e}"))?;

    let org = match state
        .store
        .organisation_by_name(System::PROVISION, &org_name)
        .await?
    {
        Some(org) => org,
        None => {
            let mut domains = req.domains;
            if domains.is_empty() {
                let own = validate::email_domain(&email).unwrap_or_default();
                let answer = ask.line(
                    &format!("Verified e-mail domains of {org_name}, comma-separated [{own}]"),
                    "--domain",
                )?;
                domains = if answer.trim().is_empty() {
                    vec![own.to_owned()]
                } else {
                    answer.split(',').map(|d| d.trim().to_owned()).collect()
                };
            }
            // Checked before anything is created: a refused set-up leaves the database empty.
            let domains = validate::domains("domain", &domains)
                .map_err(|e| anyhow::anyhow!("--domain: {e}"))?;
            let own = validate::email_domain(&email).unwrap_or_default();
            if !domains.iter().any(|d| d == own) {
                bail!(
                    "{email} is not an address in {} ({}): the operator is one of the \
                     organisation's people",
                    org_name,
                    domains.join(", ")
                );
            }
            crate::api::organisations::provision_organisation(
                state,
                &org_name,
                OrgKind::Council,
                domains,
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating {org_name}: {e}"))?
        }
    };
    if !org.owns_address(&email) {
        bail!(
            "{email} is not an address of {} (its verified domains: {}); the operator is one of \
             its people",
            org.name,
            if org.domains.is_empty() {
                "none".to_owned()
            } else {
                org.domains.join(", ")
            }
        );
    }
    let user = User {
        id: Uuid::new_v4(),
        org_id: org.id,
        email: email.clone(),
        display_name,
        role: OrgRole::Admin,
        is_guest: false,
        disabled: false,
        created_at: store::now_millis(),
        platform_operator: true,
    };
    let made = account_to_set_up(state, user, days)
        .await
        .map_err(|e| anyhow::anyhow!("creating the operator: {e}"))?;
    tracing::info!(user = %made.user.id, organisation = %org.id, "platform operator created");
    Ok(format!(
        "Concordat is set up. {email} is the platform operator and an administrator of {}.\n\
         Open this one-time link to choose the password (valid {days} days):\n{}",
        org.name, made.link
    ))
}

/// Asks on the terminal, or explains which flag is missing when there is none.
struct Asker {
    terminal: bool,
}

impl Asker {
    fn new() -> Self {
        Self {
            terminal: std::io::stdin().is_terminal(),
        }
    }

    fn line(&mut self, question: &str, flag: &str) -> anyhow::Result<String> {
        if !self.terminal {
            bail!("{flag} is required (there is no terminal to ask on)");
        }
        let mut err = std::io::stderr();
        write!(err, "{question}: ")?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(answer.trim().to_owned())
    }
}
