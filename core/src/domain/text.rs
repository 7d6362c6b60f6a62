//! Bounded texts: product names and descriptions, full names, search terms.

/// Why a text is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Too short or too long, counted in Unicode scalar values.
    #[error("must be {min} to {max} characters long")]
    Length {
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
    },
    /// Contains a NUL character, which no supported database stores in text.
    #[error("must not contain NUL characters")]
    Nul,
}

fn check(raw: &str, min: usize, max: usize) -> Result<String, TextError> {
    if raw.contains('\0') {
        return Err(TextError::Nul);
    }
    let len = raw.chars().count();
    if len < min || len > max {
        return Err(TextError::Length { min, max });
    }
    Ok(raw.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Fewest characters.
            pub const MIN_CHARS: usize = $min;
            /// Most characters.
            pub const MAX_CHARS: usize = $max;

            /// Checks the length (in characters) and refuses NUL; the text is kept verbatim.
            ///
            /// # Errors
            /// [`TextError`] when too short, too long or containing NUL.
            pub fn parse(raw: &str) -> Result<Self, TextError> {
                check(raw, Self::MIN_CHARS, Self::MAX_CHARS).map(Self)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A product's name: 1 to 200 characters.
    ProductName,
    1,
    200
);
text_type!(
    /// A product's description: at most 2 000 characters.
    Description,
    0,
    2_000
);
text_type!(
    /// A user's full name: at most 255 characters.
    FullName,
    0,
    255
);
text_type!(
    /// A product search term (`?q=`): at most 200 characters, matched literally.
    SearchText,
    0,
    200
);

impl ProductName {
    /// The name folded for case-insensitive search (Unicode lower case), as stored beside
    /// it so every database can match it with a plain `LIKE`.
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }
}

impl SearchText {
    /// The term folded the same way as [`ProductName::folded`].
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_counted_in_characters_not_bytes() {
        assert!(ProductName::parse(&"é".repeat(200)).is_ok());
        assert_eq!(
            ProductName::parse(&"é".repeat(201)),
            Err(TextError::Length { min: 1, max: 200 })
        );
        assert!(ProductName::parse("").is_err());
    }

    #[test]
    fn texts_are_kept_verbatim_including_sql_and_spaces() {
        let raw = " Robert'); DROP TABLE products;-- ";
        assert_eq!(ProductName::parse(raw).unwrap().as_str(), raw);
    }

    #[test]
    fn nul_is_refused_everywhere() {
        assert_eq!(Description::parse("a\0b"), Err(TextError::Nul));
        assert_eq!(FullName::parse("\0"), Err(TextError::Nul));
    }

    #[test]
    fn folding_lowers_case_beyond_ascii() {
        assert_eq!(ProductName::parse("ÄPFEL Ω").unwrap().folded(), "äpfel ω");
        assert_eq!(SearchText::parse("ÄP").unwrap().folded(), "äp");
    }
}
