//! Sessions and the secrets that prove them: refresh tokens, and the one-time tokens of
//! password recovery and email verification.
//!
//! A token is 256 bits from the operating system's random source, sent as 43 URL-safe
//! base64 characters, and stored only as its [`TokenHash`]. Because the token is random
//! and that long, a fast hash is enough (nobody can search 2^256 inputs), so checking
//! one costs a microsecond, never a password hash. The hash is keyed by the token's
//! [`TokenPurpose`], so a token of one kind never matches a stored hash of another.
//! Stores look tokens up by hash: what the comparison sees is a keyed hash the caller
//! cannot steer, so its timing says nothing about any stored token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use rand::TryRngCore as _;
use time::OffsetDateTime;

use super::{SessionId, UserId};

/// The bytes of randomness in a token.
const TOKEN_BYTES: usize = 32;
/// Their length in unpadded URL-safe base64.
const TOKEN_CHARS: usize = 43;

/// What a token is for; each has its own hash key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    /// Renews a session's access token.
    Refresh,
    /// Sets a new password without the old one.
    Reset,
    /// Proves the user reads mail at their address.
    Verify,
}

impl TokenPurpose {
    /// Its name in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Refresh => "refresh",
            Self::Reset => "reset",
            Self::Verify => "verify",
        }
    }

    const fn key(self) -> &'static [u8] {
        match self {
            Self::Refresh => b"mercado refresh token v1",
            Self::Reset => b"mercado password reset token v1",
            Self::Verify => b"mercado email verification token v1",
        }
    }
}

/// A token as the client holds it. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

/// A string that cannot be a token Mercado made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a token this server issued")]
pub struct NotAToken;

impl SecretToken {
    /// A new token from the operating system's random source.
    ///
    /// # Panics
    /// When the operating system cannot give random bytes, which leaves nothing safe to do.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .unwrap_or_else(|e| panic!("the operating system's random source failed: {e}"));
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Reads a token a client sent back.
    ///
    /// # Errors
    /// [`NotAToken`] unless it has the shape of one (43 URL-safe base64 characters).
    pub fn parse(text: &str) -> Result<Self, NotAToken> {
        let shaped = text.len() == TOKEN_CHARS
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if shaped {
            Ok(Self(text.to_owned()))
        } else {
            Err(NotAToken)
        }
    }

    /// The token, to hand to its owner (a response body, a link in a mail).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored in place of the token.
    ///
    /// # Panics
    /// Never: HMAC takes keys of any length.
    pub fn hash(&self, purpose: TokenPurpose) -> TokenHash {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(purpose.key())
            .expect("HMAC takes keys of any length");
        mac.update(self.0.as_bytes());
        TokenHash(hex(&mac.finalize().into_bytes()))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex digits of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(…)")
    }
}

/// A token's keyed hash: 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// Wraps a hash read from storage.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A login's lasting state: renewed with refresh tokens until it ends or expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its id, the `sid` claim of its access tokens.
    pub id: SessionId,
    /// Whose it is.
    pub user_id: UserId,
    /// When the login opened it.
    pub created_at: OffsetDateTime,
    /// When it was last opened or refreshed.
    pub last_used_at: OffsetDateTime,
    /// When its newest refresh token expires; it is over then.
    pub expires_at: OffsetDateTime,
    /// The client that logged in, as its `User-Agent` said.
    pub user_agent: Option<String>,
}

impl Session {
    /// The longest `User-Agent` kept, in characters.
    pub const USER_AGENT_MAX: usize = 255;

    /// A session opened now by `user` with a refresh token living `ttl`. The user agent
    /// is kept to its first line's first [`Self::USER_AGENT_MAX`] characters, control
    /// characters dropped.
    pub fn open(
        user_id: UserId,
        user_agent: Option<&str>,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Self {
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(Self::USER_AGENT_MAX)
                    .collect::<String>()
            })
            .map(|ua| ua.trim().to_owned())
            .filter(|ua| !ua.is_empty());
        Self {
            id: SessionId::generate(),
            user_id,
            created_at: now,
            last_used_at: now,
            expires_at: now + ttl,
            user_agent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_never_repeat() {
        let a = SecretToken::generate();
        let b = SecretToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), TOKEN_CHARS);
        assert_eq!(SecretToken::parse(a.expose()), Ok(a.clone()));
        assert_eq!(format!("{a:?}"), "SecretToken(…)");
    }

    #[test]
    fn only_the_shape_of_a_token_parses() {
        for bad in [
            "",
            "short",
            &"a".repeat(42),
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"é".repeat(22),
        ] {
            assert_eq!(SecretToken::parse(bad), Err(NotAToken), "{bad:?}");
        }
        assert!(SecretToken::parse(&"A-_z".repeat(11)[..43]).is_ok());
    }

    #[test]
    fn hashes_are_keyed_by_purpose_and_stable() {
        let t = SecretToken::parse(&"x".repeat(43)).unwrap();
        let refresh = t.hash(TokenPurpose::Refresh);
        assert_eq!(refresh, t.hash(TokenPurpose::Refresh));
        assert_ne!(refresh, t.hash(TokenPurpose::Reset));
        assert_ne!(t.hash(TokenPurpose::Reset), t.hash(TokenPurpose::Verify));
        assert_eq!(refresh.as_str().len(), 64);
        assert!(refresh.as_str().bytes().all(|b| HEX.contains(&b)));
    }

    #[test]
    fn a_user_agent_is_kept_short_and_on_one_line() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let ttl = time::Duration::days(14);
        let s = Session::open(UserId::generate(), Some(" curl/8\r\nX-Evil: 1 "), now, ttl);
        assert_eq!(s.user_agent.as_deref(), Some("curl/8X-Evil: 1"));
        assert_eq!(s.expires_at, now + ttl);
        let long = "é".repeat(300);
        let s = Session::open(UserId::generate(), Some(&long), now, ttl);
        assert_eq!(
            s.user_agent.unwrap().chars().count(),
            Session::USER_AGENT_MAX
        );
        assert_eq!(
            Session::open(UserId::generate(), Some("\u{7}"), now, ttl).user_agent,
            None
        );
    }
}
