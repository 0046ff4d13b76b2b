//! Members, cards, tiers, custom fields and service records: `/api/v1/members…`, `/api/v1/cards`,
//! `/api/v1/tiers`, `/api/v1/custom-fields`, `/api/v1/follow-ups`. The rules are the domain's;
//! this module translates requests and answers, and says every refusal in both languages.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tongka_domain::accounts::{self, MemberAccount};
use tongka_domain::{
    Balances, Card, CustomField, CustomFieldKind, Date, FieldError, ImportError, ImportReport,
    Invalid, Member, MemberError, MemberId, MemberPatch, MemberQuery, MemberStatus, MemberView,
    NewCard, NewMember, NewTier, ProfileEntry, RowProblem, ServiceRecord, StoreId, Thresholds,
    Tier, TierChange, TierId, TierReason, UnixMillis,
};

use crate::AppState;
use crate::auth::{CurrentStaff, internal, parse_id, rfc3339};
use crate::json::ApiJson;
use crate::problem::{ApiError, Text};

fn member_id(text: &str) -> Result<MemberId, ApiError> {
    parse_id(text).map(MemberId).ok_or_else(unknown_member)
}

pub(crate) fn unknown_member() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_member",
        Text::new("没有这个会员", "No such member"),
    )
}

fn optional_id<T>(
    field: &str,
    text: Option<&str>,
    make: fn(u128) -> T,
) -> Result<Option<T>, ApiError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse_id(text).map(|id| Some(make(id))).ok_or_else(|| {
            ApiError::invalid_field(
                field,
                Text::new("须为 32 位十六进制编号", "must be an id of 32 hex digits"),
            )
        }),
    }
}

/// The words for why a field was refused.
pub(crate) fn field_error(error: &FieldError) -> ApiError {
    let text = match &error.invalid {
        Invalid::Required => Text::new("必填", "is required"),
        Invalid::TooLong { max } => Text::new(
            format!("最多 {max} 个字符（或项）"),
            format!("at most {max} characters (or items)"),
        ),
        Invalid::ControlCharacters => {
            Text::new("不能包含控制字符", "must not hold control characters")
        }
        Invalid::Phone => Text::new(
            "须为 11 位手机号（可带 +86）",
            "must be an 11-digit mobile number (optionally +86)",
        ),
        Invalid::Date => Text::new("须为日期 YYYY-MM-DD", "must be a date, YYYY-MM-DD"),
        Invalid::FutureDate => Text::new("不能是将来的日期", "must not be in the future"),
        Invalid::IdNumber => Text::new(
            "须为 18 位有效身份证号",
            "must be a valid 18-character resident ID number",
        ),
        Invalid::Choice { allowed } => Text::new(
            format!("须为以下之一：{}", allowed.join("、")),
            format!("must be one of: {}", allowed.join(", ")),
        ),
        Invalid::CardNumber => Text::new(
            "卡号须为 4 至 32 位字母、数字或 -",
            "a card number is 4 to 32 of A-Z, 0-9, `-`",
        ),
        Invalid::Tag => Text::new("标签须为 1 至 16 个字符", "a tag is 1 to 16 characters"),
        Invalid::Number { scale } => Text::new(
            format!("须为范围内的数，最多 {scale} 位小数"),
            format!("must be a number in range with at most {scale} decimal places"),
        ),
        Invalid::UnknownField => Text::new(
            "商户未定义此自定义字段",
            "the merchant has not defined this custom field",
        ),
        Invalid::Duplicate => Text::new("重复", "is listed twice"),
        Invalid::OrderId => Text::new(
            "订单号须为 1 至 64 位字母、数字或 - _ .",
            "an order id is 1 to 64 of A-Z a-z 0-9 - _ .",
        ),
    };
    ApiError::invalid_field(&error.field, text)
}

/// The problem for each refusal of a member operation.
pub(crate) fn refused(error: MemberError) -> ApiError {
    let conflict = |code, zh: &'static str, en: &'static str| {
        ApiError::new(StatusCode::CONFLICT, code, Text::new(zh, en))
    };
    match error {
        MemberError::Invalid(error) => field_error(&error),
        MemberError::PhoneTaken => conflict(
            "phone_taken",
            "该手机号已属于另一位会员",
            "This phone number belongs to another member",
        )
        .with_field("phone"),
        MemberError::CardTaken(number) => conflict(
            "card_taken",
            "该卡号已发出",
            "This card number is already issued",
        )
        .with_detail(Text::new(number.clone(), number))
        .with_field("card.number"),
        MemberError::UnknownMember => unknown_member(),
        MemberError::UnknownStore => ApiError::unknown_store("home_store"),
        MemberError::UnknownReferrer => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_referrer",
            Text::new("推荐人不存在", "No such referrer"),
        )
        .with_field("referrer"),
        MemberError::UnknownTier => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_tier",
            Text::new("没有这个等级", "No such tier"),
        )
        .with_field("tier"),
        MemberError::UnknownCard => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_card",
            Text::new("没有这张卡", "No such card"),
        ),
        MemberError::CardNotActive(status) => conflict(
            "card_not_active",
            "此卡已挂失或已补换，不能这样使用",
            "This card is lost or replaced and cannot be used so",
        )
        .with_detail(Text::new(status, status)),
        MemberError::NotLive => conflict(
            "member_not_live",
            "会员已合并或已注销",
            "The member was merged or erased",
        ),
        MemberError::Frozen => conflict("member_frozen", "会员已冻结", "The member is frozen"),
        MemberError::Forbidden => ApiError::forbidden(),
        MemberError::HoldsOpen => conflict(
            "holds_open",
            "会员有未完成的冻结金额，请先处理",
            "The member has pending holds; settle them first",
        ),
        MemberError::SameMember => ApiError::invalid_field(
            "from",
            Text::new("不能与自己合并", "cannot merge a member into themselves"),
        ),
        MemberError::TierTaken => conflict(
            "tier_taken",
            "已有同名或同级别的等级",
            "A tier with this name or rank exists",
        ),
        MemberError::UnknownRecord => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_service_record",
            Text::new("没有这条服务记录", "No such service record"),
        ),
        _ => ApiError::internal(),
    }
}

/// Money: a decimal string and its currency, never a JSON number.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Money {
    /// e.g. `"128.50"`.
    pub(crate) amount: String,
    currency: &'static str,
}

impl Money {
    /// The same amount, owed the other way: `-12.30`.
    pub(crate) fn negated(self) -> Money {
        Money {
            amount: format!("-{}", self.amount),
            currency: self.currency,
        }
    }
}

