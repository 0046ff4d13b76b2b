//! Stores and staff: `/api/v1/stores`, `/api/v1/staff`. Who may do what is the domain's rule;
//! this module only translates.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tongka_domain::{
    Date, Department, DepartmentId, Merchant, MerchantError, NewStaff, NewStore, Role, Scope,
    StaffError, Store, StoreError, StoreId, StoreKind, UnixMillis,
};

use crate::AppState;
use crate::auth::{CurrentStaff, StaffBody, internal, parse_id, rfc3339};
use crate::json::ApiJson;
use crate::problem::{ApiError, Text};

fn invalid(field: &str, zh: &'static str, en: &'static str) -> ApiError {
    ApiError::invalid_field(field, Text::new(zh, en))
}

fn taken(code: &'static str, field: &str, zh: &'static str, en: &'static str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, Text::new(zh, en)).with_field(field)
}

fn store_id(text: &str) -> Option<StoreId> {
    parse_id(text).map(StoreId)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStore {
    code: String,
    name: String,
    /// `direct` (直营) or `franchise` (加盟).
    kind: String,
    /// `YYYY-MM-DD`.
    opened_on: String,
    /// An IANA zone such as `Asia/Shanghai`.
    time_zone: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreBody {
    id: String,
    code: String,
    name: String,
    kind: &'static str,
    opened_on: String,
    time_zone: String,
    created_at: String,
    /// A top-up above this needs a manager's authorisation at the till; absent: never.
    top_up_approval_above: Option<crate::members::Money>,
}

impl From<&Store> for StoreBody {
    fn from(store: &Store) -> StoreBody {
        StoreBody {
            id: store.id.to_string(),
            code: store.code.clone(),
            name: store.name.clone(),
            kind: store.kind.as_str(),
            opened_on: store.opened_on.to_string(),
            time_zone: store.time_zone.clone(),
            created_at: rfc3339(store.created_at),
            top_up_approval_above: store
                .top_up_approval_above_fen
                .map(|fen| crate::members::money(u128::from(fen))),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpApproval {
    /// In yuan, `"5000.00"`; `null`: no authorisation needed.
    above: Option<String>,
}

/// 大额充值授权 / Sets the amount above which a top-up at this store needs a manager's
/// authorisation (a store manager of the store, or head office, by password at the till). Head
/// office only.
#[utoipa::path(put, path = "/api/v1/stores/{id}/top-up-approval", operation_id = "set_top_up_approval", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits")),
    request_body = TopUpApproval,
    responses((status = 200, body = StoreBody),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 404, body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc)))]
pub(crate) async fn set_top_up_approval(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<TopUpApproval>,
) -> Result<Json<StoreBody>, ApiError> {
    let id = store_id(&id).ok_or_else(ApiError::not_found)?;
    let above = request
        .above
        .as_deref()
        .map(|text| crate::till::fen("above", text))
        .transpose()?;
    match state
        .directory
        .set_top_up_approval(&actor.staff, id, above)
        .map_err(|error| internal(&error))?
    {
        Ok(store) => Ok(Json(StoreBody::from(&store))),
        Err(StoreError::Forbidden) => Err(ApiError::forbidden()),
        Err(_) => Err(ApiError::not_found()),
    }
}

/// 新建门店 / Create a store (head office only).
#[utoipa::path(post, path = "/api/v1/stores", operation_id = "create_store", tag = "stores", security(("bearer" = [])),
    request_body = CreateStore,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses(
        (status = 201, body = StoreBody),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 409, description = "store_code_taken", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn create_store(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<CreateStore>,
) -> Result<(StatusCode, Json<StoreBody>), ApiError> {
    let kind = StoreKind::parse(&request.kind).ok_or_else(|| {
        invalid(
            "kind",
            "须为 direct（直营）或 franchise（加盟）",
            "must be direct or franchise",
        )
    })?;
    let opened_on = Date::parse(&request.opened_on).ok_or_else(|| {
        invalid(
            "opened_on",
            "须为日期 YYYY-MM-DD",
            "must be a date, YYYY-MM-DD",
        )
    })?;
    let new = NewStore {
        code: request.code,
        name: request.name,
        kind,
        opened_on,
        time_zone: request.time_zone,
    };
    let created = state
        .directory
        .create_store(&actor.staff, &new, UnixMillis::now())
        .map_err(|error| internal(&error))?;
    match created {
        Ok(store) => Ok((StatusCode::CREATED, Json(StoreBody::from(&store)))),
        Err(StoreError::Code) => Err(invalid(
            "code",
            "1 至 16 位大写字母、数字或 -",
            "1 to 16 of A-Z, 0-9, `-`",
        )),
        Err(StoreError::Name) => Err(invalid(
            "name",
            "1 至 64 个字符，不含控制字符",
            "1 to 64 characters, no control characters",
        )),
        Err(StoreError::TimeZone) => Err(invalid(
            "time_zone",
            "须为 IANA 时区名，如 Asia/Shanghai",
            "must be an IANA zone name such as Asia/Shanghai",
        )),
        Err(StoreError::CodeTaken(_)) => Err(taken(
            "store_code_taken",
            "code",
            "门店编码已被使用",
            "That store code is taken",
        )),
        Err(StoreError::Forbidden) => Err(ApiError::forbidden()),
        Err(_) => Err(ApiError::internal()),
    }
}

/// 门店列表 / The stores in the caller's scope.
#[utoipa::path(get, path = "/api/v1/stores", operation_id = "list_stores", tag = "stores", security(("bearer" = [])),
    responses((status = 200, body = Vec<StoreBody>)))]
pub(crate) async fn list_stores(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<Vec<StoreBody>>, ApiError> {
    let stores = state
        .directory
        .stores(&actor.staff)
        .map_err(|error| internal(&error))?;
    Ok(Json(stores.iter().map(StoreBody::from).collect()))
}

/// 门店 / One store; 404 outside the caller's scope.
#[utoipa::path(get, path = "/api/v1/stores/{id}", operation_id = "get_store", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits")),
    responses((status = 200, body = StoreBody), (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn get_store(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<StoreBody>, ApiError> {
    let id = store_id(&id).ok_or_else(ApiError::not_found)?;
    match state
        .directory
        .store(&actor.staff, id)
        .map_err(|error| internal(&error))?
    {
        Some(store) => Ok(Json(StoreBody::from(&store))),
        // Outside the caller's scope a store does not exist for them.
        None => Err(ApiError::not_found()),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStaff {
    username: String,
    display_name: String,
    /// `hq_admin`, `department`, `store_manager` or `cashier`.
    role: String,
    /// `"all"`, or store ids.
    stores: StoresRequest,
    password: String,
    /// The head-office department (id) they belong to.
    department: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum StoresRequest {
    All(String),
    Some(Vec<String>),
}

/// 新建员工 / Create a staff member, as the caller's role allows.
#[utoipa::path(post, path = "/api/v1/staff", operation_id = "create_staff", tag = "staff", security(("bearer" = [])),
    request_body = CreateStaff,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses(
        (status = 201, body = crate::auth::StaffBody),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 409, description = "username_taken", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field, unknown_store", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn create_staff(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<CreateStaff>,
) -> Result<(StatusCode, Json<StaffBody>), ApiError> {
    let role = Role::parse(&request.role).ok_or_else(|| {
        invalid(
            "role",
            "须为 hq_admin、department、store_manager 或 cashier",
            "must be hq_admin, department, store_manager or cashier",
        )
    })?;
    let bad_stores = || {
        invalid(
            "stores",
            "须为 \"all\" 或门店编号列表",
            "must be \"all\" or a list of store ids",
        )
    };
    let scope = match request.stores {
        StoresRequest::All(all) if all == "all" => Scope::AllStores,
        StoresRequest::All(_) => return Err(bad_stores()),
        StoresRequest::Some(ids) => Scope::Stores(
            ids.iter()
                .map(|id| store_id(id))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad_stores)?,
        ),
    };
    let department = match request.department.as_deref() {
        None => None,
        Some(text) => Some(DepartmentId(parse_id(text).ok_or_else(unknown_department)?)),
    };
    let new = NewStaff {
        department,
        username: request.username,
        display_name: request.display_name,
        role,
        scope,
        password: request.password,
    };
    let directory = Arc::clone(&state.directory);
    let created = tokio::task::spawn_blocking(move || {
        directory.create_staff_by(&actor.staff, &new, UnixMillis::now())
    })
    .await
    .map_err(|error| internal(&error))?
    .map_err(|error| internal(&error))?;
    match created {
        Ok(staff) => Ok((StatusCode::CREATED, Json(StaffBody::from(&staff)))),
        Err(StaffError::Username) => Err(invalid(
            "username",
            "3 至 32 位小写字母、数字或 . _ -",
            "3 to 32 of a-z, 0-9, `.`, `_`, `-`",
        )),
        Err(StaffError::DisplayName) => Err(invalid(
            "display_name",
            "1 至 64 个字符，不含控制字符",
            "1 to 64 characters, no control characters",
        )),
        Err(StaffError::PasswordLength) => Err(invalid(
            "password",
            "密码须为 8 至 128 个字符",
            "8 to 128 characters",
        )),
        Err(StaffError::EmptyScope) => Err(bad_stores()),
        Err(StaffError::UnknownStore) => Err(ApiError::unknown_store("stores")),
        Err(StaffError::UnknownDepartment) => Err(unknown_department()),
        Err(StaffError::UsernameTaken(_)) => Err(taken(
            "username_taken",
            "username",
            "用户名已被使用",
            "That username is taken",
        )),
        Err(StaffError::Forbidden) => Err(ApiError::forbidden()),
        Err(_) => Err(ApiError::internal()),
    }
}

/// 员工列表 / The staff the caller may see.
#[utoipa::path(get, path = "/api/v1/staff", operation_id = "list_staff", tag = "staff", security(("bearer" = [])),
    responses((status = 200, body = Vec<crate::auth::StaffBody>)))]
pub(crate) async fn list_staff(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<Vec<StaffBody>>, ApiError> {
    let staff = state
        .directory
        .staff_list(&actor.staff)
        .map_err(|error| internal(&error))?;
    Ok(Json(staff.iter().map(StaffBody::from).collect()))
}

fn unknown_department() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_department",
        Text::new("没有这个部门", "No such department"),
    )
    .with_field("department")
}

fn merchant_refused(error: MerchantError) -> ApiError {
    match error {
        MerchantError::Name => invalid(
            "name",
            "名称须为 1 至 64 个字符（部门 32 个），不含控制字符",
            "1 to 64 characters (departments 32), no control characters",
        ),
        MerchantError::DepartmentTaken => taken(
            "department_taken",
            "name",
            "已有同名部门",
            "A department with this name exists",
        ),
        MerchantError::Forbidden => ApiError::forbidden(),
        _ => ApiError::internal(),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MerchantBody {
    id: String,
    name: String,
    created_at: String,
}

impl From<&Merchant> for MerchantBody {
    fn from(merchant: &Merchant) -> MerchantBody {
        MerchantBody {
            id: merchant.id.to_string(),
            name: merchant.name.clone(),
            created_at: rfc3339(merchant.created_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameRequest {
    name: String,
}

/// 商户 / The caller's merchant.
#[utoipa::path(get, path = "/api/v1/merchant", operation_id = "get_merchant", tag = "stores", security(("bearer" = [])),
    responses((status = 200, body = MerchantBody)))]
pub(crate) async fn get_merchant(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<MerchantBody>, ApiError> {
    match state
        .directory
        .merchant(actor.staff.merchant)
        .map_err(|error| internal(&error))?
    {
        Some(merchant) => Ok(Json(MerchantBody::from(&merchant))),
        None => Err(internal(&"the staff's merchant is missing")),
    }
}

/// 修改商户名称 / Rename the merchant (head office).
#[utoipa::path(put, path = "/api/v1/merchant", operation_id = "rename_merchant", tag = "stores", security(("bearer" = [])),
    request_body = NameRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 200, body = MerchantBody),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc)))]
pub(crate) async fn rename_merchant(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<NameRequest>,
) -> Result<Json<MerchantBody>, ApiError> {
    let merchant = state
        .directory
        .rename_merchant(&actor.staff, &request.name)
        .map_err(|error| internal(&error))?
        .map_err(merchant_refused)?;
    state.merchant_name.send_replace(merchant.name.clone());
    Ok(Json(MerchantBody::from(&merchant)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentBody {
    id: String,
    name: String,
    created_at: String,
}

impl From<&Department> for DepartmentBody {
    fn from(department: &Department) -> DepartmentBody {
        DepartmentBody {
            id: department.id.to_string(),
            name: department.name.clone(),
            created_at: rfc3339(department.created_at),
        }
    }
}

/// 新建部门 / Create a head-office department (head office).
#[utoipa::path(post, path = "/api/v1/departments", operation_id = "create_department", tag = "staff", security(("bearer" = [])),
    request_body = NameRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 201, body = DepartmentBody),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 409, description = "department_taken", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc)))]
pub(crate) async fn create_department(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<NameRequest>,
) -> Result<(StatusCode, Json<DepartmentBody>), ApiError> {
    let department = state
        .directory
        .create_department(&actor.staff, &request.name, UnixMillis::now())
        .map_err(|error| internal(&error))?
        .map_err(merchant_refused)?;
    Ok((StatusCode::CREATED, Json(DepartmentBody::from(&department))))
}

/// 部门列表 / The merchant's departments.
#[utoipa::path(get, path = "/api/v1/departments", operation_id = "list_departments", tag = "staff", security(("bearer" = [])),
    responses((status = 200, body = Vec<DepartmentBody>)))]
pub(crate) async fn list_departments(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<Vec<DepartmentBody>>, ApiError> {
    let departments = state
        .directory
        .departments(actor.staff.merchant)
        .map_err(|error| internal(&error))?;
    Ok(Json(departments.iter().map(DepartmentBody::from).collect()))
}
