//! Tenant and contact ids: validated once at the boundary, then carried as checked types.
//! Every public call takes these, so an id that reaches the rules or the store is valid.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

fn valid(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

macro_rules! checked_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `id`; anything outside `^[A-Za-z0-9_-]{1,64}$` is an
            /// [`Error::InvalidId`], never "sanitised" into another id.
            pub fn new(id: &str) -> Result<Self> {
                Self::try_from(id.to_owned())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;

            fn try_from(id: String) -> Result<Self> {
                if valid(&id) {
                    Ok(Self(id))
                } else {
                    Err(Error::InvalidId { kind: $kind, id })
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

checked_id!(
    /// A tenant id: `^[A-Za-z0-9_-]{1,64}$`. [`TenantId::default`] is the default tenant,
    /// `default`, whose rules every other tenant inherits.
    TenantId,
    "tenant"
);

checked_id!(
    /// A contact (lead) id, unique within its tenant; same pattern as [`TenantId`].
    ContactId,
    "contact"
);

/// The id (and rules folder name) of the default tenant, whose rules every other tenant
/// inherits.
pub const DEFAULT_TENANT: &str = "default";

impl Default for TenantId {
    fn default() -> Self {
        Self(DEFAULT_TENANT.to_owned())
    }
}

impl TenantId {
    /// True for the default tenant, whose rules every other tenant inherits.
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_TENANT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_pattern_and_rejects_everything_else() {
        assert!(TenantId::new("loc_123-AB").is_ok());
        assert!(TenantId::new(&"a".repeat(64)).is_ok());
        assert_eq!(TenantId::default().as_str(), "default");
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

    #[test]
    fn serde_validates_on_the_way_in() {
        let id: ContactId = serde_json::from_str("\"c-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"c-1\"");
        assert!(serde_json::from_str::<ContactId>("\"../x\"").is_err());
    }
}
