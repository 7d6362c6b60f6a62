//! Access tokens: HS256 JWTs with `sub`, `iat`, `exp`, `jti` and `sid` (the session; absent
//! from tokens issued before sessions existed), the algorithm pinned and no leeway on
//! expiry.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use mercado_core::domain::{SessionId, TokenId, UserId};
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::problem::Problem;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    iat: i64,
    exp: i64,
    jti: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<Uuid>,
}

/// A token whose signature and expiry checked out.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedToken {
    /// Whose token it is.
    pub user_id: UserId,
    /// Its `jti`, for revocation.
    pub token_id: TokenId,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// The session it belongs to.
    pub session: Option<SessionId>,
}

/// A freshly issued token.
#[derive(Debug)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
}

/// Signs and verifies access tokens.
pub struct TokenCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCodec")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenCodec {
    /// A codec for `secret`, issuing tokens that live `ttl`.
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            ttl,
        }
    }

    /// Issues a token for a user's session.
    ///
    /// # Panics
    /// Never: HS256 signing of these claims cannot fail.
    pub fn issue(&self, user_id: UserId, session: SessionId, now: OffsetDateTime) -> IssuedToken {
        self.sign(user_id, Some(session), now)
    }

    fn sign(
        &self,
        user_id: UserId,
        session: Option<SessionId>,
        now: OffsetDateTime,
    ) -> IssuedToken {
        let claims = Claims {
            sub: user_id.as_uuid(),
            iat: now.unix_timestamp(),
            exp: (now + self.ttl).unix_timestamp(),
            jti: TokenId::generate().as_uuid(),
            sid: session.map(|s| s.as_uuid()),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail");
        IssuedToken {
            token,
            expires_in: self.ttl.whole_seconds(),
        }
    }

    /// Checks a token's algorithm, signature and expiry.
    ///
    /// # Errors
    /// A 401 problem for any token that is malformed, tampered, signed otherwise or expired.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, Problem> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            tracing::debug!(error = %e, "bearer token refused");
            Problem::token_required()
        })?;
        let expires_at = OffsetDateTime::from_unix_timestamp(data.claims.exp).map_err(|_| {
            tracing::debug!("bearer token refused: exp out of range");
            Problem::token_required()
        })?;
        Ok(VerifiedToken {
            user_id: UserId::from_uuid(data.claims.sub),
            token_id: TokenId::from_uuid(data.claims.jti),
            expires_at,
            session: data.claims.sid.map(SessionId::from_uuid),
        })
    }
}

/// OAuth2 password flow: "Authorize" in `/docs` logs in through the token endpoint.
#[derive(Debug, SecurityScheme)]
#[oai(
    ty = "oauth2",
    rename = "OAuth2PasswordBearer",
    flows(password(token_url = "/api/v1/login/token")),
    checker = "check_token"
)]
pub struct BearerAuth(pub VerifiedToken);

#[allow(clippy::unused_async)] // poem-openapi's checkers are async.
async fn check_token(req: &Request, bearer: Bearer) -> poem::Result<VerifiedToken> {
    let codec = req
        .data::<std::sync::Arc<TokenCodec>>()
        .expect("the token codec is installed on every route");
    Ok(codec.verify(&bearer.token)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(secret: &str, ttl: i64) -> TokenCodec {
        TokenCodec::new(
            &SecretString::from(secret.to_owned()),
            Duration::seconds(ttl),
        )
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let c = codec(SECRET, 60);
        let user = UserId::generate();
        let session = SessionId::generate();
        let issued = c.issue(user, session, OffsetDateTime::now_utc());
        assert_eq!(issued.expires_in, 60);
        let verified = c.verify(&issued.token).unwrap();
        assert_eq!(verified.user_id, user);
        assert_eq!(verified.session, Some(session));
    }

    #[test]
    fn a_token_from_before_sessions_verifies_without_one() {
        let c = codec(SECRET, 60);
        let issued = c.sign(UserId::generate(), None, OffsetDateTime::now_utc());
        assert!(!issued.token.contains(".eyJzaWQ"));
        assert_eq!(c.verify(&issued.token).unwrap().session, None);
    }

    #[test]
    fn expired_wrong_key_tampered_and_unsigned_tokens_are_rejected() {
        let c = codec(SECRET, 60);
        let user = UserId::generate();
        let old = c.issue(
            user,
            SessionId::generate(),
            OffsetDateTime::now_utc() - Duration::seconds(61),
        );
        assert!(c.verify(&old.token).is_err(), "expired");
        let other = codec("another-secret-another-secret-xx", 60).issue(
            user,
            SessionId::generate(),
            OffsetDateTime::now_utc(),
        );
        assert!(c.verify(&other.token).is_err(), "wrong key");
        let good = c
            .issue(user, SessionId::generate(), OffsetDateTime::now_utc())
            .token;
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = format!("{}.{}", parts[0], "eyJzdWIiOiJ4In0");
        assert!(
            c.verify(&format!("{forged}.{}", parts[2])).is_err(),
            "tampered"
        );
        parts[0] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        assert!(
            c.verify(&format!("{}.{}.", parts[0], parts[1])).is_err(),
            "alg none"
        );
        assert!(c.verify("not a token").is_err());
    }
}
