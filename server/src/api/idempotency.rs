//! `Idempotency-Key` (API.md v1.1) on the operations that create: sign-up, products and
//! orders. The key is claimed before the change ([`begin`]); the change records its
//! answer in its own transaction (a [`Recording`]); a refusal that is the operation's
//! answer is recorded after it, and anything else frees the key ([`finish`]). A retry
//! gets the recorded answer, byte for byte, with `Idempotent-Replayed: true`.

use mercado_core::domain::{
    IdempotencyKey, KeyClaim, RecordedAnswer, Recording, RequestHash, UserId,
};
use mercado_core::ports::Store;
use mercado_core::service::KeyedRequest;
use poem::http::{StatusCode, header};
use poem::{IntoResponse, Request, Response};
use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaResponses, Registry};
use poem_openapi::types::ToJSON;

use super::State;
use super::fields::IdempotencyKeyField;
use crate::problem::{PROBLEM_JSON, Problem};

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The response header of a replayed answer.
pub const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

/// An answer of an operation that takes a key: `T` as typed when the request has no
/// key, else the answer as recorded (which a replay sends again).
pub enum Keyed<T> {
    /// No key: the operation's own response.
    Typed(T),
    /// The recorded answer.
    Recorded {
        /// As first sent.
        answer: RecordedAnswer,
        /// Whether this is a retry's replay.
        replayed: bool,
    },
}

impl<T: ApiResponse> ApiResponse for Keyed<T> {
    // The document lists `T`'s responses; `Idempotent-Replayed` is added to them by
    // `document::complete`, for every operation that takes the key.
    fn meta() -> MetaResponses {
        T::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: IntoResponse> IntoResponse for Keyed<T> {
    fn into_response(self) -> Response {
        let (answer, replayed) = match self {
            Self::Typed(response) => return response.into_response(),
            Self::Recorded { answer, replayed } => (answer, replayed),
        };
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
        let media = if status.is_success() {
            JSON
        } else {
            PROBLEM_JSON
        };
        let mut response = Response::builder().status(status).content_type(media);
        if let Some(location) = answer.location {
            response = response.header(header::LOCATION, location);
        }
        if replayed {
            response = response.header(IDEMPOTENT_REPLAYED, "true");
        }
        response.body(answer.body)
    }
}

/// The media type poem-openapi's `Json` answers with, so a replay says the same.
const JSON: &str = "application/json; charset=utf-8";

/// What the operations that take a key create: where it is, and how it is sent.
pub trait CreatedResource: Clone + Send + Sync {
    /// Its JSON form.
    type Out: ToJSON + From<Self>;

    /// Its `Location`.
    fn location(&self) -> String;
}

/// A created resource's answer as a key records it: 201, its JSON, its `Location`.
fn created<T: CreatedResource>(value: &T) -> RecordedAnswer {
    RecordedAnswer {
        status: 201,
        body: T::Out::from(value.clone()).to_json_string(),
        location: Some(value.location()),
    }
}

/// What a change records under `claim`, if it holds one.
pub fn recording<T: CreatedResource>(claim: Option<&KeyClaim>) -> Option<Recording<'_, T>> {
    claim.map(|claim| Recording {
        claim,
        answer: &created::<T>,
    })
}

/// How a keyed request goes on.
pub enum Begun<R> {
    /// Run the operation; with a claim, it records its answer.
    Run(Option<KeyClaim>),
    /// Answered before: send this.
    Done(Keyed<R>),
}

/// What a request with an idempotency key asked: its method, path and query, and the
/// exact bytes of its body (empty when it has none), so that the key answers no other.
pub fn hash_request(req: &Request, body: &[u8]) -> RequestHash {
    let target = req.uri().path_and_query().map_or("/", |t| t.as_str());
    RequestHash::of(req.method().as_str(), target, body)
}

/// Claims the request's key for `caller` (`None`: anonymous), if it has one.
///
/// # Errors
/// 422 naming the header for a malformed key or one used for a different request;
/// 409 with `Retry-After` while the first request with it runs.
pub async fn begin<S: Store, R>(
    state: &State<S>,
    caller: Option<UserId>,
    key: Option<&IdempotencyKeyField>,
    req: &Request,
) -> Result<Begun<R>, Problem> {
    let Some(key) = key else {
        return Ok(Begun::Run(None));
    };
    let key = IdempotencyKey::parse(&key.0).map_err(|e| Problem::invalid(IDEMPOTENCY_KEY, e))?;
    // The edge hashed the request as it read the body ([`hash_request`]).
    let Some(request) = req.extensions().get::<RequestHash>() else {
        let bug = std::io::Error::other("a keyed request reached its operation unhashed");
        return Err(Problem::internal(&bug));
    };
    match state.commands.claim_key(caller, &key, request).await? {
        KeyedRequest::Run(claim) => Ok(Begun::Run(Some(claim))),
        KeyedRequest::Replay(answer) => Ok(Begun::Done(Keyed::Recorded {
            answer,
            replayed: true,
        })),
        KeyedRequest::Running => Err(Problem::key_in_use()),
        KeyedRequest::Mismatch => Err(Problem::invalid(
            IDEMPOTENCY_KEY,
            "was used for a different request; send a new key with a new request",
        )),
    }
}

/// Ends a request that `begin` let run: its answer, with a claim as recorded. A refusal
/// that is the operation's answer is recorded; any other failure frees the key.
///
/// # Errors
/// The operation's own problem.
pub async fn finish<S: Store, T: CreatedResource, E: Into<Problem>, R>(
    state: &State<S>,
    claim: Option<KeyClaim>,
    result: Result<T, E>,
    typed: impl FnOnce(T) -> R,
) -> Result<Keyed<R>, Problem> {
    let Some(claim) = claim else {
        return result.map(|t| Keyed::Typed(typed(t))).map_err(Into::into);
    };
    match result {
        // The change recorded the same answer with itself.
        Ok(value) => Ok(Keyed::Recorded {
            answer: created(&value),
            replayed: false,
        }),
        Err(e) => {
            let problem = e.into();
            let recorded = problem.answers().then(|| problem.recorded());
            if let Err(error) = state.commands.settle_key(&claim, recorded.as_ref()).await {
                // The key stays claimed until its lease ends; a retry then runs again.
                tracing::warn!(%error, "an idempotency key could not be settled");
            }
            Err(problem)
        }
    }
}
