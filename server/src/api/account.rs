//! Accounts without a password at hand: password recovery by mail, and proving an email
//! address with a link.

use std::sync::Arc;

use mercado_core::domain::{Email, Password};
use mercado_core::ports::Store;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::fields::{EmailField, PasswordField, TokenField};
use super::model::UserOut;
use super::{ApiTags, State, parse_fields};
use crate::auth::BearerAuth;
use crate::problem::Problem;

pub struct AccountApi<S>(pub Arc<State<S>>);

/// A request for a password reset link.
#[derive(Debug, Object)]
#[oai(rename = "PasswordRecovery", deny_unknown_fields)]
struct RecoveryIn {
    email: EmailField,
}

/// A new password, with the token of a reset link.
#[derive(Debug, Object)]
#[oai(rename = "PasswordReset", deny_unknown_fields)]
struct ResetIn {
    /// The `token` of the link.
    token: TokenField,
    new_password: PasswordField,
}

/// The token of a verification link.
#[derive(Debug, Object)]
#[oai(rename = "EmailVerification", deny_unknown_fields)]
struct VerifyIn {
    /// The `token` of the link.
    token: TokenField,
}

/// Accepted: what happens next happens by mail.
#[derive(Debug, Object)]
#[oai(rename = "Accepted")]
struct AcceptedOut {
    /// What to expect.
    detail: String,
}

#[derive(ApiResponse)]
enum Accepted {
    /// Accepted; a mail follows when there is one to send.
    #[oai(status = 202)]
    Accepted(Json<AcceptedOut>),
}

impl Accepted {
    fn saying(detail: &str) -> Self {
        Self::Accepted(Json(AcceptedOut {
            detail: detail.to_owned(),
        }))
    }
}

#[derive(ApiResponse)]
enum PasswordSet {
    /// The password is changed and every session of the user ended.
    #[oai(status = 204)]
    NoContent,
}

/// The one answer to a recovery request, whoever the address belongs to.
const RECOVERY_ACCEPTED: &str =
    "if this address belongs to an active account, a link to reset its password is on its way";

#[OpenApi]
impl<S: Store> AccountApi<S> {
    /// Asks for a password reset link. The answer is the same, in content and in time,
    /// whether or not the address has an account; if it has an active one, a mail with
    /// a link to `{MERCADO_PUBLIC_URL}/reset-password?token=…` follows. Repeated
    /// requests for one address get 429 with `Retry-After`.
    #[oai(
        path = "/api/v1/password-recovery",
        method = "post",
        operation_id = "recoverPassword",
        tag = "ApiTags::Login"
    )]
    async fn recover_password(&self, body: Json<RecoveryIn>) -> Result<Accepted, Problem> {
        parse_fields! {
            email = "email" => Email::parse(&body.email.0),
        }
        self.0.commands.request_password_recovery(&email).await?;
        Ok(Accepted::saying(RECOVERY_ACCEPTED))
    }

    /// Sets a new password with the token of a reset link (usable once; only the newest
    /// link sent works). Every session of the user ends, and a mail tells them.
    #[oai(
        path = "/api/v1/password-reset",
        method = "post",
        operation_id = "resetPassword",
        tag = "ApiTags::Login"
    )]
    async fn reset_password(&self, body: Json<ResetIn>) -> Result<PasswordSet, Problem> {
        parse_fields! {
            new_password = "new_password" => Password::parse(&body.new_password.0),
        }
        self.0
            .commands
            .reset_password(&body.token.0, new_password)
            .await?;
        Ok(PasswordSet::NoContent)
    }

    /// Proves the address with the token of a verification link (usable once; only the
    /// newest link sent works).
    #[oai(
        path = "/api/v1/users/verify-email",
        method = "post",
        operation_id = "verifyEmail",
        tag = "ApiTags::Users"
    )]
    async fn verify_email(&self, body: Json<VerifyIn>) -> Result<Json<UserOut>, Problem> {
        let user = self.0.commands.verify_email(&body.token.0).await?;
        Ok(Json(user.into()))
    }

    /// Sends the caller a new verification link (`{MERCADO_PUBLIC_URL}/verify-email?token=…`);
    /// earlier links stop working. 409 when the address is verified already.
    #[oai(
        path = "/api/v1/users/me/verification",
        method = "post",
        operation_id = "requestVerification",
        tag = "ApiTags::Users"
    )]
    async fn request_verification(&self, auth: BearerAuth) -> Result<Accepted, Problem> {
        let user = self.0.user(&auth).await?;
        self.0.commands.request_verification(&user).await?;
        Ok(Accepted::saying("a new verification link is on its way"))
    }
}
