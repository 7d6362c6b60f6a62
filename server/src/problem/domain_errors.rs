//! The services' and the store's errors as problems: the one mapping from service
//! outcomes to statuses.

use mercado_core::StoreError;
use mercado_core::ports::{CancelOrderError, PK_IDEMPOTENCY_KEYS, PlaceOrderError};
use mercado_core::service::{
    AccessError, CreateProductError, EndSessionError, LogInError, LogoutError, OneTimeTokenError,
    PlaceOrderCommandError, RecoveryError, RefreshError, RequestVerificationError,
    ResolveActorError, SignUpError, UpdateOwnProfileError, UpdateProductError, UpdateUserError,
};

use super::Problem;

impl From<mercado_core::domain::SuperuserRequired> for Problem {
    fn from(e: mercado_core::domain::SuperuserRequired) -> Self {
        Self::forbidden(e.to_string())
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::unavailable()
            }
            // The change's idempotency claim was taken over by a retry: it changed nothing.
            StoreError::Conflict { constraint } if constraint == PK_IDEMPOTENCY_KEYS => {
                Self::key_in_use()
            }
            StoreError::Conflict { constraint } => {
                Self::conflict("conflict", format!("constraint {constraint} violated"))
            }
            StoreError::Corrupt(_) | StoreError::Other(_) => Self::internal(&e),
        }
    }
}

impl From<AccessError> for Problem {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Forbidden => Self::forbidden("not allowed"),
            AccessError::NotFound => Self::not_found("no such resource"),
            AccessError::Store(e) => e.into(),
        }
    }
}

impl From<ResolveActorError> for Problem {
    fn from(e: ResolveActorError) -> Self {
        match e {
            ResolveActorError::Unauthenticated => {
                tracing::debug!("token revoked, or its user no longer exists");
                Self::token_required()
            }
            ResolveActorError::Inactive => Self::forbidden("inactive user"),
            ResolveActorError::Store(e) => e.into(),
        }
    }
}

impl From<SignUpError> for Problem {
    fn from(e: SignUpError) -> Self {
        match e {
            SignUpError::EmailTaken => {
                Self::conflict("email-taken", "a user with this email already exists").answering()
            }
            SignUpError::Store(e) => e.into(),
        }
    }
}

impl From<LogInError> for Problem {
    fn from(e: LogInError) -> Self {
        match e {
            LogInError::InvalidCredentials => Self::unauthorized("incorrect email or password"),
            LogInError::Inactive => Self::forbidden("inactive user"),
            LogInError::Throttled { retry_after_secs } => Self::too_many_requests(
                "too many failed logins for this email; retry later",
                retry_after_secs,
            ),
            LogInError::Store(e) => e.into(),
        }
    }
}

impl From<RefreshError> for Problem {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::Invalid => Self::unauthorized("refresh token invalid or expired"),
            RefreshError::Reused => {
                tracing::warn!("a spent refresh token was presented again; its session is ended");
                Self::unauthorized("refresh token already used; its session is ended")
            }
            RefreshError::Store(e) => e.into(),
        }
    }
}

impl From<EndSessionError> for Problem {
    fn from(e: EndSessionError) -> Self {
        match e {
            EndSessionError::NotFound => Self::not_found("no such session"),
            EndSessionError::Store(e) => e.into(),
        }
    }
}

impl From<LogoutError> for Problem {
    fn from(e: LogoutError) -> Self {
        match e {
            LogoutError::Store(e) => e.into(),
        }
    }
}

impl From<UpdateOwnProfileError> for Problem {
    fn from(e: UpdateOwnProfileError) -> Self {
        match e {
            UpdateOwnProfileError::WrongCurrentPassword => {
                Self::forbidden("current password is incorrect")
            }
            UpdateOwnProfileError::NotFound => Self::token_required(),
            UpdateOwnProfileError::Store(e) => e.into(),
        }
    }
}

impl From<UpdateUserError> for Problem {
    fn from(e: UpdateUserError) -> Self {
        match e {
            UpdateUserError::Forbidden => Self::forbidden("superuser required"),
            UpdateUserError::NotFound => Self::not_found("no such user"),
            UpdateUserError::Store(e) => e.into(),
        }
    }
}

impl From<CreateProductError> for Problem {
    fn from(e: CreateProductError) -> Self {
        match e {
            CreateProductError::Forbidden => Self::forbidden("superuser required"),
            CreateProductError::Store(e) => e.into(),
        }
    }
}

impl From<mercado_core::service::ImportError> for Problem {
    fn from(e: mercado_core::service::ImportError) -> Self {
        match e {
            mercado_core::service::ImportError::Forbidden => Self::forbidden("superuser required"),
            mercado_core::service::ImportError::Store(e) => e.into(),
        }
    }
}

impl From<UpdateProductError> for Problem {
    fn from(e: UpdateProductError) -> Self {
        match e {
            UpdateProductError::Forbidden => Self::forbidden("superuser required"),
            UpdateProductError::NotFound => Self::not_found("no such product"),
            UpdateProductError::Store(e) => e.into(),
        }
    }
}

impl From<PlaceOrderCommandError> for Problem {
    fn from(e: PlaceOrderCommandError) -> Self {
        match e {
            PlaceOrderCommandError::EmailUnverified => Self::new(
                poem::http::StatusCode::FORBIDDEN,
                "email-unverified",
                "verify your email address before placing orders: \
                 POST /api/v1/users/me/verification sends a new link",
            ),
            PlaceOrderCommandError::Order(e) => e.into(),
        }
    }
}

impl From<RecoveryError> for Problem {
    fn from(e: RecoveryError) -> Self {
        match e {
            RecoveryError::Throttled { retry_after_secs } => Self::too_many_requests(
                "too many recovery requests for this email; retry later",
                retry_after_secs,
            ),
            RecoveryError::Store(e) => e.into(),
        }
    }
}

impl From<OneTimeTokenError> for Problem {
    fn from(e: OneTimeTokenError) -> Self {
        match e {
            OneTimeTokenError::Invalid => Self::invalid("token", OneTimeTokenError::Invalid),
            OneTimeTokenError::Store(e) => e.into(),
        }
    }
}

impl From<RequestVerificationError> for Problem {
    fn from(e: RequestVerificationError) -> Self {
        match e {
            RequestVerificationError::AlreadyVerified => {
                Self::conflict("already-verified", "the email address is already verified")
            }
            RequestVerificationError::Store(e) => e.into(),
        }
    }
}

impl From<PlaceOrderError> for Problem {
    fn from(e: PlaceOrderError) -> Self {
        match e {
            PlaceOrderError::UnknownProduct(id) => {
                // A 422, like any refused input: the key is freed for a corrected request.
                Self::invalid("items", format!("product {id} does not exist"))
            }
            PlaceOrderError::InsufficientStock(id) => Self::conflict(
                "insufficient-stock",
                format!("not enough stock for product {id}"),
            )
            .answering(),
            PlaceOrderError::Store(e) => e.into(),
        }
    }
}

impl From<CancelOrderError> for Problem {
    fn from(e: CancelOrderError) -> Self {
        match e {
            CancelOrderError::NotFound => Self::not_found("no such order"),
            CancelOrderError::NotPending => {
                Self::conflict("order-not-pending", "only a pending order can be cancelled")
            }
            CancelOrderError::Store(e) => e.into(),
        }
    }
}
