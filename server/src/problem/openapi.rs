//! The document's side of [`Problem`]: every operation lists the statuses it may answer
//! with a problem body.

use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;

use super::{PROBLEM_JSON, Problem, ProblemBody};

/// The statuses any operation may answer with a problem. Listing them on every operation
/// keeps generated clients' error types complete.
const STATUSES: &[(u16, &str)] = &[
    (400, "Malformed JSON, form or query"),
    (
        401,
        "Not authenticated (missing, malformed, expired, tampered or revoked token)",
    ),
    (403, "Authenticated but not allowed"),
    (404, "Unknown resource, or one the caller may not see"),
    (405, "Method not allowed"),
    (
        409,
        "Conflict: email taken, not enough stock, order not cancellable",
    ),
    (413, "Request body too large"),
    (415, "Unsupported content type"),
    (
        422,
        "Well-formed but invalid values; `errors` lists the fields",
    ),
    (429, "Too many failed logins; see `Retry-After`"),
    (500, "A bug"),
    (
        503,
        "The database (or, for readiness, the broker) is unreachable",
    ),
];

impl ApiResponse for Problem {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: STATUSES
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: ProblemBody::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ProblemBody::register(registry);
    }
}
