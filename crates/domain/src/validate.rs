//! Input rules shared by every entry point (REST, CLI, import): what a valid name, e-mail
//! address or password is. Each failure names the field at fault.

/// A stored or submitted value that is not one of an enumeration's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {what}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// A field that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Longest name or title accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Shortest password accepted, in characters (NCSC guidance favours length over composition).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted, in bytes: bounds the hashing work one request can ask for.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A display name or title: trimmed, 1..=200 characters, no control characters.
pub fn name(field: &'static str, value: &str) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An e-mail address, normalised to lower case. Only the shape is checked: the address is an
/// account name here, nothing is sent to it.
pub fn email(field: &'static str, value: &str) -> Result<String, FieldError> {
    let v = value.trim().to_lowercase();
    let bad = || FieldError::new(field, "must be an e-mail address like name@council.gov.uk");
    if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(v)
}

/// A new password: long enough to resist guessing, short enough to hash cheaply.
/// The domain part of a normalised e-mail address.
pub fn email_domain(email: &str) -> Option<&str> {
    email.rsplit_once('@').map(|(_, d)| d)
}

/// Most verified domains one organisation may have.
pub const MAX_DOMAINS: usize = 20;

/// An e-mail domain an organisation verifies (`ashby.gov.uk`): lowercase letters, digits and
/// hyphens in dot-separated labels, at least two labels, at most 253 characters.
pub fn domain(field: &'static str, value: &str) -> Result<String, FieldError> {
    let v = value.trim().trim_start_matches('@').to_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let labels: Vec<&str> = v.split('.').collect();
    if v.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
        return Err(FieldError::new(
            field,
            format!("{value:?} is not an e-mail domain like council.gov.uk"),
        ));
    }
    Ok(v)
}

/// A list of verified domains: each valid, no repeats, at most [`MAX_DOMAINS`].
pub fn domains(field: &'static str, values: &[String]) -> Result<Vec<String>, FieldError> {
    if values.len() > MAX_DOMAINS {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_DOMAINS} domains"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let d = domain(field, v)?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

pub fn password(field: &'static str, value: &str) -> Result<(), FieldError> {
    if value.chars().count() < MIN_PASSWORD_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if value.len() > MAX_PASSWORD_BYTES {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            name("title", "  Shared register ").as_deref(),
            Ok("Shared register")
        );
        assert_eq!(name("title", "   ").map_err(|e| e.field), Err("title"));
        assert!(name("title", &"x".repeat(201)).is_err());
        assert!(name("title", &"é".repeat(200)).is_ok());
        assert!(name("title", "a\u{7}b").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            email("email", " Ann@Council.GOV.uk").as_deref(),
            Ok("ann@council.gov.uk")
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@council.gov.uk",
            "ann@council",
            "a b@c.uk",
            "a@b@c.uk",
            "a@.uk",
        ] {
            assert!(email("email", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("password", "short").is_err());
        assert!(password("password", "correct horse battery").is_ok());
        assert!(password("password", &"x".repeat(1025)).is_err());
    }
}

#[cfg(test)]
mod domain_tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(domain("d", " @Ashby.GOV.uk ").unwrap(), "ashby.gov.uk");
        for bad in [
            "", "uk", "a..b", "-a.uk", "a_b.uk", "a b.uk", "x@y.uk", ".a.uk",
        ] {
            assert!(domain("d", bad).is_err(), "{bad:?} accepted");
        }
        let many: Vec<String> = (0..=MAX_DOMAINS).map(|i| format!("d{i}.uk")).collect();
        assert!(domains("d", &many).is_err());
        assert_eq!(
            domains("d", &["a.uk".into(), "A.uk".into()]).unwrap(),
            vec!["a.uk".to_owned()]
        );
        assert_eq!(email_domain("x@a.uk"), Some("a.uk"));
    }
}
