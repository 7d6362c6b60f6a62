//! One's own sessions: the logins still able to refresh, and ending them.

use std::sync::Arc;

use mercado_core::domain::{Session, SessionId};
use mercado_core::ports::Store;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::NullableText;
use super::{ApiTags, State};
use crate::auth::BearerAuth;
use crate::problem::Problem;

pub struct SessionsApi<S>(pub Arc<State<S>>);

/// A live session: a login whose refresh token still works.
#[derive(Debug, Object)]
#[oai(rename = "Session")]
struct SessionOut {
    /// Its id (the `sid` claim of its access tokens).
    id: Uuid,
    /// When the login opened it (RFC 3339, UTC).
    created_at: OffsetDateTime,
    /// When it was opened or last refreshed (RFC 3339, UTC).
    last_used_at: OffsetDateTime,
    /// The `User-Agent` of the login, up to 255 characters.
    user_agent: NullableText,
    /// Whether the presented token belongs to it.
    current: bool,
}

impl SessionOut {
    fn new(session: Session, current: Option<SessionId>) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            current: current == Some(session.id),
            user_agent: session.user_agent.into(),
        }
    }
}

#[derive(ApiResponse)]
enum Ended {
    /// Ended: its access and refresh tokens get 401 from now on.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Login")]
impl<S: Store> SessionsApi<S> {
    /// The caller's live sessions, newest first.
    #[oai(
        path = "/api/v1/users/me/sessions",
        method = "get",
        operation_id = "listSessions"
    )]
    async fn list_sessions(&self, auth: BearerAuth) -> Result<Json<Vec<SessionOut>>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        let sessions = self.0.queries.sessions(actor).await?;
        Ok(Json(
            sessions
                .into_iter()
                .map(|s| SessionOut::new(s, auth.0.session))
                .collect(),
        ))
    }

    /// Ends one of the caller's sessions (the current one too, if named). Another user's
    /// session, or one already over, is 404.
    #[oai(
        path = "/api/v1/users/me/sessions/:id",
        method = "delete",
        operation_id = "endSession"
    )]
    async fn end_session(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<Ended, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        self.0
            .commands
            .end_session(actor, SessionId::from_uuid(id.0))
            .await?;
        Ok(Ended::NoContent)
    }

    /// Ends every session of the caller, the current one included.
    #[oai(
        path = "/api/v1/users/me/sessions",
        method = "delete",
        operation_id = "endAllSessions"
    )]
    async fn end_all_sessions(&self, auth: BearerAuth) -> Result<Ended, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        self.0.commands.end_all_sessions(actor).await?;
        Ok(Ended::NoContent)
    }
}
