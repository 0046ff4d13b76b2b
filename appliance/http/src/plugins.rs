//! Plugins, for head office: install (or upgrade) a packed component, grant it capabilities and
//! configure it, enable or disable it, remove it, choose which schemes serve which hook, and try
//! a plugin on a sample request before real orders reach it. `/api/v1/plugins`,
//! `/api/v1/plugin-routes`.
//!
//! Compiling and calling plugins is CPU work: it runs on the blocking pool, never on the
//! workers that serve requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tongka_domain::Role;
use tongka_plugin_host::registry::{Installed, Plugins, RegistryError};
use tongka_plugin_host::trial::{self, TrialError};
use tongka_plugin_host::{Capability, Hook, LoadError};

use crate::AppState;
use crate::auth::CurrentStaff;
use crate::json::ApiJson;
use crate::problem::{ApiError, Text};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallPlugin {
    /// The packed component (`tongka-plugin pack`), base64.
    component: String,
    /// Capabilities granted: `kv`, `outbound-http`; only ones the manifest declares.
    #[serde(default)]
    grant: Vec<String>,
    /// The plugin's settings, checked against its manifest's schema.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    config: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlugin {
    enabled: Option<bool>,
    grant: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    config: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NameBody {
    zh: String,
    en: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LimitsBody {
    fuel: u64,
    memory_bytes: u64,
    deadline_ms: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginBody {
    id: String,
    version: String,
    /// The `tongka:plugin` version it was built against.
    api: String,
    /// `loyalty-scheme`, `notifier`, `settlement` or `device-driver`.
    world: &'static str,
    name: NameBody,
    /// What its manifest asks for.
    capabilities: Vec<&'static str>,
    /// What the merchant granted.
    granted: Vec<&'static str>,
    http_hosts: Vec<String>,
    #[schema(value_type = Object)]
    config: serde_json::Value,
    #[schema(value_type = Object)]
    config_schema: serde_json::Value,
    enabled: bool,
    /// Serving now (enabled, and it loaded at start).
    loaded: bool,
    /// The limits each call runs under: the manifest's asks within the box's maxima.
    limits: Option<LimitsBody>,
    /// SHA-256 of the packed component.
    sha256: String,
}

fn body(plugins: &Plugins, installed: Installed) -> PluginBody {
    let serving = plugins.host.plugin(&installed.manifest.id);
    let manifest = installed.manifest;
    PluginBody {
        id: manifest.id,
        version: manifest.version,
        api: manifest.api,
        world: manifest.world.as_str(),
        name: NameBody {
            zh: manifest.name.zh,
            en: manifest.name.en,
        },
        capabilities: manifest.capabilities.iter().map(|c| c.as_str()).collect(),
        granted: installed.granted.iter().map(|c| c.as_str()).collect(),
        http_hosts: manifest.http_hosts,
        config: installed.config,
        config_schema: manifest.config_schema,
        enabled: installed.enabled,
        loaded: serving.is_some(),
        limits: serving.map(|plugin| LimitsBody {
            fuel: plugin.limits.fuel,
            memory_bytes: plugin.limits.memory_bytes,
            deadline_ms: u64::try_from(plugin.limits.deadline.as_millis()).unwrap_or(u64::MAX),
        }),
        sha256: installed.sha256,
    }
}

fn head_office(actor: &CurrentStaff) -> Result<(), ApiError> {
    if actor.staff.role == Role::HqAdmin {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

fn grants(names: &[String]) -> Result<Vec<Capability>, ApiError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            Capability::parse(name).ok_or_else(|| {
                ApiError::invalid_field(
                    &format!("grant[{i}]"),
                    Text::new("须为 kv 或 outbound-http", "must be kv or outbound-http"),
                )
            })
        })
        .collect()
}

fn unprocessable(code: &'static str, zh: &'static str, en: &'static str, why: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, Text::new(zh, en))
        .with_detail(Text::new(why.to_owned(), why.to_owned()))
}

/// The registry's refusals as problems: what the merchant can fix is a 4xx naming it.
fn refused(error: RegistryError) -> ApiError {
    match error {
        RegistryError::NotInstalled(_) => ApiError::not_found(),
        RegistryError::Undeclared { .. } => unprocessable(
            "plugin_grant_undeclared",
            "插件未声明此权限，不能授予",
            "The plugin does not declare that capability",
            &error.to_string(),
        )
        .with_field("grant"),
        RegistryError::WrongWorld { .. } => unprocessable(
            "plugin_wrong_world",
            "该插件不能处理此环节",
            "That plugin cannot serve this hook",
            &error.to_string(),
        )
        .with_field("plugins"),
        RegistryError::Load(load) => match load {
            LoadError::Config { .. } => unprocessable(
                "plugin_config_invalid",
                "插件配置不符合其要求",
                "The plugin's configuration does not fit its schema",
                &load.to_string(),
            )
            .with_field("config"),
            LoadError::UnsupportedApi { .. } => unprocessable(
                "plugin_api_unsupported",
                "插件的接口版本本机不支持",
                "This box does not serve the plugin's interface version",
                &load.to_string(),
            )
            .with_field("component"),
            LoadError::Cache(_) => {
                tracing::error!(error = %load, "plugin cache failure");
                ApiError::internal()
            }
            _ => unprocessable(
                "plugin_invalid",
                "不是可用的插件",
                "Not a usable plugin",
                &load.to_string(),
            )
            .with_field("component"),
        },
        RegistryError::Storage(_) => {
            tracing::error!(%error, "plugin registry failure");
            ApiError::internal()
        }
        _ => ApiError::internal(),
    }
}

/// Runs registry work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::internal())?
}

/// 安装或升级插件 / Install a plugin, or upgrade the one with its id (head office only). The old
/// version serves until the new one is compiled and checked; a refused upgrade leaves it serving.
#[utoipa::path(post, path = "/api/v1/plugins", operation_id = "install_plugin", tag = "plugins", security(("bearer" = [])),
    request_body = InstallPlugin,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses(
        (status = 201, body = PluginBody),
        (status = 403, body = crate::problem::ProblemDoc),
        (status = 413, body = crate::problem::ProblemDoc),
        (status = 422, description = "plugin_invalid, plugin_api_unsupported, plugin_config_invalid, plugin_grant_undeclared, invalid_field", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn install(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<InstallPlugin>,
) -> Result<(StatusCode, Json<PluginBody>), ApiError> {
    head_office(&actor)?;
    let component = base64::engine::general_purpose::STANDARD
        .decode(request.component.as_bytes())
        .map_err(|_| {
            ApiError::invalid_field(
                "component",
                Text::new(
                    "须为 base64 编码的插件文件",
                    "must be the packed plugin, base64",
                ),
            )
        })?;
    let granted = grants(&request.grant)?;
    let plugins = Arc::clone(&state.plugins);
    let installed = blocking(move || {
        let installed = plugins
            .registry
            .install(&plugins.host, &component, &granted, &request.config)
            .map_err(refused)?;
        tracing::info!(plugin = %installed.manifest.id, version = %installed.manifest.version, "plugin installed");
        Ok(body(&plugins, installed))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(installed)))
}

/// 插件列表 / The installed plugins (head office only).
#[utoipa::path(get, path = "/api/v1/plugins", operation_id = "list_plugins", tag = "plugins", security(("bearer" = [])),
    responses((status = 200, body = Vec<PluginBody>), (status = 403, body = crate::problem::ProblemDoc)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<Vec<PluginBody>>, ApiError> {
    head_office(&actor)?;
    let plugins = Arc::clone(&state.plugins);
    blocking(move || {
        let list = plugins.registry.list().map_err(refused)?;
        Ok(Json(list.into_iter().map(|i| body(&plugins, i)).collect()))
    })
    .await
}

/// 查看插件 / One installed plugin (head office only).
#[utoipa::path(get, path = "/api/v1/plugins/{id}", operation_id = "get_plugin", tag = "plugins", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = PluginBody), (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<PluginBody>, ApiError> {
    head_office(&actor)?;
    let plugins = Arc::clone(&state.plugins);
    blocking(move || {
        let installed = plugins
            .registry
            .installed(&id)
            .map_err(refused)?
            .ok_or_else(ApiError::not_found)?;
        Ok(Json(body(&plugins, installed)))
    })
    .await
}

/// 修改插件 / Enable or disable a plugin, or change its grants or configuration (head office
/// only). Checked before anything changes.
#[utoipa::path(patch, path = "/api/v1/plugins/{id}", operation_id = "change_plugin", tag = "plugins", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = ChangePlugin,
    responses((status = 200, body = PluginBody), (status = 404, body = crate::problem::ProblemDoc),
        (status = 422, description = "plugin_config_invalid, plugin_grant_undeclared", body = crate::problem::ProblemDoc)))]
pub(crate) async fn change(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ChangePlugin>,
) -> Result<Json<PluginBody>, ApiError> {
    head_office(&actor)?;
    let granted = request.grant.as_deref().map(grants).transpose()?;
    let plugins = Arc::clone(&state.plugins);
    blocking(move || {
        let (host, registry) = (&plugins.host, &plugins.registry);
        if granted.is_some() || request.config.is_some() {
            registry
                .reconfigure(host, &id, granted.as_deref(), request.config.as_ref())
                .map_err(refused)?;
        }
        if let Some(enabled) = request.enabled {
            registry.set_enabled(host, &id, enabled).map_err(refused)?;
        }
        let installed = registry
            .installed(&id)
            .map_err(refused)?
            .ok_or_else(ApiError::not_found)?;
        tracing::info!(plugin = %id, enabled = installed.enabled, "plugin changed");
        Ok(Json(body(&plugins, installed)))
    })
    .await
}

/// 卸载插件 / Remove a plugin: it stops serving, and its data and routes are gone (head office
/// only).
#[utoipa::path(delete, path = "/api/v1/plugins/{id}", operation_id = "remove_plugin", tag = "plugins", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 204), (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    head_office(&actor)?;
    let plugins = Arc::clone(&state.plugins);
    blocking(move || {
        plugins
            .registry
            .remove(&plugins.host, &id)
            .map_err(refused)?;
        tracing::info!(plugin = %id, "plugin removed");
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrialRequest {
    /// A scheme hook (`quote-checkout` …) or another world's call (`send`, `statements`,
    /// `matches`, `decode`, `encode-receipt`).
    hook: String,
    /// The hook's argument, shaped as in docs/plugins.md.
    #[schema(value_type = Object)]
    input: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrialBody {
    /// The effects a scheme proposes, or another world's answer.
    #[schema(value_type = Object)]
    value: serde_json::Value,
    fuel_used: u64,
    duration_us: u64,
}

/// 试运行插件 / Try a plugin on a sample request: what it would answer, and what the call cost.
/// Nothing is written (head office only).
#[utoipa::path(post, path = "/api/v1/plugins/{id}/trial", operation_id = "try_plugin", tag = "plugins", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = TrialRequest,
    responses((status = 200, body = TrialBody), (status = 404, body = crate::problem::ProblemDoc),
        (status = 409, description = "plugin_not_serving", body = crate::problem::ProblemDoc),
        (status = 422, description = "plugin_failed (the plugin's error in detail), invalid_field", body = crate::problem::ProblemDoc)))]
pub(crate) async fn try_plugin(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<TrialRequest>,
) -> Result<Json<TrialBody>, ApiError> {
    head_office(&actor)?;
    let plugins = Arc::clone(&state.plugins);
    blocking(move || {
        if plugins.registry.installed(&id).map_err(refused)?.is_none() {
            return Err(ApiError::not_found());
        }
        match trial::call(&plugins.host, &id, &request.hook, request.input) {
            Ok(outcome) => Ok(Json(TrialBody {
                value: outcome.value,
                fuel_used: outcome.fuel_used,
                duration_us: outcome.micros,
            })),
            Err(TrialError::UnknownHook(_)) => Err(ApiError::invalid_field(
                "hook",
                Text::new(
                    format!("须为其中之一：{}", trial::HOOKS.join(", ")),
                    format!("must be one of {}", trial::HOOKS.join(", ")),
                ),
            )),
            Err(error @ TrialError::Input { .. }) => Err(ApiError::invalid_field(
                "input",
                Text::new(error.to_string(), error.to_string()),
            )),
            Err(TrialError::Call(tongka_plugin_host::CallError::NotLoaded(_))) => {
                Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "plugin_not_serving",
                    Text::new("插件未启用", "The plugin is not enabled"),
                ))
            }
            Err(TrialError::Call(error)) => {
                let why = format!("{}: {error}", trial::error_kind(&error));
                Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "plugin_failed",
                    Text::new(
                        "插件调用失败，未产生任何结果",
                        "The plugin failed; nothing came of the call",
                    ),
                )
                .with_detail(Text::new(why.clone(), why)))
            }
        }
    })
    .await
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    /// Loyalty-scheme plugin ids, in the order they run.
    plugins: Vec<String>,
}