pub(crate) fn money(fen: u128) -> Money {
    Money {
        amount: accounts::display(accounts::CNY, fen),
        currency: "CNY",
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoredValueBody {
    /// 本金: paid in by the member.
    principal: Money,
    /// 赠送: given by the merchant.
    bonus: Money,
    total: Money,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BalancesBody {
    stored_value: StoredValueBody,
    /// Whole points, as a decimal string.
    points: String,
    /// 成长值, as a decimal string.
    growth: String,
    /// Points owed (积分欠账): taken back by a refund after they were spent; the member's next
    /// earnings repay them first. `"0"` for nearly everyone.
    points_owed: String,
}

impl From<&Balances> for BalancesBody {
    fn from(b: &Balances) -> BalancesBody {
        BalancesBody {
            stored_value: StoredValueBody {
                principal: money(b.principal_fen),
                bonus: money(b.bonus_fen),
                total: money(b.principal_fen.saturating_add(b.bonus_fen)),
            },
            points: b.points.to_string(),
            growth: b.growth.to_string(),
            points_owed: b.points_owed.to_string(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardEventBody {
    at: String,
    /// `issued`, `lost`, `replaced`, `moved`.
    event: String,
    by: Option<String>,
    note: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardBody {
    /// An ID card's number is masked.
    number: String,
    /// `barcode`, `magstripe`, `ic`, `qr`, `id_card`.
    kind: &'static str,
    /// `active`, `lost`, `replaced`.
    status: &'static str,
    issued_at: String,
    history: Vec<CardEventBody>,
}

impl From<&Card> for CardBody {
    fn from(card: &Card) -> CardBody {
        CardBody {
            number: card.display_number(),
            kind: card.kind.as_str(),
            status: card.status.as_str(),
            issued_at: rfc3339(card.issued_at),
            history: card
                .history
                .iter()
                .map(|e| CardEventBody {
                    at: rfc3339(e.at),
                    event: e.event.clone(),
                    by: e.by.map(|s| s.to_string()),
                    note: e.note.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnniversaryBody {
    /// e.g. `结婚纪念日`.
    label: String,
    /// `YYYY-MM-DD`.
    date: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentBody {
    marketing: bool,
    at: String,
    source: String,
}

/// A member in full, with balances and cards.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberBody {
    id: String,
    /// `active`, `frozen`, `merged`, `erased`.
    status: &'static str,
    /// For a merged member: who holds their balances and cards now.
    merged_into: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    gender: Option<&'static str>,
    birthday: Option<String>,
    anniversaries: Vec<AnniversaryBody>,
    occupation: Option<String>,
    /// Masked: `110105**********2X`. The full number is only in the member's data export.
    id_number: Option<String>,
    tags: Vec<String>,
    notes: Option<String>,
    custom: BTreeMap<String, String>,
    home_store: Option<String>,
    referrer: Option<String>,
    /// `store`, `online`, `referral`, `import`.
    channel: &'static str,
    consent: Option<ConsentBody>,
    tier: Option<String>,
    cards: Vec<CardBody>,
    balances: BalancesBody,
    joined_at: String,
    /// At the till's lookup only (积分到期提醒): the points that expire at the end of this year
    /// unless used. Absent elsewhere — head office asks `/members/{id}/points-expiry` — and
    /// when points never expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) points_expiring: Option<PointsExpiringBody>,
}

impl From<&MemberView> for MemberBody {
    fn from(view: &MemberView) -> MemberBody {
        let m = &view.member;
        let p = &m.profile;
        MemberBody {
            id: m.id.to_string(),
            status: m.status.as_str(),
            merged_into: match m.status {
                MemberStatus::Merged { into, .. } => Some(into.to_string()),
                _ => None,
            },
            name: p.name.clone(),
            phone: p.phone.as_ref().map(|p| p.as_str().to_owned()),
            gender: p.gender.map(|g| g.as_str()),
            birthday: p.birthday.map(|d| d.to_string()),
            anniversaries: p
                .anniversaries
                .iter()
                .map(|a| AnniversaryBody {
                    label: a.label.clone(),
                    date: a.date.to_string(),
                })
                .collect(),
            occupation: p.occupation.clone(),
            id_number: p.id_number.as_ref().map(|i| i.masked()),
            tags: p.tags.clone(),
            notes: p.notes.clone(),
            custom: p.custom.clone(),
            home_store: m.home_store.map(|s| s.to_string()),
            referrer: m.referrer.map(|r| r.to_string()),
            channel: m.channel.as_str(),
            consent: m.consent.as_ref().map(|c| ConsentBody {
                marketing: c.marketing,
                at: rfc3339(c.at),
                source: c.source.clone(),
            }),
            tier: m.tier.map(|t| t.to_string()),
            cards: m.cards.iter().map(CardBody::from).collect(),
            balances: BalancesBody::from(&view.balances),
            joined_at: rfc3339(m.joined_at),
            points_expiring: None,
        }
    }
}

/// A member as lists show them: the phone masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberSummary {
    id: String,
    status: &'static str,
    name: Option<String>,
    /// Masked: `138****8000`.
    phone: Option<String>,
    tags: Vec<String>,
    home_store: Option<String>,
    tier: Option<String>,
    joined_at: String,
}

impl From<&Member> for MemberSummary {
    fn from(m: &Member) -> MemberSummary {
        MemberSummary {
            id: m.id.to_string(),
            status: m.status.as_str(),
            name: m.profile.name.clone(),
            phone: m.profile.phone.as_ref().map(|p| p.masked()),
            tags: m.profile.tags.clone(),
            home_store: m.home_store.map(|s| s.to_string()),
            tier: m.tier.map(|t| t.to_string()),
            joined_at: rfc3339(m.joined_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardRequest {
    number: String,
    /// `barcode`, `magstripe`, `ic`, `qr` or `id_card` (the number is then an ID number).
    kind: String,
}

impl CardRequest {
    fn into_new(self) -> NewCard {
        NewCard {
            number: self.number,
            kind: self.kind,
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    name: Option<String>,
    /// A mobile number; `+86`, spaces and dashes are fine. Unique among the merchant's members.
    phone: Option<String>,
    /// `unknown`, `female`, `male`.
    gender: Option<String>,
    /// `YYYY-MM-DD`.
    birthday: Option<String>,
    #[serde(default)]
    anniversaries: Vec<AnniversaryBody>,
    occupation: Option<String>,
    id_number: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    notes: Option<String>,
    /// Values of the merchant's custom fields, by key.
    #[serde(default)]
    custom: BTreeMap<String, String>,
    /// A store id; a cashier's own store if they have one.
    pub(crate) home_store: Option<String>,
    /// The referring member's id.
    referrer: Option<String>,
    /// `store` (default), `online`, `referral`, `import`.
    channel: Option<String>,
    /// Whether the member agrees to marketing messages.
    marketing_consent: Option<bool>,
    /// Where consent was given; defaults to the channel.
    consent_source: Option<String>,
    /// A tier id (head office); the lowest tier otherwise.
    tier: Option<String>,
    /// A first card.
    card: Option<CardRequest>,
    /// At the till only (`POST /api/v1/till/members`): the POS's id for the opening. With money
    /// taken it is required, and a retry with it answers the member the first request made.
    pub(crate) order: Option<String>,
    /// At the till only: the card fee (工本费) in yuan, `"10.00"`.
    pub(crate) card_fee: Option<String>,
    /// At the till only: a first top-up in yuan, `"100.00"`, with the scheme's offer.
    pub(crate) top_up: Option<String>,
    /// At the till only: how the fee and the top-up were paid; cash if empty. They must add up.
    #[serde(default)]
    pub(crate) tenders: Vec<crate::till::TenderRequest>,
    /// At the till only: a manager's authorisation for a first top-up above the store's
    /// amount, as for `POST /api/v1/till/top-ups`.
    pub(crate) approval: Option<crate::till::ApprovalRequest>,
    /// At the till only: the staff member credited with the opening's commission (a staff
    /// id); the signed-in staff member if absent. Needs `order`.
    pub(crate) seller: Option<String>,
}

impl CreateMember {
    /// The first till-only field given, if any: the head office's `POST /members` takes none.
    fn till_field(&self) -> Option<&'static str> {
        [
            ("order", self.order.is_some()),
            ("card_fee", self.card_fee.is_some()),
            ("top_up", self.top_up.is_some()),
            ("tenders", !self.tenders.is_empty()),
            ("approval", self.approval.is_some()),
            ("seller", self.seller.is_some()),
        ]
        .into_iter()
        .find_map(|(field, given)| given.then_some(field))
    }
}

/// The profile fields of a create or update request, as the domain's entry.
macro_rules! profile_entry {
    ($request:ident, $anniversaries:expr, $tags:expr, $custom:expr) => {
        ProfileEntry {
            name: $request.name,
            phone: $request.phone,
            gender: $request.gender,
            birthday: $request.birthday,
            anniversaries: $anniversaries
                .into_iter()
                .map(|a: AnniversaryBody| (a.label, a.date))
                .collect(),
            occupation: $request.occupation,
            id_number: $request.id_number,
            tags: $tags,
            notes: $request.notes,
            custom: $custom,
        }
    };
}

/// 新建会员 / Create a member, with ledger accounts and optionally a first card.
#[utoipa::path(post, path = "/api/v1/members", operation_id = "create_member", tag = "members", security(("bearer" = [])),
    request_body = CreateMember,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses(
        (status = 201, body = MemberBody),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 409, description = "phone_taken, card_taken", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field, unknown_store, unknown_referrer, unknown_tier", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<CreateMember>,
) -> Result<(StatusCode, Json<MemberBody>), ApiError> {
    if let Some(field) = request.till_field() {
        return Err(ApiError::invalid_field(
            field,
            Text::new(
                "只在收银台开卡时使用（POST /api/v1/till/members）",
                "only when a card is opened at the till (POST /api/v1/till/members)",
            ),
        ));
    }
    let new = new_member(request)?;
    let created = state
        .members
        .create(&actor.staff, &new, UnixMillis::now())
        .await
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    tracing::info!(member = %created.member.id, phone = ?created.member.profile.phone, "member created");
    Ok((StatusCode::CREATED, Json(MemberBody::from(&created))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Exact, normalised: `138 0013 8000` finds `13800138000`.
    phone: Option<String>,
    /// Exact card number (any status).
    card: Option<String>,
    /// A fragment of the name.
    name: Option<String>,
    tag: Option<String>,
    /// Members whose home store this is.
    store: Option<String>,
    /// The previous page's `next`.
    after: Option<String>,
    /// 1 to 100; 20 by default.
    limit: Option<usize>,
}

/// A member to create, as the API takes one.
pub(crate) fn new_member(request: CreateMember) -> Result<NewMember, ApiError> {
    Ok(NewMember {
        home_store: optional_id("home_store", request.home_store.as_deref(), StoreId)?,
        referrer: optional_id("referrer", request.referrer.as_deref(), MemberId)?,
        tier: optional_id("tier", request.tier.as_deref(), TierId)?,
        channel: request.channel,
        marketing_consent: request.marketing_consent,
        consent_source: request.consent_source,
        card: request.card.map(CardRequest::into_new),
        profile: profile_entry!(request, request.anniversaries, request.tags, request.custom),
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberPageBody {
    members: Vec<MemberSummary>,
    /// Pass as `after` for the next page; absent at the end.
    next: Option<String>,
}

/// 查找会员 / Find members by phone, card, name fragment, tag or store; paged.
#[utoipa::path(get, path = "/api/v1/members", operation_id = "search_members", tag = "members", security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, body = MemberPageBody),
        (status = 403, description = "store outside your scope", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn search(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Query(params): Query<SearchParams>,
) -> Result<Json<MemberPageBody>, ApiError> {
    let invalid_id = |field: &str| {
        ApiError::invalid_field(
            field,
            Text::new("须为 32 位十六进制编号", "must be an id of 32 hex digits"),
        )
    };
    let store = match params.store.as_deref() {
        None | Some("") => None,
        Some(text) => Some(StoreId(parse_id(text).ok_or_else(|| invalid_id("store"))?)),
    };
    let after = match params.after.as_deref() {
        None | Some("") => None,
        Some(text) => Some(MemberId(parse_id(text).ok_or_else(|| invalid_id("after"))?)),
    };
    let limit = params.limit.unwrap_or(20);
    if !(1..=tongka_domain::PAGE_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            Text::new("须在 1 到 100 之间", "must be 1 to 100"),
        ));
    }
    let query = MemberQuery {
        phone: params.phone.filter(|p| !p.trim().is_empty()),
        card: params.card.filter(|c| !c.trim().is_empty()),
        name: params.name.filter(|n| !n.trim().is_empty()),
        tag: params.tag.filter(|t| !t.trim().is_empty()),
        store,
        after,
        limit,
    };
    let page = state
        .members
        .search(&actor.staff, &query)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(MemberPageBody {
        members: page.members.iter().map(MemberSummary::from).collect(),
        next: page.next.map(|n| n.to_string()),
    }))
}

/// 会员详情 / A member with balances and cards.
#[utoipa::path(get, path = "/api/v1/members/{id}", operation_id = "get_member", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits")),
    responses((status = 200, body = MemberBody), (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<MemberBody>, ApiError> {
    let id = member_id(&id)?;
    // With her last sale counted, even if its record is still being written.
    state.till.settled(id).await;
    let view = state
        .members
        .get(&actor.staff, id)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(MemberBody::from(&view)))
}

/// Fields to change; absent fields stay as they are, an empty string clears one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    name: Option<String>,
    phone: Option<String>,
    gender: Option<String>,
    birthday: Option<String>,
    anniversaries: Option<Vec<AnniversaryBody>>,
    occupation: Option<String>,
    id_number: Option<String>,
    tags: Option<Vec<String>>,
    notes: Option<String>,
    /// Keys to set; an empty value clears that field.
    custom: Option<BTreeMap<String, String>>,
    /// A store id, or `""` for none.
    home_store: Option<String>,
    marketing_consent: Option<bool>,
    consent_source: Option<String>,
}

/// 修改会员资料 / Change a member's profile, home store or marketing consent.
#[utoipa::path(patch, path = "/api/v1/members/{id}", operation_id = "update_member", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = UpdateMember,
    responses(
        (status = 200, body = MemberBody),
        (status = 403, body = crate::problem::ProblemDoc),
        (status = 404, body = crate::problem::ProblemDoc),
        (status = 409, description = "phone_taken, member_not_live", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn update(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateMember>,
) -> Result<Json<MemberBody>, ApiError> {
    let id = member_id(&id)?;
    let mut fields = Vec::new();
    macro_rules! present {
        ($($field:ident),*) => {$( if request.$field.is_some() { fields.push(stringify!($field).to_owned()); } )*};
    }
    present!(
        name,
        phone,
        gender,
        birthday,
        anniversaries,
        occupation,
        id_number,
        tags,
        notes,
        custom
    );
    let home_store = match request.home_store.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(text) => Some(optional_id("home_store", Some(text), StoreId)?),
    };
    let patch = MemberPatch {
        profile: profile_entry!(
            request,
            request.anniversaries.unwrap_or_default(),
            request.tags.unwrap_or_default(),
            request.custom.unwrap_or_default()
        ),
        fields,
        home_store,
        marketing_consent: request
            .marketing_consent
            .map(|m| (m, request.consent_source.unwrap_or_else(|| "store".into()))),
    };
    let view = state
        .members
        .update(&actor.staff, id, &patch, UnixMillis::now())
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(MemberBody::from(&view)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// `true` freezes (冻结), `false` unfreezes.
    frozen: bool,
}

/// 冻结 / 解冻 / Freeze or unfreeze a member (head office or a store manager).
#[utoipa::path(put, path = "/api/v1/members/{id}/frozen", operation_id = "set_member_frozen", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = FreezeRequest,
    responses((status = 200, body = MemberBody), (status = 403, body = crate::problem::ProblemDoc),
        (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn set_frozen(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<FreezeRequest>,
) -> Result<Json<MemberBody>, ApiError> {
    let view = state
        .members
        .set_frozen(&actor.staff, member_id(&id)?, request.frozen)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(MemberBody::from(&view)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRequest {
    tier: String,
}

/// 调整等级 / Put a member on a tier by hand (head office).
#[utoipa::path(put, path = "/api/v1/members/{id}/tier", operation_id = "set_member_tier", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = TierRequest,
    responses((status = 200, body = MemberBody), (status = 403, body = crate::problem::ProblemDoc),
        (status = 422, description = "unknown_tier", body = crate::problem::ProblemDoc)))]
pub(crate) async fn set_tier(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<TierRequest>,
) -> Result<Json<MemberBody>, ApiError> {
    let tier = optional_id("tier", Some(&request.tier), TierId)?
        .ok_or_else(|| refused(MemberError::UnknownTier))?;
    let id = member_id(&id)?;
    // After the tier her sales in flight decided, not before it.
    state.till.settled(id).await;
    let view = state
        .members
        .set_tier(&actor.staff, id, tier, UnixMillis::now())
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(MemberBody::from(&view)))
}

/// A move between tiers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TierChangeBody {
    at: String,
    /// The tier before; absent for the tier a member signed up with.
    from: Option<String>,
    to: String,
    /// `joined`, `imported`, `manual`, `scheme` (the loyalty scheme's `set-tier`), `bought`
    /// (with points at the till), `merged` (a member merged in held a better tier), or the
    /// threshold reached: `growth`, `total-spend`, `single-top-up`, `points`; `review` for the
    /// tier review at the end of the evaluation period.
    reason: String,
    /// Who set it by hand, or merged the members.
    staff: Option<String>,
    /// The till order that caused it.
    order: Option<String>,
}

impl From<&TierChange> for TierChangeBody {
    fn from(change: &TierChange) -> Self {
        let reason = match change.reason {
            TierReason::Joined => "joined",
            TierReason::Imported => "imported",
            TierReason::Manual => "manual",
            TierReason::Scheme => "scheme",
            TierReason::Growth => "growth",
            TierReason::TotalSpend => "total-spend",
            TierReason::SingleTopUp => "single-top-up",
            TierReason::Points => "points",
            TierReason::Bought => "bought",
            TierReason::Merged => "merged",
            TierReason::Review => "review",
        };
        TierChangeBody {
            at: crate::auth::rfc3339(change.at),
            from: change.from.map(|tier| tier.to_string()),
            to: change.to.to_string(),
            reason: reason.to_owned(),
            staff: change.staff.map(|staff| staff.to_string()),
            order: change.order.clone(),
        }
    }
}

/// 等级变动记录 / A member's moves between tiers, oldest first, each with its reason: the tier
/// they signed up with, a threshold reached (and the order that reached it), the loyalty
/// scheme's word, or head office's hand.
#[utoipa::path(get, path = "/api/v1/members/{id}/tier-history", operation_id = "tier_history", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits")),
    responses((status = 200, body = Vec<TierChangeBody>),
        (status = 404, description = "unknown_member", body = crate::problem::ProblemDoc)))]
pub(crate) async fn tier_history(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<Vec<TierChangeBody>>, ApiError> {
    let id = member_id(&id)?;
    state.till.settled(id).await;
    let changes = state
        .members
        .tier_history(&actor.staff, id)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(changes.iter().map(TierChangeBody::from).collect()))
}

/// Points due to expire (积分到期提醒): what the member will lose at the end of the year if they
/// do not use it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointsExpiringBody {
    /// Whole points, as a string: `"88"`; `"0"` when nothing expires.
    points: String,
    /// The last day they may be used (`2026-12-31`); null when points never expire
    /// (`till.points_expiry_years` = 0).
    last_day: Option<String>,
}

impl From<&tongka_domain::PointsExpiring> for PointsExpiringBody {
    fn from(expiring: &tongka_domain::PointsExpiring) -> Self {
        PointsExpiringBody {
            points: expiring.points.to_string(),
            last_day: Some(expiring.last_day.to_string()),
        }
    }
}

/// 积分到期提醒 / The member's points that expire at the end of this year, counted oldest first
/// as the year's expiry will count them: for the till and head office to tell the member ahead.
#[utoipa::path(get, path = "/api/v1/members/{id}/points-expiry", operation_id = "points_expiring", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits")),
    responses((status = 200, body = PointsExpiringBody),
        (status = 404, description = "unknown_member", body = crate::problem::ProblemDoc)))]
pub(crate) async fn points_expiring(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<PointsExpiringBody>, ApiError> {
    let expiring = state
        .till
        .points_expiring(&actor.staff, member_id(&id)?, UnixMillis::now())
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(match expiring {
        Some(expiring) => PointsExpiringBody::from(&expiring),
        None => PointsExpiringBody {
            points: "0".into(),
            last_day: None,
        },
    }))
}

/// 发卡 / Issue another card to a member.
#[utoipa::path(post, path = "/api/v1/members/{id}/cards", operation_id = "add_card", tag = "cards", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = CardRequest,
    responses((status = 201, body = MemberBody), (status = 409, description = "card_taken", body = crate::problem::ProblemDoc),
        (status = 422, body = crate::problem::ProblemDoc)))]
pub(crate) async fn add_card(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<CardRequest>,
) -> Result<(StatusCode, Json<MemberBody>), ApiError> {
    let view = state
        .members
        .add_card(
            &actor.staff,
            member_id(&id)?,
            &request.into_new(),
            UnixMillis::now(),
        )
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(MemberBody::from(&view))))
}

/// 挂失 / Report a card lost: it stops finding the member.
#[utoipa::path(post, path = "/api/v1/members/{id}/cards/{number}/lost", operation_id = "report_card_lost", tag = "cards", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"), ("number" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 200, body = MemberBody), (status = 404, body = crate::problem::ProblemDoc),
        (status = 409, description = "card_not_active", body = crate::problem::ProblemDoc)))]
pub(crate) async fn report_lost(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path((id, number)): Path<(String, String)>,
) -> Result<Json<MemberBody>, ApiError> {
    let view = state
        .members
        .report_lost(&actor.staff, member_id(&id)?, &number, UnixMillis::now())
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(MemberBody::from(&view)))
}

/// 补卡 / Replace a lost (or worn) card with a new one.
#[utoipa::path(post, path = "/api/v1/members/{id}/cards/{number}/reissue", operation_id = "reissue_card", tag = "cards", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"), ("number" = String, Path, description = "the card replaced"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = CardRequest,
    responses((status = 200, body = MemberBody), (status = 404, body = crate::problem::ProblemDoc),
        (status = 409, description = "card_taken, card_not_active", body = crate::problem::ProblemDoc)))]
pub(crate) async fn reissue(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path((id, number)): Path<(String, String)>,
    ApiJson(request): ApiJson<CardRequest>,
) -> Result<Json<MemberBody>, ApiError> {
    let view = state
        .members
        .reissue(
            &actor.staff,
            member_id(&id)?,
            &number,
            &request.into_new(),
            UnixMillis::now(),
        )
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(MemberBody::from(&view)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardLookupBody {
    card: CardBody,
    member: MemberBody,
}

/// 刷卡查会员 / The member a card belongs to: what the till does on a scan. A lost or replaced
/// card answers 409 `card_not_active`.
#[utoipa::path(get, path = "/api/v1/cards/{number}", operation_id = "find_card", tag = "cards", security(("bearer" = [])),
    params(("number" = String, Path)),
    responses((status = 200, body = CardLookupBody), (status = 404, description = "unknown_card", body = crate::problem::ProblemDoc),
        (status = 409, description = "card_not_active, member_not_live", body = crate::problem::ProblemDoc)))]
pub(crate) async fn find_card(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(number): Path<String>,
) -> Result<Json<CardLookupBody>, ApiError> {
    let (view, card) = state
        .members
        .find_by_card(&actor.staff, &number)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    if card.status != tongka_domain::CardStatus::Active {
        return Err(refused(MemberError::CardNotActive(card.status.as_str())));
    }
    if !view.member.status.is_live() {
        return Err(refused(MemberError::NotLive));
    }
    Ok(Json(CardLookupBody {
        card: CardBody::from(&card),
        member: MemberBody::from(&view),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The member merged away: their balances, cards and tags move to this one.
    from: String,
}

/// 合并会员 / Merge another member into this one (head office). Balances move through the
/// ledger; nothing is lost.
#[utoipa::path(post, path = "/api/v1/members/{id}/merge", operation_id = "merge_members", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "the member kept"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = MergeRequest,
    responses((status = 200, body = MemberBody), (status = 403, body = crate::problem::ProblemDoc),
        (status = 404, body = crate::problem::ProblemDoc),
        (status = 409, description = "holds_open, member_not_live, phone_taken", body = crate::problem::ProblemDoc)))]
pub(crate) async fn merge(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<MergeRequest>,
) -> Result<Json<MemberBody>, ApiError> {
    let from = parse_id(&request.from).map(MemberId).ok_or_else(|| {
        ApiError::invalid_field(
            "from",
            Text::new("须为 32 位十六进制编号", "must be an id of 32 hex digits"),
        )
    })?;
    let view = state
        .members
        .merge(&actor.staff, member_id(&id)?, from, UnixMillis::now())
        .await
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(MemberBody::from(&view)))
}

/// 注销个人信息 / Erase a member's personal data on their request (PIPL, head office). The money
/// history stays, anonymous.
#[utoipa::path(delete, path = "/api/v1/members/{id}/personal-data", operation_id = "erase_member", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 200, body = MemberBody), (status = 403, body = crate::problem::ProblemDoc),
        (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn erase(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<MemberBody>, ApiError> {
    let id = member_id(&id)?;
    let view = state
        .members
        .erase(&actor.staff, id, UnixMillis::now())
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    tracing::info!(member = %id, "personal data erased");
    Ok(Json(MemberBody::from(&view)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LedgerEntryBody {
    /// `points`, `principal`, `bonus`, `growth`.
    account: &'static str,
    transfer: String,
    /// `credit` (in) or `debit` (out) for the member.
    direction: &'static str,
    /// A decimal string in the account's unit (yuan for stored value).
    amount: String,
    code: u16,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberExportBody {
    member: MemberBody,
    /// The full resident ID number, if recorded.
    id_number: Option<String>,
    /// Every card number in full.
    card_numbers: Vec<String>,
    service_records: Vec<ServiceRecordBody>,
    ledger: Vec<LedgerEntryBody>,
}

/// 导出会员数据 / Everything the box holds about a member, for their access request (PIPL, head
/// office).
#[utoipa::path(get, path = "/api/v1/members/{id}/export", operation_id = "export_member", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits")),
    responses((status = 200, body = MemberExportBody), (status = 403, body = crate::problem::ProblemDoc),
        (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<MemberExportBody>, ApiError> {
    let id = member_id(&id)?;
    let export = state
        .members
        .export(&actor.staff, id)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    let ledger = export
        .transfers
        .iter()
        .map(|(account, transfer)| {
            let own = account.id(id);
            LedgerEntryBody {
                account: match account {
                    MemberAccount::Points => "points",
                    MemberAccount::Principal => "principal",
                    MemberAccount::Bonus => "bonus",
                    MemberAccount::Growth => "growth",
                },
                transfer: format!("{:032x}", transfer.id.0),
                direction: if transfer.credit == own {
                    "credit"
                } else {
                    "debit"
                },
                amount: accounts::display(account.asset(), transfer.amount),
                code: transfer.code,
            }
        })
        .collect();
    let member = &export.view.member;
    Ok(Json(MemberExportBody {
        id_number: member
            .profile
            .id_number
            .as_ref()
            .map(|i| i.as_str().to_owned()),
        card_numbers: member.cards.iter().map(|c| c.number.clone()).collect(),
        member: MemberBody::from(&export.view),
        service_records: export
            .service_records
            .iter()
            .map(ServiceRecordBody::from)
            .collect(),
        ledger,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceRecordBody {
    member: String,
    number: u64,
    at: String,
    by: Option<String>,
    store: Option<String>,
    note: String,
    follow_up_on: Option<String>,
    done_at: Option<String>,
}

impl From<&ServiceRecord> for ServiceRecordBody {
    fn from(r: &ServiceRecord) -> ServiceRecordBody {
        ServiceRecordBody {
            member: r.member.to_string(),
            number: r.number,
            at: rfc3339(r.at),
            by: r.by.map(|s| s.to_string()),
            store: r.store.map(|s| s.to_string()),
            note: r.note.clone(),
            follow_up_on: r.follow_up_on.map(|d| d.to_string()),
            done_at: r.done_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceRecord {
    /// What was done, up to 500 characters.
    note: String,
    /// When to call back, `YYYY-MM-DD`.
    follow_up_on: Option<String>,
}

/// 新建服务记录 / Record a service, with an optional follow-up day (回访).
#[utoipa::path(post, path = "/api/v1/members/{id}/service-records", operation_id = "add_service_record", tag = "service", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = CreateServiceRecord,
    responses((status = 201, body = ServiceRecordBody), (status = 404, body = crate::problem::ProblemDoc),
        (status = 422, body = crate::problem::ProblemDoc)))]
pub(crate) async fn add_service_record(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<CreateServiceRecord>,
) -> Result<(StatusCode, Json<ServiceRecordBody>), ApiError> {
    let record = state
        .members
        .add_service_record(
            &actor.staff,
            member_id(&id)?,
            &request.note,
            request.follow_up_on.as_deref(),
            UnixMillis::now(),
        )
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(ServiceRecordBody::from(&record))))
}

/// 服务记录 / A member's service records, oldest first.
#[utoipa::path(get, path = "/api/v1/members/{id}/service-records", operation_id = "list_service_records", tag = "service", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits")),
    responses((status = 200, body = Vec<ServiceRecordBody>), (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn service_records(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<Vec<ServiceRecordBody>>, ApiError> {
    let records = state
        .members
        .service_records(&actor.staff, member_id(&id)?)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(records.iter().map(ServiceRecordBody::from).collect()))
}

/// 完成回访 / Mark a follow-up done.
#[utoipa::path(post, path = "/api/v1/members/{id}/service-records/{number}/done", operation_id = "complete_follow_up", tag = "service", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"), ("number" = u64, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 200, body = ServiceRecordBody), (status = 404, body = crate::problem::ProblemDoc)))]
pub(crate) async fn complete_follow_up(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path((id, number)): Path<(String, String)>,
) -> Result<Json<ServiceRecordBody>, ApiError> {
    let number: u64 = number
        .parse()
        .map_err(|_| refused(MemberError::UnknownRecord))?;
    let record = state
        .members
        .complete_follow_up(&actor.staff, member_id(&id)?, number, UnixMillis::now())
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(ServiceRecordBody::from(&record)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FollowUpParams {
    /// Due on or before this day, `YYYY-MM-DD`; today (China time) by default.
    due_by: Option<String>,
    /// 1 to 100; 50 by default.
    limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FollowUpBody {
    record: ServiceRecordBody,
    member: MemberSummary,
}

/// 待回访 / Follow-ups due, oldest first, for the stores in the caller's scope.
#[utoipa::path(get, path = "/api/v1/follow-ups", operation_id = "list_follow_ups", tag = "service", security(("bearer" = [])),
    params(FollowUpParams),
    responses((status = 200, body = Vec<FollowUpBody>), (status = 422, body = crate::problem::ProblemDoc)))]
pub(crate) async fn follow_ups(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Query(params): Query<FollowUpParams>,
) -> Result<Json<Vec<FollowUpBody>>, ApiError> {
    let due_by = match params.due_by.as_deref() {
        None => Date::at(
            UnixMillis::now(),
            tongka_domain::MERCHANT_UTC_OFFSET_MINUTES,
        ),
        Some(text) => Date::parse(text)
            .ok_or_else(|| field_error(&FieldError::new("due_by", Invalid::Date)))?,
    };
    let list = state
        .members
        .follow_ups_due(&actor.staff, due_by, params.limit.unwrap_or(50))
        .map_err(|e| internal(&e))?;
    Ok(Json(
        list.iter()
            .map(|(record, member)| FollowUpBody {
                record: ServiceRecordBody::from(record),
                member: MemberSummary::from(member),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsBody {
    /// 成长值 reaching this.
    growth: Option<String>,
    /// Cumulative spend reaching this, in yuan.
    total_spend: Option<String>,
    /// One top-up of at least this, in yuan (储值升级).
    single_top_up: Option<String>,
    /// Points reaching this (积分升级).
    points: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRequestBody {
    /// e.g. `金卡`, 1 to 16 characters.
    name: String,
    /// Position on the ladder, lowest first; new members start on the lowest.
    rank: u16,
    /// The price paid, as a fraction: `"0.95"` is 95折.
    discount_rate: String,
    /// Points per yuan spent: `"1"`, `"1.5"`.
    points_rate: String,
    #[serde(default)]
    thresholds: ThresholdsBody,
    /// Points a member may spend at the till to move up to this tier (积分升级): `"5000"`.
    #[serde(default)]
    upgrade_points: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TierBody {
    id: String,
    name: String,
    rank: u16,
    discount_rate: String,
    points_rate: String,
    thresholds: ThresholdsBody,
    /// Points to move up to this tier at the till; absent: not for sale.
    upgrade_points: Option<String>,
}

impl From<&Tier> for TierBody {
    fn from(t: &Tier) -> TierBody {
        let yuan = |fen: u64| money(u128::from(fen)).amount;
        TierBody {
            id: t.id.to_string(),
            name: t.name.clone(),
            rank: t.rank,
            discount_rate: t.discount_rate.to_string(),
            points_rate: t.points_rate.to_string(),
            thresholds: ThresholdsBody {
                growth: t.thresholds.growth.map(|g| g.to_string()),
                total_spend: t.thresholds.total_spend_fen.map(yuan),
                single_top_up: t.thresholds.single_top_up_fen.map(yuan),
                points: t.thresholds.points.map(|p| p.to_string()),
            },
            upgrade_points: t.upgrade_points.map(|p| p.to_string()),
        }
    }
}

fn tier_entry(request: TierRequestBody) -> Result<NewTier, ApiError> {
    let decimal = |field: &str, text: &str, scale: u32| {
        text.trim()
            .parse::<Decimal>()
            .map_err(|_| field_error(&FieldError::new(field, Invalid::Number { scale })))
    };
    let whole = |field: &str, text: Option<String>| -> Result<Option<u64>, ApiError> {
        text.map(|t| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| field_error(&FieldError::new(field, Invalid::Number { scale: 0 })))
        })
        .transpose()
    };
    let fen = |field: &str, text: Option<String>| -> Result<Option<u64>, ApiError> {
        text.map(|t| {
            t.trim()
                .parse::<Decimal>()
                .ok()
                .and_then(|d| accounts::minor_units(accounts::CNY, d))
                .and_then(|fen| u64::try_from(fen).ok())
                .ok_or_else(|| field_error(&FieldError::new(field, Invalid::Number { scale: 2 })))
        })
        .transpose()
    };
    let t = request.thresholds;
    Ok(NewTier {
        discount_rate: decimal("discount_rate", &request.discount_rate, 4)?,
        points_rate: decimal("points_rate", &request.points_rate, 4)?,
        name: request.name,
        rank: request.rank,
        thresholds: Thresholds {
            growth: whole("thresholds.growth", t.growth)?,
            total_spend_fen: fen("thresholds.total_spend", t.total_spend)?,
            single_top_up_fen: fen("thresholds.single_top_up", t.single_top_up)?,
            points: whole("thresholds.points", t.points)?,
        },
        upgrade_points: whole("upgrade_points", request.upgrade_points)?,
    })
}

/// 会员等级 / The merchant's tiers, lowest first.
#[utoipa::path(get, path = "/api/v1/tiers", operation_id = "list_tiers", tag = "tiers", security(("bearer" = [])),
    responses((status = 200, body = Vec<TierBody>)))]
pub(crate) async fn list_tiers(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<Vec<TierBody>>, ApiError> {
    let tiers = state
        .members
        .tiers(actor.staff.merchant)
        .map_err(|e| internal(&e))?;
    Ok(Json(tiers.iter().map(TierBody::from).collect()))
}

/// 新建等级 / Create a tier (head office).
#[utoipa::path(post, path = "/api/v1/tiers", operation_id = "create_tier", tag = "tiers", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = TierRequestBody,
    responses((status = 201, body = TierBody), (status = 403, body = crate::problem::ProblemDoc),
        (status = 409, description = "tier_taken", body = crate::problem::ProblemDoc),
        (status = 422, body = crate::problem::ProblemDoc)))]
pub(crate) async fn create_tier(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<TierRequestBody>,
) -> Result<(StatusCode, Json<TierBody>), ApiError> {
    let tier = state
        .members
        .put_tier(&actor.staff, None, &tier_entry(request)?)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(TierBody::from(&tier))))
}

/// 修改等级 / Replace a tier's settings (head office).
#[utoipa::path(put, path = "/api/v1/tiers/{id}", operation_id = "put_tier", tag = "tiers", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits"),
        ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = TierRequestBody,
    responses((status = 200, body = TierBody), (status = 403, body = crate::problem::ProblemDoc),
        (status = 409, description = "tier_taken", body = crate::problem::ProblemDoc),
        (status = 422, description = "unknown_tier, invalid_field", body = crate::problem::ProblemDoc)))]
pub(crate) async fn put_tier(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<TierRequestBody>,
) -> Result<Json<TierBody>, ApiError> {
    let id = parse_id(&id)
        .map(TierId)
        .ok_or_else(|| refused(MemberError::UnknownTier))?;
    let tier = state
        .members
        .put_tier(&actor.staff, Some(id), &tier_entry(request)?)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(TierBody::from(&tier)))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldBody {
    /// 1 to 32 of a-z, 0-9, `_`.
    key: String,
    label: String,
    /// `text`, `number`, `date`, `choice`.
    kind: String,
    /// For `choice`: the values allowed.
    #[serde(default)]
    options: Vec<String>,
    #[serde(default)]
    required: bool,
}

impl From<&CustomField> for CustomFieldBody {
    fn from(f: &CustomField) -> CustomFieldBody {
        CustomFieldBody {
            key: f.key.clone(),
            label: f.label.clone(),
            kind: f.kind.as_str().to_owned(),
            options: f.options.clone(),
            required: f.required,
        }
    }
}

/// 自定义字段 / The member fields the merchant defined.
#[utoipa::path(get, path = "/api/v1/custom-fields", operation_id = "list_custom_fields", tag = "members", security(("bearer" = [])),
    responses((status = 200, body = Vec<CustomFieldBody>)))]
pub(crate) async fn list_custom_fields(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<Vec<CustomFieldBody>>, ApiError> {
    let fields = state
        .members
        .custom_fields(actor.staff.merchant)
        .map_err(|e| internal(&e))?;
    Ok(Json(fields.iter().map(CustomFieldBody::from).collect()))
}

/// 定义自定义字段 / Define or redefine a member field (head office).
#[utoipa::path(post, path = "/api/v1/custom-fields", operation_id = "define_custom_field", tag = "members", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body = CustomFieldBody,
    responses((status = 200, body = CustomFieldBody), (status = 403, body = crate::problem::ProblemDoc),
        (status = 422, body = crate::problem::ProblemDoc)))]
pub(crate) async fn define_custom_field(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<CustomFieldBody>,
) -> Result<Json<CustomFieldBody>, ApiError> {
    let kind = CustomFieldKind::parse(request.kind.trim())
        .ok_or_else(|| field_error(&FieldError::new("kind", CustomFieldKind::choices())))?;
    let field = CustomField {
        key: request.key,
        label: request.label,
        kind,
        options: request.options,
        required: request.required,
    };
    let field = state
        .members
        .define_custom_field(&actor.staff, &field)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(CustomFieldBody::from(&field)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// `true`: check and report, write nothing.
    #[serde(default)]
    #[param(required = false)]
    dry_run: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowErrorBody {
    /// The line in the file; the header is line 1.
    line: usize,
    field: Option<String>,
    /// `invalid_field`, `malformed_row`, `taken`, `unknown_store`.
    code: &'static str,
    /// Why, in the caller's language.
    detail: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReportBody {
    /// The file's SHA-256: importing the same file again adds nothing twice.
    import_id: String,
    rows: usize,
    /// Whether members and balances were written.
    applied: bool,
    /// Members written by this run.
    created: usize,
    errors: Vec<RowErrorBody>,
}

fn report_body(report: &ImportReport, lang: crate::Lang) -> ImportReportBody {
    let errors = report
        .errors
        .iter()
        .map(|e| {
            let (field, code, detail) = match &e.error {
                RowProblem::Field(error) => {
                    let problem = field_error(error);
                    (
                        Some(error.field.clone()),
                        "invalid_field",
                        problem.detail(lang).unwrap_or_default().to_owned(),
                    )
                }
                RowProblem::Malformed(why) => (None, "malformed_row", why.clone()),
                RowProblem::Taken(what) => (
                    Some(what.split(',').next().unwrap_or_default().to_owned()),
                    "taken",
                    Text::new(
                        format!("已被其他会员使用：{what}"),
                        format!("already another member's: {what}"),
                    )
                    .get(lang)
                    .to_owned(),
                ),
                RowProblem::UnknownStore(code) => (
                    Some("home_store".to_owned()),
                    "unknown_store",
                    Text::new(
                        format!("没有编码为 {code} 的门店"),
                        format!("no store with code {code}"),
                    )
                    .get(lang)
                    .to_owned(),
                ),
            };
            RowErrorBody {
                line: e.line,
                field,
                code,
                detail,
            }
        })
        .collect();
    ImportReportBody {
        import_id: report.import_id.clone(),
        rows: report.rows,
        applied: report.applied,
        created: report.created,
        errors,
    }
}

/// 导入会员 / Import members and opening balances from CSV (head office). Columns: `name`,
/// `phone`, `gender`, `birthday`, `id_number`, `card_number`, `card_kind`, `home_store` (store
/// code), `tags` (`;`-separated), `joined_on`, `marketing_consent`, `notes`, `points`,
/// `stored_value`, `bonus`, `growth` — or their Chinese headers (姓名, 手机, …). With
/// `dry_run=true` nothing is written; otherwise a file with any bad row is refused whole (422,
/// the report in the body) and a good one is imported. The same file twice adds nothing twice.
#[utoipa::path(post, path = "/api/v1/members/import", operation_id = "import_members", tag = "members", security(("bearer" = [])),
    params(ImportParams, ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReportBody),
        (status = 403, body = crate::problem::ProblemDoc),
        (status = 413, body = crate::problem::ProblemDoc),
        (status = 422, description = "import_rejected (with the report), invalid_csv", body = ImportReportBody)))]
pub(crate) async fn import(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Query(params): Query<ImportParams>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(crate::json::body_refused)?;
    if !crate::json::has_content_type(&headers, "text/csv") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Text::new(
                "请求体须为 CSV（Content-Type: text/csv）",
                "The body must be CSV (Content-Type: text/csv)",
            ),
        ));
    }
    let lang = crate::Lang::negotiate(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let report = state
        .members
        .import_csv(&actor.staff, &body, params.dry_run, UnixMillis::now())
        .await
        .map_err(|e| internal(&e))?;
    let report = match report {
        Ok(report) => report,
        Err(ImportError::Forbidden) => return Err(ApiError::forbidden()),
        Err(error) => {
            let detail = error.to_string();
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_csv",
                Text::new("CSV 文件的表头不正确", "The CSV file's header is not right"),
            )
            .with_detail(Text::new(detail.clone(), detail)));
        }
    };
    tracing::info!(
        rows = report.rows,
        errors = report.errors.len(),
        applied = report.applied,
        created = report.created,
        "member import"
    );
    if params.dry_run || report.applied {
        return Ok(Json(report_body(&report, lang)).into_response());
    }
    // Refused: a problem (RFC 9457) whose extension members are the report.
    let title = Text::new(
        "导入文件有错误的行，未导入任何数据",
        "The file has bad rows; nothing was imported",
    );
    let mut body = serde_json::to_value(report_body(&report, lang)).map_err(|e| internal(&e))?;
    if let Some(object) = body.as_object_mut() {
        object.insert("type".into(), "urn:tongka:problem:import_rejected".into());
        object.insert("title".into(), title.get(lang).into());
        object.insert("status".into(), 422.into());
        object.insert("code".into(), "import_rejected".into());
    }
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        [
            (header::CONTENT_TYPE, "application/problem+json"),
            (header::CONTENT_LANGUAGE, lang.tag()),
        ],
        Json(body),
    )
        .into_response())
}

/// 导出会员 / Every member the caller may browse, as CSV in the import's columns.
#[utoipa::path(get, path = "/api/v1/members/export.csv", operation_id = "export_members_csv", tag = "members", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 403, body = crate::problem::ProblemDoc)))]
pub(crate) async fn export_csv(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Response, ApiError> {
    if !matches!(
        actor.staff.role,
        tongka_domain::Role::HqAdmin | tongka_domain::Role::StoreManager
    ) {
        return Err(ApiError::forbidden());
    }
    let csv = state
        .members
        .export_csv(&actor.staff)
        .map_err(|e| internal(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"members.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
