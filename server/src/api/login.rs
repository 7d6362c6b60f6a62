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

/// OAuth2 password grant, form-urlencoded.
#[derive(Object, Deserialize)]
#[oai(rename = "LoginForm")]
struct LoginForm {
    /// The email.
    username: String,
    /// The password.
    #[oai(write_only)]
    password: String,
    /// `password` if given.
    grant_type: Option<String>,
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

/// A bearer token.
#[derive(Debug, Object)]
#[oai(rename = "Token")]
struct TokenOut {
    /// The JWT to send as `Authorization: Bearer …`.
    access_token: String,
    /// Always `bearer`.
    token_type: String,
    /// Seconds until it expires.
    expires_in: i64,
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
    /// The token is revoked until it would have expired.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Login")]
impl<S: Store> LoginApi<S> {
    /// Logs in with email and password (OAuth2 password grant). Unknown email and wrong
    /// password give the same 401; an inactive user gets 403; repeated failures for one
    /// email get 429 with `Retry-After`.
    #[oai(path = "/api/v1/login/token", method = "post", operation_id = "login")]
    async fn login(&self, form: Form<LoginForm>) -> Result<Issued, Problem> {
        let form = form.0;
        if form.grant_type.as_deref().is_some_and(|g| g != "password") {
            return Err(Problem::invalid(
                "grant_type",
                "only the password grant is supported",
            ));
        }
        let user = self
            .0
            .commands
            .log_in(&form.username, &form.password)
            .await?;
        let issued = self.0.tokens.issue(user.id, self.0.clock.now());
        let token = TokenOut {
            access_token: issued.token,
            token_type: "bearer".into(),
            expires_in: issued.expires_in,
        };
        Ok(Issued::Token(
            Json(token),
            "no-store".into(),
            "no-cache".into(),
        ))
    }

    /// Revokes the presented token; it then gets 401 everywhere.
    #[oai(path = "/api/v1/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: BearerAuth) -> Result<LoggedOut, Problem> {
        self.0.user(&auth).await?;
        self.0
            .commands
            .log_out(auth.0.token_id, auth.0.expires_at)
            .await?;
        Ok(LoggedOut::NoContent)
    }
}
