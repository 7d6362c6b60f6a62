//! Email addresses: trimmed, lower-cased, NFC-normalised, checked for a plausible shape
//! and for what the mailer can send to.

use std::fmt;

use email_address::EmailAddress;
use unicode_normalization::UnicodeNormalization;

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

/// An email address, trimmed, lower-cased and in Unicode NFC, so that it compares
/// case-insensitively (beyond ASCII too) and one address has one spelling (`é` typed as
/// one character or as `e` and a combining accent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Parses an address as a user typed it. Besides its own shape rules, it holds the
    /// address to those the mailer applies before sending (the `email_address` crate's
    /// local part, and a domain valid as typed or in its IDNA form), so an address
    /// accepted here can be mailed.
    ///
    /// # Errors
    /// [`EmailError`] when it is too long or not shaped like `local@domain.tld`.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email: String = raw.trim().to_lowercase().nfc().collect();
        if email.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if valid_local(local) && valid_domain(domain) && mailable(local, domain) {
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

/// What lettre checks before it sends: the local part by `email_address`, and the domain
/// as typed or in its IDNA (punycode) form.
fn mailable(local: &str, domain: &str) -> bool {
    EmailAddress::is_valid_local_part(local)
        && (EmailAddress::is_valid_domain(domain)
            || idna::domain_to_ascii(domain)
                .is_ok_and(|ascii| EmailAddress::is_valid_domain(&ascii)))
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
    fn one_address_has_one_spelling() {
        let composed = Email::parse("jos\u{e9}@example.com").unwrap();
        let decomposed = Email::parse("Jose\u{301}@example.com").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(composed.as_str(), "jos\u{e9}@example.com");
    }

    #[test]
    fn addresses_the_mailer_refuses_are_refused() {
        // A combining accent with nothing to combine with stays a lone mark under NFC:
        // lettre refuses such a local part, so sign-up does too.
        for bad in ["\u{301}u1@example.com", "a\u{200d}b@example.com"] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
        assert!(Email::parse("müller@bücher.de").is_ok());
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
