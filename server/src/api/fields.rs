//! Strict JSON string fields whose schema carries the domain's rules.
//!
//! poem-openapi's `String` also accepts JSON numbers and booleans; these accept only JSON
//! strings. They check nothing else: the handler parses them into domain types, so a
//! 422 lists every invalid field with the domain's own message, while the OpenAPI
//! document still states the rules (lengths, patterns) for clients and test generators.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use mercado_core::domain::{
    Description, FullName, IdempotencyKey, InvalidKey, MAX_KEY_CHARS, ProductName, TextError,
};

/// A price as [`Price::parse`](mercado_core::domain::Price::parse) reads it.
const PRICE: &str = "^[0-9]{1,8}(\\.[0-9]{1,2})?$";

/// What a pattern of the document means, in the words the domain uses for it.
pub fn pattern_message(pattern: &str) -> Option<String> {
    let message = match pattern {
        _ if pattern == ProductName::PATTERN => TextError::Control.to_string(),
        _ if pattern == Description::PATTERN => TextError::ControlBesidesLineBreaks.to_string(),
        _ if pattern == IdempotencyKey::PATTERN => InvalidKey.to_string(),
        PRICE => "must be a decimal string from 0.00 to 99999999.99 with at most two fraction \
                  digits, e.g. \"19.99\""
            .to_owned(),
        _ => return None,
    };
    Some(message)
}

macro_rules! string_field {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $value:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(pub String);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({} chars)", stringify!($name), self.0.chars().count())
            }
        }

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new(MetaSchema { $($field: $value,)* ..MetaSchema::new("string") }))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                Some(Value::String(self.0.clone()))
            }
        }

        // For a field sent as a header.
        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                Ok(Self(value.to_owned()))
            }
        }

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                match value.unwrap_or_default() {
                    Value::String(s) => Ok(Self(s)),
                    other => Err(ParseError::expected_type(other)),
                }
            }
        }
    };
}

string_field!(
    /// An email address; trimmed and lower-cased by the server.
    EmailField { format: Some("email"), max_length: Some(254), example: Some("alice@example.com".into()) }
);
string_field!(
    /// A new password: 8 to 128 characters.
    PasswordField { format: Some("password"), min_length: Some(8), max_length: Some(128) }
);
string_field!(
    /// A password as typed, checked only against the stored hash.
    CurrentPasswordField { format: Some("password") }
);
string_field!(
    /// A one-time token from a link in a mail (43 URL-safe characters as issued).
    TokenField { format: Some("password"), min_length: Some(1), max_length: Some(256) }
);
string_field!(
    /// A user's full name, or `null`.
    FullNameField { max_length: Some(255), pattern: Some(FullName::PATTERN.into()), nullable: true }
);
string_field!(
    /// A product name: 1 to 200 characters.
    ProductNameField { min_length: Some(1), max_length: Some(200), pattern: Some(ProductName::PATTERN.into()) }
);
string_field!(
    /// A product description (at most 2 000 characters), or `null`.
    DescriptionField { max_length: Some(2000), pattern: Some(Description::PATTERN.into()), nullable: true }
);
string_field!(
    /// A price: a decimal string with at most two fraction digits, 0.00 to 99999999.99.
    PriceField {
        format: Some("decimal"),
        pattern: Some(PRICE.into()),
        example: Some("19.99".into()),
    }
);

string_field!(
    /// A key that makes a retry of this request safe: sent again with the same key (1 to
    /// 255 printable ASCII characters) within 24 hours, the request gets the first answer
    /// again, with `Idempotent-Replayed: true`, and changes nothing.
    IdempotencyKeyField {
        min_length: Some(1),
        max_length: Some(MAX_KEY_CHARS),
        pattern: Some(IdempotencyKey::PATTERN.into()),
    }
);

#[cfg(test)]
mod tests {
    use mercado_core::domain::SearchText;
    use regex::Regex;

    use super::*;

    /// The document's patterns allow exactly the characters the domain allows.
    #[test]
    fn text_patterns_are_the_domains_rules() {
        let single = Regex::new(ProductName::PATTERN).unwrap();
        let multi = Regex::new(Description::PATTERN).unwrap();
        for c in (0..0x3000).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            assert_eq!(
                single.is_match(&text),
                ProductName::parse(&text).is_ok(),
                "{c:?}"
            );
            assert_eq!(
                multi.is_match(&text),
                Description::parse(&text).is_ok(),
                "{c:?}"
            );
        }
        let key = Regex::new(IdempotencyKey::PATTERN).unwrap();
        for c in (0..0x3000).filter_map(char::from_u32) {
            for text in [
                format!("a{c}b"),
                format!("{c}b"),
                format!("a{c}"),
                c.to_string(),
            ] {
                assert_eq!(
                    key.is_match(&text),
                    IdempotencyKey::parse(&text).is_ok(),
                    "{text:?}"
                );
            }
        }
        assert_eq!(FullName::PATTERN, ProductName::PATTERN);
        assert_eq!(SearchText::PATTERN, ProductName::PATTERN);
    }
}
