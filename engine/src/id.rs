//! Tenant and contact ids: validated once at the boundary, then carried as checked types.

use crate::error::{Error, Result};
use std::fmt;

fn valid(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A tenant id: `^[A-Za-z0-9_-]{1,64}$`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Validates `id`; anything outside the pattern is an [`Error::InvalidId`].
    pub fn new(id: &str) -> Result<Self> {
        if valid(id) {
            Ok(Self(id.to_owned()))
        } else {
            Err(Error::InvalidId {
                kind: "tenant",
                id: id.to_owned(),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A contact (lead) id, unique within its tenant; same pattern as [`TenantId`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactId(String);

impl ContactId {
    /// Validates `id`; anything outside the pattern is an [`Error::InvalidId`].
    pub fn new(id: &str) -> Result<Self> {
        if valid(id) {
            Ok(Self(id.to_owned()))
        } else {
            Err(Error::InvalidId {
                kind: "contact",
                id: id.to_owned(),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_pattern_and_rejects_everything_else() {
        assert!(TenantId::new("loc_123-AB").is_ok());
        assert!(TenantId::new(&"a".repeat(64)).is_ok());
        for bad in [
            "",
            "../config/secrets.json",
            "/etc/passwd",
            "C:\\Windows\\System32",
            ".env",
            "c.1",
            "contact_123\"; DROP TABLE contacts; --",
            &"a".repeat(65),
            "café",
        ] {
            let err = ContactId::new(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidId {
                        kind: "contact",
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }
}
