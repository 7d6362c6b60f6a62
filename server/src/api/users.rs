//! Accounts: sign-up, one's own profile, and administration.

use std::sync::Arc;

use mercado_core::domain::{Email, FullName, NewUser, Password, User, UserId, UserPatch};
use mercado_core::ports::Store;
use mercado_core::service::ChangeOwnProfile;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::fields::{
    CurrentPasswordField, EmailField, FullNameField, IdempotencyKeyField, PasswordField,
};
use super::idempotency::{self, Begun, CreatedResource, Keyed};
use super::model::{UserOut, UserPage};
use super::{ApiTags, State, clearable, default_limit, page, parse_fields, settable};
use crate::auth::BearerAuth;
use crate::problem::Problem;

pub struct UsersApi<S>(pub Arc<State<S>>);

/// A sign-up.
#[derive(Debug, Object)]
#[oai(rename = "SignUp", deny_unknown_fields)]
struct SignUpIn {
    email: EmailField,
    password: PasswordField,
    full_name: MaybeUndefined<FullNameField>,
}

/// A change to one's own profile. `current_password` is required with `password`.
#[derive(Debug, Object)]
#[oai(rename = "UpdateMe", deny_unknown_fields)]
struct UpdateMeIn {
    full_name: MaybeUndefined<FullNameField>,
    password: MaybeUndefined<PasswordField>,
    current_password: MaybeUndefined<CurrentPasswordField>,
}

/// An administrator's change to a user.
#[derive(Debug, Object)]
#[oai(rename = "UpdateUser", deny_unknown_fields)]
struct UpdateUserIn {
    full_name: MaybeUndefined<FullNameField>,
    is_active: MaybeUndefined<bool>,
    is_superuser: MaybeUndefined<bool>,
}

impl CreatedResource for User {
    type Out = UserOut;

    fn location(&self) -> String {
        format!("/api/v1/users/{}", self.id)
    }
}

#[derive(ApiResponse)]
enum Created {
    /// Signed up.
    #[oai(status = 201)]
    User(Json<UserOut>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTags::Users")]
impl<S: Store> UsersApi<S> {
    /// Signs up. 409 when the email is taken.
    #[oai(path = "/api/v1/users", method = "post", operation_id = "signUp")]
    async fn sign_up(
        &self,
        body: Json<SignUpIn>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKeyField>>,
        req: &Request,
    ) -> Result<Keyed<Created>, Problem> {
        parse_fields! {
            email = "email" => Email::parse(&body.email.0),
            password = "password" => Password::parse(&body.password.0),
            full_name = "full_name" => body.full_name.value().map(|n| FullName::parse(&n.0)).transpose(),
        }
        // A sign-up has no caller yet: its key stands alone.
        let claim = match idempotency::begin(&self.0, None, key.0.as_ref(), req).await? {
            Begun::Run(claim) => claim,
            Begun::Done(answer) => return Ok(answer),
        };
        let new = NewUser {
            email,
            password,
            full_name,
        };
        let signed_up = self
            .0
            .commands
            .sign_up(new, idempotency::recording(claim.as_ref()).as_ref())
            .await;
        idempotency::finish(&self.0, claim, signed_up, |user| {
            let location = user.location();
            Created::User(Json(user.into()), location)
        })
        .await
    }

    /// The caller's own account.
    #[oai(path = "/api/v1/users/me", method = "get", operation_id = "readMe")]
    async fn read_me(&self, auth: BearerAuth) -> Result<Json<UserOut>, Problem> {
        Ok(Json(self.0.user(&auth).await?.into()))
    }

    /// Changes the caller's name and/or password. A new password needs `current_password`
    /// (422 without it, 403 when wrong).
    #[oai(path = "/api/v1/users/me", method = "patch", operation_id = "updateMe")]
    async fn update_me(
        &self,
        auth: BearerAuth,
        body: Json<UpdateMeIn>,
    ) -> Result<Json<UserOut>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        parse_fields! {
            full_name = "full_name" => clearable(&body.full_name, |n| FullName::parse(&n.0)),
            password = "password" => settable(&body.password, |p| Password::parse(&p.0)),
            current = "current_password" => match (&body.password, &body.current_password) {
                (MaybeUndefined::Value(_), MaybeUndefined::Value(c)) => Ok(Some(Password::candidate(&c.0))),
                (MaybeUndefined::Value(_), _) => Err("is required to change the password"),
                (_, MaybeUndefined::Null) => Err("must not be null"),
                _ => Ok(None),
            },
        }
        let change = ChangeOwnProfile {
            full_name,
            password: password.zip(current),
        };
        Ok(Json(
            self.0
                .commands
                .update_own_profile(actor, auth.0.session, change)
                .await?
                .into(),
        ))
    }

    /// Every user, oldest first. Superusers only.
    #[oai(path = "/api/v1/users", method = "get", operation_id = "listUsers")]
    async fn list_users(
        &self,
        auth: BearerAuth,
        /// Page size, 1 to 100.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "100"))
        )]
        limit: Query<i64>,
        /// Items to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<UserPage>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        let page = page(limit.0, offset.0)?;
        Ok(Json(self.0.queries.users(actor, page).await?.into()))
    }

    /// A user: oneself, or anyone for a superuser (403 for another user's id otherwise).
    #[oai(path = "/api/v1/users/:id", method = "get", operation_id = "readUser")]
    async fn read_user(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<Json<UserOut>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        Ok(Json(
            self.0
                .queries
                .user(actor, UserId::from_uuid(id.0))
                .await?
                .into(),
        ))
    }

    /// Changes a user's name, active or superuser flag. Superusers only.
    #[oai(
        path = "/api/v1/users/:id",
        method = "patch",
        operation_id = "updateUser"
    )]
    async fn update_user(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<UpdateUserIn>,
    ) -> Result<Json<UserOut>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        actor.require_superuser()?;
        parse_fields! {
            full_name = "full_name" => clearable(&body.full_name, |n| FullName::parse(&n.0)),
            is_active = "is_active" => settable(&body.is_active, |b| Ok::<_, String>(*b)),
            is_superuser = "is_superuser" => settable(&body.is_superuser, |b| Ok::<_, String>(*b)),
        }
        let patch = UserPatch {
            full_name,
            is_active,
            is_superuser,
        };
        Ok(Json(
            self.0
                .commands
                .update_user(actor, UserId::from_uuid(id.0), patch)
                .await?
                .into(),
        ))
    }
}
