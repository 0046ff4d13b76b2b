//! Terminals: `/api/v1/terminals` for the staff who manage them, `/api/v1/terminal` for the POS
//! itself, which signs its requests with its terminal token.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use tongka_domain::{AuthError, Terminal, TerminalError, TerminalId, UnixMillis};

use crate::AppState;
use crate::auth::{Bearer, CurrentStaff, bearer, internal, parse_id, rfc3339};
use crate::json::ApiJson;
use crate::problem::{ApiError, Text};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTerminal {
    /// The store it serves: 32 hex digits.
    store: String,
    /// 1 to 32 characters, e.g. `收银台 1`.
    name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TerminalBody {
    id: String,
    store: String,
    name: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl From<&Terminal> for TerminalBody {
    fn from(terminal: &Terminal) -> TerminalBody {
        TerminalBody {
            id: terminal.id.to_string(),
            store: terminal.store.to_string(),
            name: terminal.name.clone(),
            created_at: rfc3339(terminal.created_at),
            revoked_at: terminal.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MintedTerminal {
    terminal: TerminalBody,
    /// The terminal's bearer token. Shown once: the box keeps only its hash.
    token: String,
}

impl MintedTerminal {
    pub(crate) fn new(terminal: TerminalBody, token: String) -> MintedTerminal {
        MintedTerminal { terminal, token }
    }
}

fn refused(error: TerminalError) -> ApiError {
    match error {
        TerminalError::Name => ApiError::invalid_field(
            "name",
            Text::new(
                "1 至 32 个字符，不含控制字符",
                "1 to 32 characters, no control characters",
            ),
        ),
        TerminalError::UnknownStore => ApiError::unknown_store("store"),
        TerminalError::Forbidden => ApiError::forbidden(),
        TerminalError::UnknownTerminal => ApiError::not_found(),
        _ => ApiError::internal(),
    }
}

/// 新建终端 / Mint a terminal for a store (head office, or the store's manager).
#[utoipa::path(post, path = "/api/v1/terminals", operation_id = "create_terminal", tag = "terminals", security(("bearer" = [])),
    request_body = CreateTerminal,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses(
        (status = 201, body = MintedTerminal),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field, unknown_store", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<CreateTerminal>,
) -> Result<(StatusCode, Json<MintedTerminal>), ApiError> {
    let store = parse_id(&request.store)
        .map(tongka_domain::StoreId)
        .ok_or_else(|| refused(TerminalError::UnknownStore))?;
    let minted = state
        .directory
        .create_terminal(&actor.staff, store, &request.name, UnixMillis::now())
        .map_err(|error| internal(&error))?
        .map_err(refused)?;
    let (terminal, token) = minted;
    Ok((
        StatusCode::CREATED,
        Json(MintedTerminal {
            terminal: TerminalBody::from(&terminal),
            token,
        }),
    ))
}

/// 终端列表 / The terminals of the stores the caller manages.
#[utoipa::path(get, path = "/api/v1/terminals", operation_id = "list_terminals", tag = "terminals", security(("bearer" = [])),
    responses((status = 200, body = Vec<TerminalBody>)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<Vec<TerminalBody>>, ApiError> {
    let terminals = state
        .directory
        .terminals(&actor.staff)
        .map_err(|error| internal(&error))?;
    Ok(Json(terminals.iter().map(TerminalBody::from).collect()))
}

/// 吊销终端 / Revoke a terminal: its token is refused from now on.
#[utoipa::path(delete, path = "/api/v1/terminals/{id}", operation_id = "revoke_terminal", tag = "terminals", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits")),
    responses((status = 200, body = TerminalBody), (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<TerminalBody>, ApiError> {
    let id = parse_id(&id)
        .map(TerminalId)
        .ok_or_else(ApiError::not_found)?;
    let terminal = state
        .directory
        .revoke_terminal(&actor.staff, id, UnixMillis::now())
        .map_err(|error| internal(&error))?
        .map_err(refused)?;
    Ok(Json(TerminalBody::from(&terminal)))
}

/// The terminal making the request, by its bearer token.
#[derive(Debug)]
pub struct CurrentTerminal(pub Terminal);

impl FromRequestParts<AppState> for CurrentTerminal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthenticated = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                Text::new("终端未授权", "This terminal is not authorised"),
            )
        };
        let found = match bearer(parts, &state.directory, UnixMillis::now())
            .map_err(|error| internal(&error))?
        {
            Some(Bearer::Terminal(found)) => found,
            _ => Err(AuthError::Unknown),
        };
        match found {
            Ok(terminal) => Ok(CurrentTerminal(terminal)),
            Err(AuthError::Revoked) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "terminal_revoked",
                Text::new("此终端已被吊销", "This terminal was revoked"),
            )),
            Err(_) => Err(unauthenticated()),
        }
    }
}

/// 本终端 / The terminal itself: which store it serves.
#[utoipa::path(get, path = "/api/v1/terminal", operation_id = "current_terminal", tag = "terminals", security(("bearer" = [])),
    responses((status = 200, body = TerminalBody), (status = 401, body = crate::problem::ProblemDoc)))]
pub(crate) async fn current(CurrentTerminal(terminal): CurrentTerminal) -> Json<TerminalBody> {
    Json(TerminalBody::from(&terminal))
}
