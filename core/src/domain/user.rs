//! Users and who is acting.

use time::OffsetDateTime;

use super::{Email, FullName, UserId};
use crate::password::PasswordHash;

/// A stored user. The password hash never leaves the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Its unique, lower-cased email.
    pub email: Email,
    /// Its display name, if given.
    pub full_name: Option<FullName>,
    /// The password hash in one of passlib's formats.
    pub password_hash: PasswordHash,
    /// Whether it may log in.
    pub is_active: bool,
    /// Whether it may administer users and products.
    pub is_superuser: bool,
    /// Whether it proved it reads mail at its address.
    pub email_verified: bool,
    /// When it signed up.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

impl User {
    /// Who this user is when acting.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id,
            is_superuser: self.is_superuser,
            email_verified: self.email_verified,
        }
    }
}

/// What a sign-up supplies.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The email to sign up with.
    pub email: Email,
    /// The plain password, hashed by the service.
    pub password: crate::password::Password,
    /// The display name, if any.
    pub full_name: Option<FullName>,
}

/// A change to a user. `None` leaves a field as it is; `Some(None)` clears the name.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New display name, or clear it.
    pub full_name: Option<Option<FullName>>,
    /// New active flag.
    pub is_active: Option<bool>,
    /// New superuser flag.
    pub is_superuser: Option<bool>,
}

/// The authenticated caller of a service: made only from a stored [`User`]
/// ([`User::actor`]), so a caller cannot claim rights it was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    user_id: UserId,
    is_superuser: bool,
    email_verified: bool,
}

/// An operation for superusers was asked for by someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("superuser required")]
pub struct SuperuserRequired;

impl Actor {
    /// Who.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Whether they may act on everyone's data.
    pub fn is_superuser(&self) -> bool {
        self.is_superuser
    }

    /// Whether their address is verified.
    pub fn email_verified(&self) -> bool {
        self.email_verified
    }

    /// Whether this actor may see or change something owned by `owner`.
    pub fn may_access(&self, owner: UserId) -> bool {
        self.is_superuser || self.user_id == owner
    }

    /// The one rule for superusers-only operations, for services and handlers alike.
    ///
    /// # Errors
    /// [`SuperuserRequired`] unless this actor is a superuser.
    pub fn require_superuser(&self) -> Result<(), SuperuserRequired> {
        if self.is_superuser {
            Ok(())
        } else {
            Err(SuperuserRequired)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_superusers_may_access_and_others_may_not() {
        let owner = UserId::generate();
        let me = Actor {
            user_id: owner,
            is_superuser: false,
            email_verified: false,
        };
        let other = Actor {
            user_id: UserId::generate(),
            is_superuser: false,
            email_verified: false,
        };
        let admin = Actor {
            user_id: UserId::generate(),
            is_superuser: true,
            email_verified: false,
        };
        assert!(me.may_access(owner));
        assert!(!other.may_access(owner));
        assert!(admin.may_access(owner));
        assert_eq!(me.require_superuser(), Err(SuperuserRequired));
        assert_eq!(admin.require_superuser(), Ok(()));
    }
}
