//! Document identifiers in automerge-repo's format: 16 random bytes, base58check-encoded,
//! addressed as `automerge:<id>`. Other entities use random UUID v4s (never sequential).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The prefix of an automerge-repo document URL.
pub const URL_PREFIX: &str = "automerge:";

/// An automerge-repo document id (16 bytes, shown as base58check).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentIdError {
    #[error("not a base58check document id")]
    Encoding,
    #[error("a document id holds 16 bytes, this one holds {0}")]
    Length(usize),
}

impl DocumentId {
    /// A fresh random id (the bytes of a UUID v4: 122 random bits).
    pub fn random() -> Self {
        Self(*uuid::Uuid::new_v4().as_bytes())
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// `automerge:<id>`, the URL automerge-repo clients open.
    pub fn url(&self) -> String {
        format!("{URL_PREFIX}{self}")
    }

    /// Accepts either a bare id or an `automerge:` URL.
    pub fn parse_url_or_id(s: &str) -> Result<Self, DocumentIdError> {
        s.strip_prefix(URL_PREFIX).unwrap_or(s).parse()
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = DocumentIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|_| DocumentIdError::Encoding)?;
        let arr: [u8; 16] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| DocumentIdError::Length(bytes.len()))?;
        Ok(Self(arr))
    }
}

impl Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_url_or_id(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for DocumentId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("automerge-repo document id (base58check of 16 bytes)"))
            .examples(["4NMNnkMhL8jXrdJ9jamS58PAVdXu"])
            .into()
    }
}

impl utoipa::ToSchema for DocumentId {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_automerge_repo_id_round_trips() {
        // An id produced by the JS automerge-repo (`generateAutomergeUrl`).
        let id: DocumentId = "4NMNnkMhL8jXrdJ9jamS58PAVdXu".parse().expect("valid id");
        assert_eq!(id.to_string(), "4NMNnkMhL8jXrdJ9jamS58PAVdXu");
        assert_eq!(id.url(), "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu");
    }

    #[test]
    fn rejects_bad_checksum_and_length() {
        assert_eq!(
            "4NMNnkMhL8jXrdJ9jamS58PAVdXv".parse::<DocumentId>(),
            Err(DocumentIdError::Encoding)
        );
        let short = bs58::encode([1u8; 8]).with_check().into_string();
        assert_eq!(short.parse::<DocumentId>(), Err(DocumentIdError::Length(8)));
        assert!("".parse::<DocumentId>().is_err());
        assert!("automerge:0OIl".parse::<DocumentId>().is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(bytes in any::<[u8; 16]>()) {
            let id = DocumentId::from_bytes(bytes);
            prop_assert_eq!(DocumentId::parse_url_or_id(&id.url()), Ok(id));
            prop_assert_eq!(id.to_string().parse::<DocumentId>(), Ok(id));
        }
    }
}
