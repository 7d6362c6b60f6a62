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
    /// Contains a control character (NUL, a line break, escape, …) where the text is one
    /// line: such texts reach mail headers, where a line break would start a new header.
    #[error("must not contain control characters such as line breaks")]
    Control,
    /// Contains a control character other than a line break or tab in a text of several
    /// lines (NUL, which no supported database stores in text, escape, …).
    #[error("must not contain control characters other than line breaks and tabs")]
    ControlBesidesLineBreaks,
}

/// One line of text: no control character (Unicode `Cc`: C0, DEL, C1) and neither line
/// nor paragraph separator. The same rule as [`SINGLE_LINE_PATTERN`].
fn is_single_line(c: char) -> bool {
    !c.is_control() && c != '\u{2028}' && c != '\u{2029}'
}

/// Whether `text` is one line by the rule of names ([`FullName`], [`ProductName`]): what
/// may go in a mail header.
pub fn is_one_line(text: &str) -> bool {
    text.chars().all(is_single_line)
}

/// Lines of text: no control character but line feed, carriage return and tab. The same
/// rule as [`MULTI_LINE_PATTERN`].
fn is_multi_line(c: char) -> bool {
    !c.is_control() || matches!(c, '\n' | '\r' | '\t')
}

/// [`is_single_line`] as an ECMA-262 pattern, for the API document.
pub const SINGLE_LINE_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029]*$";
/// [`is_multi_line`] as an ECMA-262 pattern, for the API document.
pub const MULTI_LINE_PATTERN: &str =
    "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";

fn check(raw: &str, multi_line: bool, min: usize, max: usize) -> Result<String, TextError> {
    if multi_line {
        if !raw.chars().all(is_multi_line) {
            return Err(TextError::ControlBesidesLineBreaks);
        }
    } else if !is_one_line(raw) {
        return Err(TextError::Control);
    }
    let len = raw.chars().count();
    if len < min || len > max {
        return Err(TextError::Length { min, max });
    }
    Ok(raw.to_owned())
}

macro_rules! text_type {
    (@multi single_line) => { false };
    (@multi multi_line) => { true };
    ($(#[$doc:meta])* $name:ident, $lines:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Fewest characters.
            pub const MIN_CHARS: usize = $min;
            /// Most characters.
            pub const MAX_CHARS: usize = $max;
            /// Whether line breaks and tabs are allowed.
            pub const MULTI_LINE: bool = text_type!(@multi $lines);
            /// The characters allowed, as an ECMA-262 pattern.
            pub const PATTERN: &str = if Self::MULTI_LINE {
                MULTI_LINE_PATTERN
            } else {
                SINGLE_LINE_PATTERN
            };

            /// Checks the length (in characters) and the characters; the text is kept
            /// verbatim.
            ///
            /// # Errors
            /// [`TextError`] when too short, too long or containing a control character
            /// its kind of text does not allow.
            pub fn parse(raw: &str) -> Result<Self, TextError> {
                check(raw, Self::MULTI_LINE, Self::MIN_CHARS, Self::MAX_CHARS).map(Self)
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
    single_line,
    1,
    200
);
text_type!(
    /// A product's description: at most 2 000 characters.
    Description,
    multi_line,
    0,
    2_000
);
text_type!(
    /// A user's full name: at most 255 characters.
    FullName,
    single_line,
    0,
    255
);
text_type!(
    /// A product search term (`?q=`): at most 200 characters, matched literally.
    SearchText,
    single_line,
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
    fn one_line_texts_refuse_every_control_character() {
        for bad in [
            "a\nb",
            "a\rb",
            "\t",
            "\0",
            "\u{1b}[31m",
            "\u{7f}",
            "\u{85}",
            "a\u{2028}b",
        ] {
            assert_eq!(FullName::parse(bad), Err(TextError::Control), "{bad:?}");
            assert_eq!(ProductName::parse(bad), Err(TextError::Control), "{bad:?}");
            assert_eq!(SearchText::parse(bad), Err(TextError::Control), "{bad:?}");
        }
        assert!(FullName::parse("Zoë O'Brien-Łukasz 山田").is_ok());
    }

    #[test]
    fn descriptions_keep_line_breaks_and_tabs_only() {
        assert!(Description::parse("line one\r\nline two\n\tindented").is_ok());
        for bad in ["a\0b", "\u{1b}", "\u{7}", "\u{9b}"] {
            assert_eq!(
                Description::parse(bad),
                Err(TextError::ControlBesidesLineBreaks),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn folding_lowers_case_beyond_ascii() {
        assert_eq!(ProductName::parse("ÄPFEL Ω").unwrap().folded(), "äpfel ω");
        assert_eq!(SearchText::parse("ÄP").unwrap().folded(), "äp");
    }
}
