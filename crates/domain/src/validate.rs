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