/// 插件分工 / Which schemes serve each hook, in order (head office only).
#[utoipa::path(get, path = "/api/v1/plugin-routes", operation_id = "list_plugin_routes", tag = "plugins", security(("bearer" = [])),
    responses((status = 200, body = BTreeMap<String, Vec<String>>)))]
pub(crate) async fn routes(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<BTreeMap<String, Vec<String>>>, ApiError> {
    head_office(&actor)?;
    let plugins = Arc::clone(&state.plugins);
    blocking(move || {
        let mut routes = BTreeMap::new();
        for hook in Hook::ALL {
            routes.insert(
                hook.as_str().to_owned(),
                plugins.registry.route(hook).map_err(refused)?,
            );
        }
        Ok(Json(routes))
    })
    .await
}

/// 设置插件分工 / Set which schemes serve a hook, in the order they run (head office only).
#[utoipa::path(put, path = "/api/v1/plugin-routes/{hook}", operation_id = "set_plugin_route", tag = "plugins", security(("bearer" = [])),
    params(("hook" = String, Path, description = "quote-checkout, commit-checkout, top-up, member-joined, refund, daily-tick"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = RouteRequest,
    responses((status = 200, body = RouteRequest), (status = 404, body = crate::problem::ProblemDoc),
        (status = 422, description = "plugin_wrong_world, invalid_field", body = crate::problem::ProblemDoc)))]
pub(crate) async fn set_route(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(hook): Path<String>,
    ApiJson(request): ApiJson<RouteRequest>,
) -> Result<Json<RouteRequest>, ApiError> {
    head_office(&actor)?;
    let hook = Hook::parse(&hook).ok_or_else(ApiError::not_found)?;
    if request.plugins.len() > 16 {
        return Err(ApiError::invalid_field(
            "plugins",
            Text::new("至多 16 个插件", "at most 16 plugins"),
        ));
    }
    let plugins = Arc::clone(&state.plugins);
    blocking(move || {
        plugins
            .registry
            .set_route(hook, &request.plugins)
            .map_err(|error| match error {
                RegistryError::NotInstalled(id) => ApiError::invalid_field(
                    "plugins",
                    Text::new(
                        format!("未安装插件 {id}"),
                        format!("no plugin `{id}` is installed"),
                    ),
                ),
                other => refused(other),
            })?;
        tracing::info!(hook = hook.as_str(), plugins = ?request.plugins, "plugin route set");
        Ok(Json(request))
    })
    .await
}
