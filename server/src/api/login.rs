//! Access tokens: the OAuth2 password grant and logout.

use std::sync::Arc;

use mercado_core::ports::Store;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::{ApiTags, State};
use crate::auth::BearerAuth;
use crate::problem::Problem;

pub struct LoginApi<S>(pub Arc<State<S>>);

/// The token endpoint's form (RFC 6749 §4.3 and §6), form-urlencoded.
#[derive(Object, Deserialize)]
#[oai(rename = "LoginForm")]
struct LoginForm {
    /// The email (password grant).
    username: Option<String>,
    /// The password (password grant).
    #[oai(write_only)]
    password: Option<String>,
    /// `password` (the default) or `refresh_token`.
    grant_type: Option<String>,
    /// The refresh token to spend (refresh grant).
    #[oai(write_only)]
    refresh_token: Option<String>,
    /// Ignored.
    scope: Option<String>,
    /// Ignored.
    client_id: Option<String>,
    /// Ignored.
    #[oai(write_only)]
    #[expect(
        dead_code,
        reason = "accepted because OAuth2 clients (Swagger UI) send it"
    )]
    client_secret: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A bearer token, and the refresh token that renews it.
#[derive(Debug, Object)]
#[oai(rename = "Token")]
struct TokenOut {
    /// The JWT to send as `Authorization: Bearer …`.
    access_token: String,
    /// Always `bearer`.
    token_type: String,
    /// Seconds until it expires.
    expires_in: i64,
    /// Spend it at this endpoint (`grant_type=refresh_token`) for a new pair; usable once.
    refresh_token: String,
    /// Seconds until the refresh token expires.
    refresh_expires_in: i64,
}

/// The answer to a login: never to be cached (RFC 6749 §5.1).
#[derive(ApiResponse)]
enum Issued {
    /// A token for the caller.
    #[oai(status = 200)]
    Token(
        Json<TokenOut>,
        /// `no-store`.
        #[oai(header = "Cache-Control")]
        String,
        /// `no-cache`, for HTTP/1.0 caches.
        #[oai(header = "Pragma")]
        String,
    ),
}

#[derive(ApiResponse)]
enum LoggedOut {
    /// The session is over (a token without one is revoked until it would have expired).
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Login")]
impl<S: Store> LoginApi<S> {
    /// Logs in with email and password (OAuth2 password grant), opening a session; or
    /// renews a session with its refresh token (`grant_type=refresh_token`), which is then
    /// spent: presenting it again ends the session. Unknown email and wrong password give
    /// the same 401; an inactive user gets 403; repeated failures for one email get 429
    /// with `Retry-After`; a refresh token that is unknown, expired, spent or of an ended
    /// session gets 401.
    #[oai(path = "/api/v1/login/token", method = "post", operation_id = "login")]
    async fn login(&self, req: &poem::Request, form: Form<LoginForm>) -> Result<Issued, Problem> {
        let form = form.0;
        let user_agent = req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        let commands = &self.0.commands;
        let grant = match form.grant_type.as_deref().unwrap_or("password") {
            "password" => {
                let (Some(username), Some(password)) = (&form.username, &form.password) else {
                    let missing = [("password", &form.password), ("username", &form.username)];
                    return Err(Problem::validation(
                        missing
                            .into_iter()
                            .filter(|(_, value)| value.is_none())
                            .map(|(field, _)| super::field_error(field, "is required"))
                            .collect(),
                    ));
                };
                let user = commands.log_in(username, password).await?;
                commands.open_session(user, user_agent).await?
            }
            "refresh_token" => {
                let Some(token) = &form.refresh_token else {
                    return Err(Problem::invalid("refresh_token", "is required"));
                };
                commands.refresh(token).await?
            }
            _ => {
                return Err(Problem::invalid(
                    "grant_type",
                    "must be password or refresh_token",
                ));
            }
        };
        let issued = self
            .0
            .tokens
            .issue(grant.user.id, grant.session, self.0.clock.now());
        let token = TokenOut {
            access_token: issued.token,
            token_type: "bearer".into(),
            expires_in: issued.expires_in,
            refresh_token: grant.refresh_token.expose().to_owned(),
            refresh_expires_in: grant.refresh_expires_in,
        };
        Ok(Issued::Token(
            Json(token),
            "no-store".into(),
            "no-cache".into(),
        ))
    }

    /// Ends the presented token's session (a token without one is revoked); its access
    /// and refresh tokens then get 401 everywhere.
    #[oai(path = "/api/v1/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: BearerAuth) -> Result<LoggedOut, Problem> {
        let user = self.0.user(&auth).await?;
        let token = &auth.0;
        self.0
            .commands
            .log_out(
                user.actor(),
                token.token_id,
                token.session,
                token.expires_at,
            )
            .await?;
        Ok(LoggedOut::NoContent)
    }
}
