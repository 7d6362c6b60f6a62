//! Email addresses: trimmed, lower-cased, checked for a plausible shape.

use std::fmt;

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Longer than 254 characters (the SMTP path limit).
    #[error("must be at most 254 characters")]
    TooLong,
    /// Not of the form `local@domain.tld` with permitted characters.
    #[error("is not a valid email address")]
    Invalid,
}

/// An email address, trimmed and lower-cased so that it compares case-insensitively
/// (beyond ASCII too).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Parses an address as a user typed it.
    ///
    /// # Errors
    /// [`EmailError`] when it is too long or not shaped like `local@domain.tld`.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim().to_lowercase();
        if email.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if valid_local(local) && valid_domain(domain) {
            Ok(Self(email))
        } else {
            Err(EmailError::Invalid)
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 5322 dot-atom, plus any non-ASCII letter (RFC 6531).
fn valid_local(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    !local.is_empty()
        && local.chars().count() <= 64
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || SPECIALS.contains(c)
                        || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
                })
        })
}

/// At least two labels of letters, digits and inner hyphens; a non-numeric top label.
fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn lower_casing_goes_beyond_ascii() {
        assert_eq!(
            Email::parse("ÉLODIE@Exemple.FR").unwrap().as_str(),
            "élodie@exemple.fr"
        );
    }

    #[test]
    fn rfc_specials_are_allowed_in_the_local_part() {
        assert!(Email::parse("o'brien+tag!#$%&*/=?^_`{|}~-x@example.com").is_ok());
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@.com",
            "a@b..com",
            "a b@c.com",
            "a@-b.com",
            "a@b-.com",
            ".a@b.com",
            "a.@b.com",
            "a..b@c.com",
            "a@b.123",
            "a@b.com\0",
            "a\"b@c.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn addresses_over_254_characters_are_rejected() {
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(190));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(local in "[a-zA-Z0-9]{1,20}", domain in "[a-zA-Z]{1,20}") {
            let first = Email::parse(&format!("{local}@{domain}.com")).unwrap();
            prop_assert_eq!(Email::parse(first.as_str()).unwrap(), first);
        }
    }
}
