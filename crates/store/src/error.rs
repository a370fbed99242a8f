use sqlx::error::ErrorKind;

/// A storage failure, classified so the API can answer precisely. Database details stay in
/// the source error (for logs); the variants carry nothing a client must not see.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint: the thing already exists.
    #[error("already exists")]
    Conflict,
    /// A foreign key: something referred to does not exist.
    #[error("refers to something that does not exist")]
    MissingReference,
    /// A check constraint, or row-level security refusing a write.
    #[error("refused by the database's rules")]
    Refused,
    /// A stored value this build cannot read.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// SQLite failing on the appender's own connection (see `appender.rs`).
    #[error("database error")]
    Sqlite(#[source] rusqlite::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            // 42501: insufficient_privilege, which is how PostgreSQL reports a row-level
            // security WITH CHECK failure.
            if db.code().as_deref() == Some("42501") {
                return StoreError::Refused;
            }
            match db.kind() {
                ErrorKind::UniqueViolation => return StoreError::Conflict,
                ErrorKind::ForeignKeyViolation => return StoreError::MissingReference,
                ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                    return StoreError::Refused;
                }
                _ => {}
            }
        }
        StoreError::Database(e)
    }
}

impl From<domain::validate::UnknownValue> for StoreError {
    fn from(e: domain::validate::UnknownValue) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
