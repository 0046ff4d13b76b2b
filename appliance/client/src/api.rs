// @generated from docs/openapi.json by `cargo xtask codegen` (appliance/client/tests/codegen.rs): do not edit.

//! Every operation of the API as a typed method on [`Client`](crate::Client), and every
//! schema as a type in [`types`].

#![allow(clippy::all, missing_debug_implementations)]

use crate::{Client, ClientError, Method};
use types::*;

/// The API's schemas: what the box takes and answers.
pub mod types {
    ///`AnniversaryBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct AnniversaryBody {
        ///`YYYY-MM-DD`.
        pub date: ::std::string::String,
        ///e.g. `结婚纪念日`.
        pub label: ::std::string::String,
    }
    ///`ApprovalRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct ApprovalRequest {
        pub password: ::std::string::String,
        pub username: ::std::string::String,
    }
    ///`AuditEntryBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct AuditEntryBody {
        pub action: ::std::string::String,
        ///Staff id, if signed in.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub actor: ::std::option::Option<::std::string::String>,
        pub at: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub remote: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub session: ::std::option::Option<::std::string::String>,
        pub status: i32,
    }
    ///`AuditPage`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct AuditPage {
        pub entries: ::std::vec::Vec<AuditEntryBody>,
        ///Pass as `before` for the next (older) page; absent on the last.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub next: ::std::option::Option<::std::string::String>,
    }
    ///`BalancesBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct BalancesBody {
        ///成长值, as a decimal string.
        pub growth: ::std::string::String,
        ///Whole points, as a decimal string.
        pub points: ::std::string::String,
        /**Points owed (积分欠账): taken back by a refund after they were spent; the member's next
        earnings repay them first. `"0"` for nearly everyone.*/
        pub points_owed: ::std::string::String,
        pub stored_value: StoredValueBody,
    }
    ///赠送按月返还.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct BonusPayoutBody {
        ///Plans that ended: paid in full, or the member erased.
        pub finished: i64,
        pub paid: Money,
        pub parts: i64,
        ///Plans that had a part due.
        pub plans: i64,
    }
    ///`BonusPlanBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct BonusPlanBody {
        pub months: i32,
        ///`YYYY-MM-DD` the next part falls due; none once paid in full or stopped.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub next_on: ::std::option::Option<::std::string::String>,
        ///Paid so far, the first part (with the top-up) included.
        pub paid: Money,
        pub paid_parts: i32,
        ///The member was erased before the end: the rest is not paid.
        pub stopped: bool,
        ///The whole bonus.
        pub total: Money,
    }
    ///`CardBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct CardBody {
        pub history: ::std::vec::Vec<CardEventBody>,
        pub issued_at: ::std::string::String,
        ///`barcode`, `magstripe`, `ic`, `qr`, `id_card`.
        pub kind: ::std::string::String,
        ///An ID card's number is masked.
        pub number: ::std::string::String,
        ///`active`, `lost`, `replaced`.
        pub status: ::std::string::String,
    }
    ///`CardEventBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct CardEventBody {
        pub at: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub by: ::std::option::Option<::std::string::String>,
        ///`issued`, `lost`, `replaced`, `moved`.
        pub event: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub note: ::std::option::Option<::std::string::String>,
    }
    ///`CardLookupBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct CardLookupBody {
        pub card: CardBody,
        pub member: MemberBody,
    }
    ///`CardRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CardRequest {
        ///`barcode`, `magstripe`, `ic`, `qr` or `id_card` (the number is then an ID number).
        pub kind: ::std::string::String,
        pub number: ::std::string::String,
    }
    ///`ChangePlugin`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct ChangePlugin {
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub config:
            ::std::option::Option<::serde_json::Map<::std::string::String, ::serde_json::Value>>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub enabled: ::std::option::Option<bool>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub grant: ::std::option::Option<::std::vec::Vec<::std::string::String>>,
    }
    ///`CheckoutRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CheckoutRequest {
        ///A card number scanned at the till.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub card: ::std::option::Option<::std::string::String>,
        pub lines: ::std::vec::Vec<LineRequest>,
        ///The member's id, or else `card`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub member: ::std::option::Option<::std::string::String>,
        /**The POS's own order id (receipt number): 1 to 64 of `A-Z a-z 0-9 - _ .`. The same id
        again is the same order.*/
        pub order: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub payment: ::std::option::Option<PaymentRequest>,
        ///The quote's `quote_token` (commit only).
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub quote_token: ::std::option::Option<::std::string::String>,
        ///For staff: the store they serve at. A terminal serves its own.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub store: ::std::option::Option<::std::string::String>,
    }
    ///`CommissionReportBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct CommissionReportBody {
        pub from: ::std::string::String,
        pub stores: ::std::vec::Vec<StoreCommissionBody>,
        pub to: ::std::string::String,
        pub total: EarnedBody,
        pub zone: ::std::string::String,
    }
    ///The query of `commission_report`.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CommissionReportQuery {
        ///The first day, `YYYY-MM-DD` (China time).
        pub from: ::std::string::String,
        ///The last day, included; at most 366 days after `from`.
        pub to: ::std::string::String,
    }
    /**One rule: on an event, for members of a tier and staff of a role (either may be left out
    to match any), a fixed amount or a rate. The most specific rule that matches applies: one
    naming the tier before one that does not, then one naming the role.*/
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CommissionRuleBody {
        ///固定额: yuan per event, `"5.00"`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub fixed: ::std::option::Option<::std::string::String>,
        /**`card-opening` (开卡, on the card fee), `top-up` (充值, on the amount paid in) or `sale`
        (消费, on what the member pays after discounts).*/
        pub on: ::std::string::String,
        ///按比例: percent of the amount, at most 2 places, at most `"100"`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub rate: ::std::option::Option<::std::string::String>,
        ///`cashier`, `store_manager` or `hq_admin`: only for staff of that role (员工级别).
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub role: ::std::option::Option<::std::string::String>,
        ///A tier id: only for members on that tier.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub tier: ::std::option::Option<::std::string::String>,
    }
    ///`CommissionRulesBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CommissionRulesBody {
        /**At most 200; no two with the same `on`, `tier` and `role`. An empty list stops
        commission.*/
        pub rules: ::std::vec::Vec<CommissionRuleBody>,
    }
    ///`ConsentBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct ConsentBody {
        pub at: ::std::string::String,
        pub marketing: bool,
        pub source: ::std::string::String,
    }
    ///`ConversionBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct ConversionBody {
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub card: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub member: ::std::option::Option<::std::string::String>,
        pub order: ::std::string::String,
        ///Whole points, `"500"`.
        pub points: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub store: ::std::option::Option<::std::string::String>,
    }
    ///`CreateMember`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct CreateMember {
        #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
        pub anniversaries: ::std::vec::Vec<AnniversaryBody>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub approval: ::std::option::Option<ApprovalRequest>,
        ///`YYYY-MM-DD`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub birthday: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub card: ::std::option::Option<CardRequest>,
        ///At the till only: the card fee (工本费) in yuan, `"10.00"`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub card_fee: ::std::option::Option<::std::string::String>,
        ///`store` (default), `online`, `referral`, `import`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub channel: ::std::option::Option<::std::string::String>,
        ///Where consent was given; defaults to the channel.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub consent_source: ::std::option::Option<::std::string::String>,
        ///Values of the merchant's custom fields, by key.
        #[serde(
            default,
            skip_serializing_if = ":: std :: collections :: HashMap::is_empty"
        )]
        pub custom: ::std::collections::HashMap<::std::string::String, ::std::string::String>,
        ///`unknown`, `female`, `male`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub gender: ::std::option::Option<::std::string::String>,
        ///A store id; a cashier's own store if they have one.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub home_store: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub id_number: ::std::option::Option<::std::string::String>,
        ///Whether the member agrees to marketing messages.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub marketing_consent: ::std::option::Option<bool>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub name: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub notes: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub occupation: ::std::option::Option<::std::string::String>,
        /**At the till only (`POST /api/v1/till/members`): the POS's id for the opening. With money
        taken it is required, and a retry with it answers the member the first request made.*/
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub order: ::std::option::Option<::std::string::String>,
        ///A mobile number; `+86`, spaces and dashes are fine. Unique among the merchant's members.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub phone: ::std::option::Option<::std::string::String>,
        ///The referring member's id.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub referrer: ::std::option::Option<::std::string::String>,
        /**At the till only: the staff member credited with the opening's commission (a staff
        id); the signed-in staff member if absent. Needs `order`.*/
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub seller: ::std::option::Option<::std::string::String>,
        #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
        pub tags: ::std::vec::Vec<::std::string::String>,
        ///At the till only: how the fee and the top-up were paid; cash if empty. They must add up.
        #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
        pub tenders: ::std::vec::Vec<TenderRequest>,
        ///A tier id (head office); the lowest tier otherwise.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub tier: ::std::option::Option<::std::string::String>,
        ///At the till only: a first top-up in yuan, `"100.00"`, with the scheme's offer.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub top_up: ::std::option::Option<::std::string::String>,
    }
    ///`CreateServiceRecord`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CreateServiceRecord {
        ///When to call back, `YYYY-MM-DD`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub follow_up_on: ::std::option::Option<::std::string::String>,
        ///What was done, up to 500 characters.
        pub note: ::std::string::String,
    }
    ///`CreateStaff`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CreateStaff {
        ///The head-office department (id) they belong to.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub department: ::std::option::Option<::std::string::String>,
        pub display_name: ::std::string::String,
        pub password: ::std::string::String,
        ///`hq_admin`, `department`, `store_manager` or `cashier`.
        pub role: ::std::string::String,
        ///`"all"`, or store ids.
        pub stores: StoresRequest,
        pub username: ::std::string::String,
    }
    ///`CreateStore`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CreateStore {
        pub code: ::std::string::String,
        ///`direct` (直营) or `franchise` (加盟).
        pub kind: ::std::string::String,
        pub name: ::std::string::String,
        ///`YYYY-MM-DD`.
        pub opened_on: ::std::string::String,
        ///An IANA zone such as `Asia/Shanghai`.
        pub time_zone: ::std::string::String,
    }
    ///`CreateTerminal`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CreateTerminal {
        ///1 to 32 characters, e.g. `收银台 1`.
        pub name: ::std::string::String,
        ///The store it serves: 32 hex digits.
        pub store: ::std::string::String,
    }
    ///`CustomFieldBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct CustomFieldBody {
        ///1 to 32 of a-z, 0-9, `_`.
        pub key: ::std::string::String,
        ///`text`, `number`, `date`, `choice`.
        pub kind: ::std::string::String,
        pub label: ::std::string::String,
        ///For `choice`: the values allowed.
        #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
        pub options: ::std::vec::Vec<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub required: ::std::option::Option<bool>,
    }
    ///`DailyRunBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct DailyRunBody {
        pub bonus_payout: BonusPayoutBody,
        pub daily_tick: DailyTickBody,
        pub points_expiry: PointsExpiryBody,
        pub tier_review: TierReviewBody,
    }
    ///每日结算: the loyalty scheme asked about each member.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct DailyTickBody {
        pub asked: i64,
        ///Members whose answer changed something (an order `tick-YYYYMMDD-{member}` each).
        pub changed: i64,
        ///False when no plugin is routed to `daily-tick`.
        pub enabled: bool,
        ///Members the scheme failed for: asked again on the next run.
        pub failed: i64,
        ///The first failures, `member: why`.
        pub failures: ::std::vec::Vec<::std::string::String>,
    }
    ///`DepartmentBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct DepartmentBody {
        pub created_at: ::std::string::String,
        pub id: ::std::string::String,
        pub name: ::std::string::String,
    }
    ///`DiscountBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct DiscountBody {
        pub amount: Money,
        ///The line, or null for the whole order.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub line: ::std::option::Option<i32>,
        pub reason: ::std::string::String,
    }
    /**What a staff member (or a store, or the chain) earned over the period; signed, since a
    refund can take back commission earned before the period.*/
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct EarnedBody {
        pub card_openings: Money,
        ///Commission credits: a sale or a top-up is one, a card opened with a first top-up two.
        pub count: i64,
        ///Earned less taken back.
        pub net: Money,
        ///Taken back by refunds.
        pub reversed: Money,
        pub sales: Money,
        pub top_ups: Money,
    }
    ///The query of `find_member`.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct FindMemberQuery {
        ///A card number as scanned.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub card: ::std::option::Option<::std::string::String>,
        ///A mobile number as typed.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub phone: ::std::option::Option<::std::string::String>,
    }
    ///`FollowUpBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct FollowUpBody {
        pub member: MemberSummary,
        pub record: ServiceRecordBody,
    }
    ///`FreezeRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct FreezeRequest {
        ///`true` freezes (冻结), `false` unfreezes.
        pub frozen: bool,
    }
    ///`GiftBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct GiftBody {
        ///Offered at the till.
        pub active: bool,
        pub created_at: ::std::string::String,
        pub id: ::std::string::String,
        pub name: ::std::string::String,
        ///Points for one.
        pub points: ::std::string::String,
        pub stock: i64,
    }
    ///A gift to add (`name` and `points` required), or what to change.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct GiftRequest {
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub active: ::std::option::Option<bool>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub name: ::std::option::Option<::std::string::String>,
        ///Whole points for one, `"500"`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub points: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub stock: ::std::option::Option<i64>,
    }
    ///`Health`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct Health {
        pub status: ::std::string::String,
        ///`ok`, or `full` while the data folder's disk is under its reserve and writes are refused.
        pub storage: ::std::string::String,
        pub version: ::std::string::String,
    }
    ///The query of `import_members`.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct ImportMembersQuery {
        ///`true`: check and report, write nothing.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub dry_run: ::std::option::Option<bool>,
    }
    ///`ImportReportBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct ImportReportBody {
        ///Whether members and balances were written.
        pub applied: bool,
        ///Members written by this run.
        pub created: u64,
        pub errors: ::std::vec::Vec<RowErrorBody>,
        ///The file's SHA-256: importing the same file again adds nothing twice.
        pub import_id: ::std::string::String,
        pub rows: u64,
    }
    ///`InstallPlugin`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct InstallPlugin {
        ///The packed component (`tongka-plugin pack`), base64.
        pub component: ::std::string::String,
        ///The plugin's settings, checked against its manifest's schema.
        #[serde(default, skip_serializing_if = "::serde_json::Map::is_empty")]
        pub config: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
        ///Capabilities granted: `kv`, `outbound-http`; only ones the manifest declares.
        #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
        pub grant: ::std::vec::Vec<::std::string::String>,
    }
    ///`LedgerEntryBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct LedgerEntryBody {
        ///`points`, `principal`, `bonus`, `growth`.
        pub account: ::std::string::String,
        ///A decimal string in the account's unit (yuan for stored value).
        pub amount: ::std::string::String,
        pub code: i32,
        ///`credit` (in) or `debit` (out) for the member.
        pub direction: ::std::string::String,
        pub transfer: ::std::string::String,
    }
    ///`LimitsBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct LimitsBody {
        pub deadline_ms: i64,
        pub fuel: i64,
        pub memory_bytes: i64,
    }
    ///`LineRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct LineRequest {
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub category: ::std::option::Option<::std::string::String>,
        ///The line's number within the order, unique.
        pub line: i32,
        ///Takes no member discount.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub no_discount: ::std::option::Option<bool>,
        ///Earns no points (tobacco, gift cards).
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub no_points: ::std::option::Option<bool>,
        ///On promotion already.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub promotional: ::std::option::Option<bool>,
        ///Units, at most 3 decimal places (`"1.5"` kg).
        pub quantity: ::std::string::String,
        pub sku: ::std::string::String,
        ///Price of one unit in yuan, e.g. `"12.50"`.
        pub unit_price: ::std::string::String,
    }
    ///The query of `list_follow_ups`.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct ListFollowUpsQuery {
        ///Due on or before this day, `YYYY-MM-DD`; today (China time) by default.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub due_by: ::std::option::Option<::std::string::String>,
        ///1 to 100; 50 by default.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub limit: ::std::option::Option<u64>,
    }
    ///`LoginRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct LoginRequest {
        pub password: ::std::string::String,
        pub username: ::std::string::String,
    }
    ///A member in full, with balances and cards.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct MemberBody {
        pub anniversaries: ::std::vec::Vec<AnniversaryBody>,
        pub balances: BalancesBody,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub birthday: ::std::option::Option<::std::string::String>,
        pub cards: ::std::vec::Vec<CardBody>,
        ///`store`, `online`, `referral`, `import`.
        pub channel: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub consent: ::std::option::Option<ConsentBody>,
        pub custom: ::std::collections::HashMap<::std::string::String, ::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub gender: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub home_store: ::std::option::Option<::std::string::String>,
        pub id: ::std::string::String,
        ///Masked: `110105**********2X`. The full number is only in the member's data export.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub id_number: ::std::option::Option<::std::string::String>,
        pub joined_at: ::std::string::String,
        ///For a merged member: who holds their balances and cards now.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub merged_into: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub name: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub notes: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub occupation: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub phone: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub points_expiring: ::std::option::Option<PointsExpiringBody>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub referrer: ::std::option::Option<::std::string::String>,
        ///`active`, `frozen`, `merged`, `erased`.
        pub status: ::std::string::String,
        pub tags: ::std::vec::Vec<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub tier: ::std::option::Option<::std::string::String>,
    }
    ///`MemberExportBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct MemberExportBody {
        ///Every card number in full.
        pub card_numbers: ::std::vec::Vec<::std::string::String>,
        ///The full resident ID number, if recorded.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub id_number: ::std::option::Option<::std::string::String>,
        pub ledger: ::std::vec::Vec<LedgerEntryBody>,
        pub member: MemberBody,
        pub service_records: ::std::vec::Vec<ServiceRecordBody>,
    }
    ///`MemberPageBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct MemberPageBody {
        pub members: ::std::vec::Vec<MemberSummary>,
        ///Pass as `after` for the next page; absent at the end.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub next: ::std::option::Option<::std::string::String>,
    }
    ///A member as lists show them: the phone masked.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct MemberSummary {
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub home_store: ::std::option::Option<::std::string::String>,
        pub id: ::std::string::String,
        pub joined_at: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub name: ::std::option::Option<::std::string::String>,
        ///Masked: `138****8000`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub phone: ::std::option::Option<::std::string::String>,
        pub status: ::std::string::String,
        pub tags: ::std::vec::Vec<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub tier: ::std::option::Option<::std::string::String>,
    }
    ///`MerchantBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct MerchantBody {
        pub created_at: ::std::string::String,
        pub id: ::std::string::String,
        pub name: ::std::string::String,
    }
    ///`MergeRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct MergeRequest {
        ///The member merged away: their balances, cards and tags move to this one.
        pub from: ::std::string::String,
    }
    ///`MintedTerminal`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct MintedTerminal {
        pub terminal: TerminalBody,
        ///The terminal's bearer token. Shown once: the box keeps only its hash.
        pub token: ::std::string::String,
    }
    ///Money: a decimal string and its currency, never a JSON number.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct Money {
        ///e.g. `"128.50"`.
        pub amount: ::std::string::String,
        pub currency: ::std::string::String,
    }
    ///What an order moved: paid (checkout), paid in (top-up) or returned (refund).
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct MovedBody {
        ///Stored value bonus spent, given, or returned.
        pub bonus: Money,
        ///The card fee (工本费) taken when the card was opened.
        pub card_fee: Money,
        /**…and what was kept of the money going back for them (`till.spent_points_on_refund =
        "deduct"`); `principal`, `bonus` and `tenders` are what was actually returned.*/
        pub clawback: Money,
        ///A refund: points to take back that the member had already spent…
        pub clawback_points: ::std::string::String,
        ///Staff commission (提成) credited to the order's `seller`, or (refund) taken back.
        pub commission: Money,
        pub growth: ::std::string::String,
        pub growth_removed: ::std::string::String,
        ///Points the member earned, or (refund) that were taken back.
        pub points: ::std::string::String,
        ///Points used to pay, or given back.
        pub points_offset: ::std::string::String,
        pub points_offset_value: Money,
        /**A refund: points taken back beyond what the member held, now owed (积分欠账, policy
        `till.spent_points_on_refund = "negative"`).*/
        pub points_owed: ::std::string::String,
        ///A daily tick: points and growth taken away (expiry).
        pub points_removed: ::std::string::String,
        ///Of `points`, what went to repay the member's points debt.
        pub points_repaid: ::std::string::String,
        ///Stored value principal spent, paid in, or returned.
        pub principal: Money,
        ///Points the referrer earned, or (refund) gave back from what they held.
        pub referrer_points: ::std::string::String,
        /**A refund: referral points the referrer had already spent, now their debt (policy
        `"negative"`)…*/
        pub referrer_points_owed: ::std::string::String,
        ///Of `referrer_points`, what went to repay the referrer's own points debt.
        pub referrer_points_repaid: ::std::string::String,
        ///…or let go (the other policies: the member's refund never pays for them).
        pub referrer_points_written_off: ::std::string::String,
        pub tenders: ::std::vec::Vec<TenderBody>,
        ///The order's value: what was due, paid in, or refunded.
        pub total: Money,
    }
    /**What a store (or the whole chain) moved over the period. Money is signed: refunds can exceed
    sales within a period.*/
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct MovementsBody {
        ///赠送储值: bonus given with those top-ups.
        pub bonus_given: Money,
        ///Bonus spent at this store.
        pub bonus_redeemed: Money,
        pub growth_issued: ::std::string::String,
        /**应收(+)/应付(−): principal redeemed minus principal sold. Positive: head office pays the
        store; negative: the store pays head office.*/
        pub net: Money,
        ///Points this store's sales earned members.
        pub points_issued: ::std::string::String,
        ///Points members paid with at this store.
        pub points_redeemed: ::std::string::String,
        ///核销储值: principal spent at this store.
        pub stored_value_redeemed: Money,
        ///售出储值: principal members paid in at this store.
        pub stored_value_sold: Money,
    }
    ///`NameBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct NameBody {
        pub en: ::std::string::String,
        pub zh: ::std::string::String,
    }
    ///`NameRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct NameRequest {
        pub name: ::std::string::String,
    }
    ///`OffsetBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct OffsetBody {
        ///The most points the member may use on this order.
        pub max_points: ::std::string::String,
        pub max_value: Money,
        ///Points are used in steps of this many…
        pub points_per_unit: ::std::string::String,
        ///…each worth this much.
        pub unit_value: Money,
    }
    ///订单 / A committed till operation: the receipt.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct OrderBody {
        ///The manager who authorised it (a large top-up).
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub approved_by: ::std::option::Option<::std::string::String>,
        pub at: ::std::string::String,
        ///The member's balances once the order was committed.
        pub balances: BalancesBody,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub bonus_plan: ::std::option::Option<BonusPlanBody>,
        pub discounts: ::std::vec::Vec<DiscountBody>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub gift: ::std::option::Option<RedeemedGiftBody>,
        /**`top-up`, `checkout`, `refund`, `joined` (a card opened at the till),
        `points-conversion`, `gift-redemption`, `tier-purchase`, `daily-tick` or
        `points-expired`.*/
        pub kind: ::std::string::String,
        pub lines: ::std::vec::Vec<PricedLineBody>,
        pub member: ::std::string::String,
        pub moved: MovedBody,
        pub order: ::std::string::String,
        ///A refund's checkout.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub original: ::std::option::Option<::std::string::String>,
        pub refunded: MovedBody,
        ///A checkout's refunds, and what they returned in all.
        pub refunds: ::std::vec::Vec<::std::string::String>,
        ///The staff member credited with the commission.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub seller: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub staff: ::std::option::Option<::std::string::String>,
        pub store: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub terminal: ::std::option::Option<::std::string::String>,
        ///The tier the order moved the member to.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub tier: ::std::option::Option<::std::string::String>,
        ///Ledger transfers, for the auditor.
        pub transfers: ::std::vec::Vec<::std::string::String>,
    }
    ///`PairRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct PairRequest {
        ///The code the manager read off the screen.
        pub code: ::std::string::String,
        ///What the store calls this POS, e.g. `收银台 1`: 1 to 32 characters.
        pub name: ::std::string::String,
    }
    ///`PairingBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct PairingBody {
        ///Eight digits, for the POS to present. Shown once.
        pub code: ::std::string::String,
        pub expires_at: ::std::string::String,
        pub store: ::std::string::String,
    }
    ///`PaymentRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct PaymentRequest {
        ///Points used to pay (积分抵现), a whole number within the quote's offer.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub points: ::std::option::Option<::std::string::String>,
        /**The staff member credited with the sale's commission (提成归属, 导购), a staff id; the
        signed-in staff member if absent. Must work at the store.*/
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub seller: ::std::option::Option<::std::string::String>,
        ///Paid from stored value, in yuan.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub stored_value: ::std::option::Option<::std::string::String>,
        ///The rest: cash, WeChat Pay, Alipay…
        #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
        pub tenders: ::std::vec::Vec<TenderRequest>,
    }
    ///`PluginBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct PluginBody {
        ///The `tongka:plugin` version it was built against.
        pub api: ::std::string::String,
        ///What its manifest asks for.
        pub capabilities: ::std::vec::Vec<::std::string::String>,
        pub config: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
        pub config_schema: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
        pub enabled: bool,
        ///What the merchant granted.
        pub granted: ::std::vec::Vec<::std::string::String>,
        pub http_hosts: ::std::vec::Vec<::std::string::String>,
        pub id: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub limits: ::std::option::Option<LimitsBody>,
        ///Serving now (enabled, and it loaded at start).
        pub loaded: bool,
        pub name: NameBody,
        ///SHA-256 of the packed component.
        pub sha256: ::std::string::String,
        pub version: ::std::string::String,
        ///`loyalty-scheme`, `notifier`, `settlement` or `device-driver`.
        pub world: ::std::string::String,
    }
    /**Points due to expire (积分到期提醒): what the member will lose at the end of the year if they
    do not use it.*/
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct PointsExpiringBody {
        /**The last day they may be used (`2026-12-31`); null when points never expire
        (`till.points_expiry_years` = 0).*/
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub last_day: ::std::option::Option<::std::string::String>,
        ///Whole points, as a string: `"88"`; `"0"` when nothing expires.
        pub points: ::std::string::String,
    }
    ///积分清零: the year's expiry, run once, on the first day of a year the box runs.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct PointsExpiryBody {
        ///False when points never expire (`till.points_expiry_years` = 0).
        pub enabled: bool,
        ///Members to try again tomorrow.
        pub failed: i64,
        pub members: i64,
        pub points: ::std::string::String,
        ///The year whose expiry this run did; none if done already.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub year: ::std::option::Option<i32>,
    }
    ///`PricedLineBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct PricedLineBody {
        pub amount: Money,
        pub discount: Money,
        pub line: i32,
        ///What is left to pay for the line, its share of any order discount taken off.
        pub net: Money,
    }
    ///The problem body's shape, for the OpenAPI document.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct Problem {
        ///Stable: clients branch on it.
        pub code: ::std::string::String,
        ///This occurrence, in the caller's language.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub detail: ::std::option::Option<::std::string::String>,
        ///The request field at fault, as a path such as `cards[0].number`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub field: ::std::option::Option<::std::string::String>,
        pub status: i32,
        ///The same for every occurrence of the code, in the caller's language.
        pub title: ::std::string::String,
        ///`urn:tongka:problem:{code}`.
        #[serde(rename = "type")]
        pub type_: ::std::string::String,
    }
    ///结算报价 / What the member is shown before paying. Nothing was written.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct QuoteBody {
        pub balances: BalancesBody,
        pub discounts: ::std::vec::Vec<DiscountBody>,
        pub growth_to_earn: ::std::string::String,
        pub lines: ::std::vec::Vec<PricedLineBody>,
        pub member: ::std::string::String,
        pub order: ::std::string::String,
        pub payable: Money,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub points_offset: ::std::option::Option<OffsetBody>,
        pub points_to_earn: ::std::string::String,
        /**Bring it back with the commit: if balances or rules changed since, the commit is refused
        with the new quote.*/
        pub quote_token: ::std::string::String,
        pub store: ::std::string::String,
        pub subtotal: Money,
    }
    ///The query of `read_audit`.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct ReadAuditQuery {
        ///The previous page's `next`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub before: ::std::option::Option<::std::string::String>,
        ///1 to 200; 50 if not given.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub limit: ::std::option::Option<u64>,
    }
    ///`RedeemedGiftBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct RedeemedGiftBody {
        pub id: ::std::string::String,
        pub name: ::std::string::String,
        ///Points for all of them.
        pub points: ::std::string::String,
        pub quantity: i32,
    }
    ///`RedemptionBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct RedemptionBody {
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub card: ::std::option::Option<::std::string::String>,
        ///The gift's id.
        pub gift: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub member: ::std::option::Option<::std::string::String>,
        pub order: ::std::string::String,
        ///1 by default; at most 99.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub quantity: ::std::option::Option<i32>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub store: ::std::option::Option<::std::string::String>,
    }
    ///`RefundLineRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct RefundLineRequest {
        pub line: i32,
        ///How much of the line comes back, in units (`"1"`, `"0.5"`).
        pub quantity: ::std::string::String,
    }
    ///`RefundRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct RefundRequest {
        ///Lines to refund; empty or absent: everything not yet refunded.
        #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
        pub lines: ::std::vec::Vec<RefundLineRequest>,
        ///The refund's own order id.
        pub order: ::std::string::String,
        ///The checkout refunded.
        pub original: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub store: ::std::option::Option<::std::string::String>,
    }
    ///`RouteRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct RouteRequest {
        ///Loyalty-scheme plugin ids, in the order they run.
        pub plugins: ::std::vec::Vec<::std::string::String>,
    }
    ///`RowErrorBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct RowErrorBody {
        ///`invalid_field`, `malformed_row`, `taken`, `unknown_store`.
        pub code: ::std::string::String,
        ///Why, in the caller's language.
        pub detail: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub field: ::std::option::Option<::std::string::String>,
        ///The line in the file; the header is line 1.
        pub line: u64,
    }
    ///The query of `search_members`.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct SearchMembersQuery {
        ///The previous page's `next`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub after: ::std::option::Option<::std::string::String>,
        ///Exact card number (any status).
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub card: ::std::option::Option<::std::string::String>,
        ///1 to 100; 20 by default.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub limit: ::std::option::Option<u64>,
        ///A fragment of the name.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub name: ::std::option::Option<::std::string::String>,
        ///Exact, normalised: `138 0013 8000` finds `13800138000`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub phone: ::std::option::Option<::std::string::String>,
        ///Members whose home store this is.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub store: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub tag: ::std::option::Option<::std::string::String>,
    }
    ///`ServiceRecordBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct ServiceRecordBody {
        pub at: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub by: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub done_at: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub follow_up_on: ::std::option::Option<::std::string::String>,
        pub member: ::std::string::String,
        pub note: ::std::string::String,
        pub number: i64,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub store: ::std::option::Option<::std::string::String>,
    }
    ///`SessionBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct SessionBody {
        pub expires_at: ::std::string::String,
        pub staff: StaffBody,
        pub token: ::std::string::String,
    }
    ///`SettlementBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct SettlementBody {
        pub from: ::std::string::String,
        ///Every store, by code.
        pub stores: ::std::vec::Vec<StoreSettlementBody>,
        pub to: ::std::string::String,
        ///The chain: `net` is how much the stored value members hold shrank (+) or grew (−).
        pub total: MovementsBody,
        ///Days run midnight to midnight China Standard Time (UTC+8).
        pub zone: ::std::string::String,
    }
    ///The query of `settlement_report`.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct SettlementReportQuery {
        ///The first day, `YYYY-MM-DD` (China time).
        pub from: ::std::string::String,
        ///The last day, included; at most 366 days after `from`.
        pub to: ::std::string::String,
    }
    ///`StaffBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct StaffBody {
        ///The head-office department (id), if any.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub department: ::std::option::Option<::std::string::String>,
        pub display_name: ::std::string::String,
        pub id: ::std::string::String,
        ///The merchant (id) they work for.
        pub merchant: ::std::string::String,
        pub role: ::std::string::String,
        ///`"all"`, or the store ids.
        pub stores: StoresBody,
        pub username: ::std::string::String,
    }
    ///`StaffCommissionBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct StaffCommissionBody {
        pub card_openings: Money,
        ///Commission credits: a sale or a top-up is one, a card opened with a first top-up two.
        pub count: i64,
        pub display_name: ::std::string::String,
        ///Earned less taken back.
        pub net: Money,
        ///Taken back by refunds.
        pub reversed: Money,
        pub role: ::std::string::String,
        pub sales: Money,
        pub staff: ::std::string::String,
        pub top_ups: Money,
        pub username: ::std::string::String,
    }
    ///`StoreBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct StoreBody {
        pub code: ::std::string::String,
        pub created_at: ::std::string::String,
        pub id: ::std::string::String,
        pub kind: ::std::string::String,
        pub name: ::std::string::String,
        pub opened_on: ::std::string::String,
        pub time_zone: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub top_up_approval_above: ::std::option::Option<Money>,
    }
    ///`StoreCommissionBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct StoreCommissionBody {
        pub code: ::std::string::String,
        pub name: ::std::string::String,
        ///Staff who earned or gave back commission here in the period, by username.
        pub staff: ::std::vec::Vec<StaffCommissionBody>,
        pub store: ::std::string::String,
        pub total: EarnedBody,
    }
    ///`StoreSettlementBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct StoreSettlementBody {
        ///赠送储值: bonus given with those top-ups.
        pub bonus_given: Money,
        ///Bonus spent at this store.
        pub bonus_redeemed: Money,
        pub code: ::std::string::String,
        pub growth_issued: ::std::string::String,
        pub name: ::std::string::String,
        /**应收(+)/应付(−): principal redeemed minus principal sold. Positive: head office pays the
        store; negative: the store pays head office.*/
        pub net: Money,
        ///Points this store's sales earned members.
        pub points_issued: ::std::string::String,
        ///Points members paid with at this store.
        pub points_redeemed: ::std::string::String,
        pub store: ::std::string::String,
        ///核销储值: principal spent at this store.
        pub stored_value_redeemed: Money,
        ///售出储值: principal members paid in at this store.
        pub stored_value_sold: Money,
    }
    ///`StoredValueBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct StoredValueBody {
        ///赠送: given by the merchant.
        pub bonus: Money,
        ///本金: paid in by the member.
        pub principal: Money,
        pub total: Money,
    }
    ///`StoresBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(untagged)]
    pub enum StoresBody {
        String(::std::string::String),
        Array(::std::vec::Vec<::std::string::String>),
    }
    impl ::std::convert::From<::std::vec::Vec<::std::string::String>> for StoresBody {
        fn from(value: ::std::vec::Vec<::std::string::String>) -> Self {
            Self::Array(value)
        }
    }
    ///`StoresRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(untagged)]
    pub enum StoresRequest {
        String(::std::string::String),
        Array(::std::vec::Vec<::std::string::String>),
    }
    impl ::std::convert::From<::std::vec::Vec<::std::string::String>> for StoresRequest {
        fn from(value: ::std::vec::Vec<::std::string::String>) -> Self {
            Self::Array(value)
        }
    }
    ///`TenderBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct TenderBody {
        pub amount: Money,
        pub kind: ::std::string::String,
    }
    ///`TenderRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct TenderRequest {
        pub amount: ::std::string::String,
        ///`cash`, `wechat`, `alipay`, `bank-card` or `other`.
        pub kind: ::std::string::String,
    }
    ///`TerminalBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct TerminalBody {
        pub created_at: ::std::string::String,
        pub id: ::std::string::String,
        pub name: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub revoked_at: ::std::option::Option<::std::string::String>,
        pub store: ::std::string::String,
    }
    ///`ThresholdsBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct ThresholdsBody {
        ///成长值 reaching this.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub growth: ::std::option::Option<::std::string::String>,
        ///Points reaching this (积分升级).
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub points: ::std::option::Option<::std::string::String>,
        ///One top-up of at least this, in yuan (储值升级).
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub single_top_up: ::std::option::Option<::std::string::String>,
        ///Cumulative spend reaching this, in yuan.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub total_spend: ::std::option::Option<::std::string::String>,
    }
    ///`TierBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct TierBody {
        pub discount_rate: ::std::string::String,
        pub id: ::std::string::String,
        pub name: ::std::string::String,
        pub points_rate: ::std::string::String,
        pub rank: i32,
        pub thresholds: ThresholdsBody,
        ///Points to move up to this tier at the till; absent: not for sale.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub upgrade_points: ::std::option::Option<::std::string::String>,
    }
    ///A move between tiers.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct TierChangeBody {
        pub at: ::std::string::String,
        ///The tier before; absent for the tier a member signed up with.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub from: ::std::option::Option<::std::string::String>,
        ///The till order that caused it.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub order: ::std::option::Option<::std::string::String>,
        /**`joined`, `imported`, `manual`, `scheme` (the loyalty scheme's `set-tier`), `bought`
        (with points at the till), `merged` (a member merged in held a better tier), or the
        threshold reached: `growth`, `total-spend`, `single-top-up`, `points`; `review` for the
        tier review at the end of the evaluation period.*/
        pub reason: ::std::string::String,
        ///Who set it by hand, or merged the members.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub staff: ::std::option::Option<::std::string::String>,
        pub to: ::std::string::String,
    }
    ///`TierPurchaseBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct TierPurchaseBody {
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub card: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub member: ::std::option::Option<::std::string::String>,
        pub order: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub store: ::std::option::Option<::std::string::String>,
        ///The tier's id; it must have `upgrade_points` and rank above the member's.
        pub tier: ::std::string::String,
    }
    ///`TierRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct TierRequest {
        pub tier: ::std::string::String,
    }
    ///`TierRequestBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct TierRequestBody {
        ///The price paid, as a fraction: `"0.95"` is 95折.
        pub discount_rate: ::std::string::String,
        ///e.g. `金卡`, 1 to 16 characters.
        pub name: ::std::string::String,
        ///Points per yuan spent: `"1"`, `"1.5"`.
        pub points_rate: ::std::string::String,
        ///Position on the ladder, lowest first; new members start on the lowest.
        pub rank: i32,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub thresholds: ::std::option::Option<ThresholdsBody>,
        ///Points a member may spend at the till to move up to this tier (积分升级): `"5000"`.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub upgrade_points: ::std::option::Option<::std::string::String>,
    }
    ///等级评定.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct TierReviewBody {
        ///Members whose evaluation period had ended.
        pub due: i64,
        ///False when tiers are kept for good (`till.tier_review_days` = 0).
        pub enabled: bool,
        pub kept: i64,
        ///Moved down, each with `review` in their tier history.
        pub moved_down: i64,
    }
    ///`TopUpApproval`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct TopUpApproval {
        ///In yuan, `"5000.00"`; `null`: no authorisation needed.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub above: ::std::option::Option<::std::string::String>,
    }
    ///`TopUpRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct TopUpRequest {
        ///Paid in, in yuan: `"100.00"`.
        pub amount: ::std::string::String,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub approval: ::std::option::Option<ApprovalRequest>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub card: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub member: ::std::option::Option<::std::string::String>,
        pub order: ::std::string::String,
        /**The staff member credited with the top-up's commission, a staff id; the signed-in
        staff member if absent.*/
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub seller: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub store: ::std::option::Option<::std::string::String>,
        ///How it was paid; cash if empty. They must add up to `amount`.
        #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
        pub tenders: ::std::vec::Vec<TenderRequest>,
    }
    ///`TrialBody`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    pub struct TrialBody {
        pub duration_us: i64,
        pub fuel_used: i64,
        ///The effects a scheme proposes, or another world's answer.
        pub value: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
    }
    ///`TrialRequest`
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct TrialRequest {
        /**A scheme hook (`quote-checkout` …) or another world's call (`send`, `statements`,
        `matches`, `decode`, `encode-receipt`).*/
        pub hook: ::std::string::String,
        ///The hook's argument, shaped as in docs/plugins.md.
        pub input: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
    }
    ///Fields to change; absent fields stay as they are, an empty string clears one.
    #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct UpdateMember {
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub anniversaries: ::std::option::Option<::std::vec::Vec<AnniversaryBody>>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub birthday: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub consent_source: ::std::option::Option<::std::string::String>,
        ///Keys to set; an empty value clears that field.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub custom: ::std::option::Option<
            ::std::collections::HashMap<::std::string::String, ::std::string::String>,
        >,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub gender: ::std::option::Option<::std::string::String>,
        ///A store id, or `""` for none.
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub home_store: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub id_number: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub marketing_consent: ::std::option::Option<bool>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub name: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub notes: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub occupation: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub phone: ::std::option::Option<::std::string::String>,
        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
        pub tags: ::std::option::Option<::std::vec::Vec<::std::string::String>>,
    }
    /// Error types.
    pub mod error {
        /// Error from a `TryFrom` or `FromStr` implementation.
        pub struct ConversionError(::std::borrow::Cow<'static, str>);
        impl ::std::error::Error for ConversionError {}
        impl ::std::fmt::Display for ConversionError {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> Result<(), ::std::fmt::Error> {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }
        impl ::std::fmt::Debug for ConversionError {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> Result<(), ::std::fmt::Error> {
                ::std::fmt::Debug::fmt(&self.0, f)
            }
        }
        impl From<&'static str> for ConversionError {
            fn from(value: &'static str) -> Self {
                Self(value.into())
            }
        }
        impl From<String> for ConversionError {
            fn from(value: String) -> Self {
                Self(value.into())
            }
        }
    }
}

impl Client {
    /// 发卡 / Issue another card to a member.
    ///
    /// `POST /api/v1/members/{id}/cards`
    pub async fn add_card(&self, id: &str, body: &CardRequest) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &format!("/api/v1/members/{}/cards", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 新增礼品 / Adds a gift to the catalogue (head office).
    ///
    /// `POST /api/v1/gifts`
    pub async fn add_gift(&self, body: &GiftRequest) -> Result<GiftBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/gifts",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 新建服务记录 / Record a service, with an optional follow-up day (回访).
    ///
    /// `POST /api/v1/members/{id}/service-records`
    pub async fn add_service_record(
        &self,
        id: &str,
        body: &CreateServiceRecord,
    ) -> Result<ServiceRecordBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &format!("/api/v1/members/{}/service-records", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 积分升级 / A member moves up to a tier for the points it costs (`upgrade_points`): one
    /// batch, the tier history says `bought`. The same `order` again answers the same receipt.
    ///
    /// `POST /api/v1/till/tier-upgrades`
    pub async fn buy_tier(&self, body: &TierPurchaseBody) -> Result<OrderBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/till/tier-upgrades",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 修改礼品 / Restocks, reprices, renames or withdraws a gift (head office).
    ///
    /// `PATCH /api/v1/gifts/{id}`
    pub async fn change_gift(&self, id: &str, body: &GiftRequest) -> Result<GiftBody, ClientError> {
        let answer = self
            .send(
                Method::PATCH,
                &format!("/api/v1/gifts/{}", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 修改插件 / Enable or disable a plugin, or change its grants or configuration (head office
    /// only). Checked before anything changes.
    ///
    /// `PATCH /api/v1/plugins/{id}`
    pub async fn change_plugin(
        &self,
        id: &str,
        body: &ChangePlugin,
    ) -> Result<PluginBody, ClientError> {
        let answer = self
            .send(
                Method::PATCH,
                &format!("/api/v1/plugins/{}", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 结算 / Commits a quoted order with the member's payments: stored value, points, other
    /// tenders; earns points and growth; the referrer's share — all at once or nothing. The same
    /// `order` again answers the same receipt.
    ///
    /// `POST /api/v1/till/checkouts`
    pub async fn checkout(&self, body: &CheckoutRequest) -> Result<OrderBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/till/checkouts",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 提成报表 / What each staff member earned in commission at each store over a period. Head
    /// office and departments see every store, a store manager theirs, a cashier their own line.
    ///
    /// `GET /api/v1/reports/commission`
    pub async fn commission_report(
        &self,
        query: &types::CommissionReportQuery,
    ) -> Result<CommissionReportBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/reports/commission",
                Some(crate::query(query)?),
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 提成方案 / The merchant's commission rules.
    ///
    /// `GET /api/v1/commission-rules`
    pub async fn commission_rules(&self) -> Result<CommissionRulesBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/commission-rules",
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 完成回访 / Mark a follow-up done.
    ///
    /// `POST /api/v1/members/{id}/service-records/{number}/done`
    pub async fn complete_follow_up(
        &self,
        id: &str,
        number: &str,
    ) -> Result<ServiceRecordBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &format!(
                    "/api/v1/members/{}/service-records/{}/done",
                    crate::segment(id),
                    crate::segment(number)
                ),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 积分兑换储值 / Turns a member's points into stored value at the merchant's rate
    /// (`till.points_to_stored_value_fen_per_100`), rounded down to the fen and credited as bonus
    /// (赠送). The same `order` again answers the same receipt.
    ///
    /// `POST /api/v1/till/points-conversions`
    pub async fn convert_points(&self, body: &ConversionBody) -> Result<OrderBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/till/points-conversions",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 新建部门 / Create a head-office department (head office).
    ///
    /// `POST /api/v1/departments`
    pub async fn create_department(
        &self,
        body: &NameRequest,
    ) -> Result<DepartmentBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/departments",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 新建会员 / Create a member, with ledger accounts and optionally a first card.
    ///
    /// `POST /api/v1/members`
    pub async fn create_member(&self, body: &CreateMember) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/members",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 新建员工 / Create a staff member, as the caller's role allows.
    ///
    /// `POST /api/v1/staff`
    pub async fn create_staff(&self, body: &CreateStaff) -> Result<StaffBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/staff",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 新建门店 / Create a store (head office only).
    ///
    /// `POST /api/v1/stores`
    pub async fn create_store(&self, body: &CreateStore) -> Result<StoreBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/stores",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 新建终端 / Mint a terminal for a store (head office, or the store's manager).
    ///
    /// `POST /api/v1/terminals`
    pub async fn create_terminal(
        &self,
        body: &CreateTerminal,
    ) -> Result<MintedTerminal, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/terminals",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 新建等级 / Create a tier (head office).
    ///
    /// `POST /api/v1/tiers`
    pub async fn create_tier(&self, body: &TierRequestBody) -> Result<TierBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/tiers",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 当前用户 / Who is signed in.
    ///
    /// `GET /api/v1/session`
    pub async fn current_session(&self) -> Result<StaffBody, ClientError> {
        let answer = self
            .send(Method::GET, &"/api/v1/session", None, crate::Payload::None)
            .await?;
        crate::parse(&answer)
    }

    /// 本终端 / The terminal itself: which store it serves.
    ///
    /// `GET /api/v1/terminal`
    pub async fn current_terminal(&self) -> Result<TerminalBody, ClientError> {
        let answer = self
            .send(Method::GET, &"/api/v1/terminal", None, crate::Payload::None)
            .await?;
        crate::parse(&answer)
    }

    /// 每日任务 / Runs today's daily jobs now (head office): the loyalty scheme's daily tick for
    /// every member, the year's points expiry, the tier review, the monthly bonus parts due. The
    /// box runs them by itself every day at 03:00 China time and when it starts.
    ///
    /// `POST /api/v1/daily-run`
    pub async fn daily_run(&self) -> Result<DailyRunBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/daily-run",
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 定义自定义字段 / Define or redefine a member field (head office).
    ///
    /// `POST /api/v1/custom-fields`
    pub async fn define_custom_field(
        &self,
        body: &CustomFieldBody,
    ) -> Result<CustomFieldBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/custom-fields",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 注销个人信息 / Erase a member's personal data on their request (PIPL, head office). The money
    /// history stays, anonymous.
    ///
    /// `DELETE /api/v1/members/{id}/personal-data`
    pub async fn erase_member(&self, id: &str) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::DELETE,
                &format!("/api/v1/members/{}/personal-data", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 导出会员数据 / Everything the box holds about a member, for their access request (PIPL, head
    /// office).
    ///
    /// `GET /api/v1/members/{id}/export`
    pub async fn export_member(&self, id: &str) -> Result<MemberExportBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/v1/members/{}/export", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 导出会员 / Every member the caller may browse, as CSV in the import's columns.
    ///
    /// `GET /api/v1/members/export.csv`
    pub async fn export_members_csv(&self) -> Result<String, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/members/export.csv",
                None,
                crate::Payload::None,
            )
            .await?;
        crate::text(answer)
    }

    /// 刷卡查会员 / The member a card belongs to: what the till does on a scan. A lost or replaced
    /// card answers 409 `card_not_active`.
    ///
    /// `GET /api/v1/cards/{number}`
    pub async fn find_card(&self, number: &str) -> Result<CardLookupBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/v1/cards/{}", crate::segment(number)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 查会员 / The member a scanned card or a typed phone number belongs to: what the till shows
    /// before an order (name, tier, balances, and the points that expire at the end of the year —
    /// 积分到期提醒 — for the cashier to tell and the receipt to print). A lost card answers 409
    /// `card_not_active`.
    ///
    /// `GET /api/v1/till/members`
    pub async fn find_member(
        &self,
        query: &types::FindMemberQuery,
    ) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/till/members",
                Some(crate::query(query)?),
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 会员详情 / A member with balances and cards.
    ///
    /// `GET /api/v1/members/{id}`
    pub async fn get_member(&self, id: &str) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/v1/members/{}", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 商户 / The caller's merchant.
    ///
    /// `GET /api/v1/merchant`
    pub async fn get_merchant(&self) -> Result<MerchantBody, ClientError> {
        let answer = self
            .send(Method::GET, &"/api/v1/merchant", None, crate::Payload::None)
            .await?;
        crate::parse(&answer)
    }

    /// 查看插件 / One installed plugin (head office only).
    ///
    /// `GET /api/v1/plugins/{id}`
    pub async fn get_plugin(&self, id: &str) -> Result<PluginBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/v1/plugins/{}", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 门店 / One store; 404 outside the caller's scope.
    ///
    /// `GET /api/v1/stores/{id}`
    pub async fn get_store(&self, id: &str) -> Result<StoreBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/v1/stores/{}", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 健康检查 / Is the box up, which version, and whether it takes writes.
    ///
    /// `GET /api/v1/health`
    pub async fn health(&self) -> Result<Health, ClientError> {
        let answer = self
            .send(Method::GET, &"/api/v1/health", None, crate::Payload::None)
            .await?;
        crate::parse(&answer)
    }

    /// 导入会员 / Import members and opening balances from CSV (head office). Columns: `name`,
    /// `phone`, `gender`, `birthday`, `id_number`, `card_number`, `card_kind`, `home_store` (store
    /// code), `tags` (`;`-separated), `joined_on`, `marketing_consent`, `notes`, `points`,
    /// `stored_value`, `bonus`, `growth` — or their Chinese headers (姓名, 手机, …). With
    /// `dry_run=true` nothing is written; otherwise a file with any bad row is refused whole (422,
    /// the report in the body) and a good one is imported. The same file twice adds nothing twice.
    ///
    /// `POST /api/v1/members/import`
    pub async fn import_members(
        &self,
        query: &types::ImportMembersQuery,
        csv: &str,
    ) -> Result<ImportReportBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/members/import",
                Some(crate::query(query)?),
                crate::Payload::csv(csv),
            )
            .await?;
        crate::parse(&answer)
    }

    /// 安装或升级插件 / Install a plugin, or upgrade the one with its id (head office only). The old
    /// version serves until the new one is compiled and checked; a refused upgrade leaves it serving.
    ///
    /// `POST /api/v1/plugins`
    pub async fn install_plugin(&self, body: &InstallPlugin) -> Result<PluginBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/plugins",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 自定义字段 / The member fields the merchant defined.
    ///
    /// `GET /api/v1/custom-fields`
    pub async fn list_custom_fields(
        &self,
    ) -> Result<::std::vec::Vec<CustomFieldBody>, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/custom-fields",
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 部门列表 / The merchant's departments.
    ///
    /// `GET /api/v1/departments`
    pub async fn list_departments(&self) -> Result<::std::vec::Vec<DepartmentBody>, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/departments",
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 待回访 / Follow-ups due, oldest first, for the stores in the caller's scope.
    ///
    /// `GET /api/v1/follow-ups`
    pub async fn list_follow_ups(
        &self,
        query: &types::ListFollowUpsQuery,
    ) -> Result<::std::vec::Vec<FollowUpBody>, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/follow-ups",
                Some(crate::query(query)?),
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 礼品目录 / The merchant's gifts, in the order they were added, withdrawn ones too.
    ///
    /// `GET /api/v1/gifts`
    pub async fn list_gifts(&self) -> Result<::std::vec::Vec<GiftBody>, ClientError> {
        let answer = self
            .send(Method::GET, &"/api/v1/gifts", None, crate::Payload::None)
            .await?;
        crate::parse(&answer)
    }

    /// 插件分工 / Which schemes serve each hook, in order (head office only).
    ///
    /// `GET /api/v1/plugin-routes`
    pub async fn list_plugin_routes(
        &self,
    ) -> Result<
        ::std::collections::HashMap<::std::string::String, ::std::vec::Vec<::std::string::String>>,
        ClientError,
    > {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/plugin-routes",
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 插件列表 / The installed plugins (head office only).
    ///
    /// `GET /api/v1/plugins`
    pub async fn list_plugins(&self) -> Result<::std::vec::Vec<PluginBody>, ClientError> {
        let answer = self
            .send(Method::GET, &"/api/v1/plugins", None, crate::Payload::None)
            .await?;
        crate::parse(&answer)
    }

    /// 服务记录 / A member's service records, oldest first.
    ///
    /// `GET /api/v1/members/{id}/service-records`
    pub async fn list_service_records(
        &self,
        id: &str,
    ) -> Result<::std::vec::Vec<ServiceRecordBody>, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/v1/members/{}/service-records", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 员工列表 / The staff the caller may see.
    ///
    /// `GET /api/v1/staff`
    pub async fn list_staff(&self) -> Result<::std::vec::Vec<StaffBody>, ClientError> {
        let answer = self
            .send(Method::GET, &"/api/v1/staff", None, crate::Payload::None)
            .await?;
        crate::parse(&answer)
    }

    /// 门店列表 / The stores in the caller's scope.
    ///
    /// `GET /api/v1/stores`
    pub async fn list_stores(&self) -> Result<::std::vec::Vec<StoreBody>, ClientError> {
        let answer = self
            .send(Method::GET, &"/api/v1/stores", None, crate::Payload::None)
            .await?;
        crate::parse(&answer)
    }

    /// 终端列表 / The terminals of the stores the caller manages.
    ///
    /// `GET /api/v1/terminals`
    pub async fn list_terminals(&self) -> Result<::std::vec::Vec<TerminalBody>, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/terminals",
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 会员等级 / The merchant's tiers, lowest first.
    ///
    /// `GET /api/v1/tiers`
    pub async fn list_tiers(&self) -> Result<::std::vec::Vec<TierBody>, ClientError> {
        let answer = self
            .send(Method::GET, &"/api/v1/tiers", None, crate::Payload::None)
            .await?;
        crate::parse(&answer)
    }

    /// 合并会员 / Merge another member into this one (head office). Balances move through the
    /// ledger; nothing is lost.
    ///
    /// `POST /api/v1/members/{id}/merge`
    pub async fn merge_members(
        &self,
        id: &str,
        body: &MergeRequest,
    ) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &format!("/api/v1/members/{}/merge", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 开卡 / Signs a member up at the till, with a first card if given, and gives the loyalty
    /// scheme's welcome (`member-joined`: points, growth, the referrer's reward, a tier). With
    /// `order`, a card fee (`card_fee`, 工本费) and a first top-up (`top_up`, with the scheme's
    /// `top-up` offer) are taken in the same ledger batch; the receipt is
    /// `GET /api/v1/till/orders/{order}`, and a retry with the same `order` answers the same member.
    /// A first top-up above the store's amount needs a manager's `approval`, as a top-up does.
    /// The scheme is asked first: if it fails, no member is made (503 `scheme_failed`). A terminal signs up for its
    /// store (home store its own, with a cashier's rights: no tier choice); staff name their store as
    /// `home_store`.
    ///
    /// `POST /api/v1/till/members`
    pub async fn open_card(&self, body: &CreateMember) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/till/members",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 开启配对 / Open a pairing window for a store: a code one POS may exchange for its terminal
    /// token before it expires (head office, or the store's manager).
    ///
    /// `POST /api/v1/stores/{id}/pairings`
    pub async fn open_pairing(&self, id: &str) -> Result<PairingBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &format!("/api/v1/stores/{}/pairings", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 查订单 / A till order by the POS's id: the receipt, with what refunds returned since.
    ///
    /// `GET /api/v1/till/orders/{order}`
    pub async fn order(&self, order: &str) -> Result<OrderBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/v1/till/orders/{}", crate::segment(order)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 终端配对 / A POS presents a pairing code and gets its terminal token, bound to the code's store.
    /// No sign-in: the code is the credential.
    ///
    /// `POST /api/v1/pairings`
    pub async fn pair(&self, body: &PairRequest) -> Result<MintedTerminal, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/pairings",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 积分到期提醒 / The member's points that expire at the end of this year, counted oldest first
    /// as the year's expiry will count them: for the till and head office to tell the member ahead.
    ///
    /// `GET /api/v1/members/{id}/points-expiry`
    pub async fn points_expiring(&self, id: &str) -> Result<PointsExpiringBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/v1/members/{}/points-expiry", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 修改等级 / Replace a tier's settings (head office).
    ///
    /// `PUT /api/v1/tiers/{id}`
    pub async fn put_tier(
        &self,
        id: &str,
        body: &TierRequestBody,
    ) -> Result<TierBody, ClientError> {
        let answer = self
            .send(
                Method::PUT,
                &format!("/api/v1/tiers/{}", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 结算报价 / Prices an order for a member and shows what the loyalty scheme gives: discounts,
    /// points to earn, points the member may pay with. Nothing is written.
    ///
    /// `POST /api/v1/till/quote`
    pub async fn quote(&self, body: &CheckoutRequest) -> Result<QuoteBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/till/quote",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 操作日志 / The audit log, newest first (head office only).
    ///
    /// `GET /api/v1/audit`
    pub async fn read_audit(
        &self,
        query: &types::ReadAuditQuery,
    ) -> Result<AuditPage, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/audit",
                Some(crate::query(query)?),
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 礼品兑换 / A member takes a gift for points: the stock is reserved, then the points move;
    /// if they cannot (409 `insufficient_points`), the stock goes back. The same `order` again
    /// answers the same receipt, with the gift in `gift`.
    ///
    /// `POST /api/v1/till/gift-redemptions`
    pub async fn redeem_gift(&self, body: &RedemptionBody) -> Result<OrderBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/till/gift-redemptions",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 退货 / Refunds a checkout, whole or by line: stored value back to the buckets it came
    /// from, points used given back, points earned taken back. A refund taking back points the
    /// member already spent is refused (`points_already_spent`).
    ///
    /// `POST /api/v1/till/refunds`
    pub async fn refund(&self, body: &RefundRequest) -> Result<OrderBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/till/refunds",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 补卡 / Replace a lost (or worn) card with a new one.
    ///
    /// `POST /api/v1/members/{id}/cards/{number}/reissue`
    pub async fn reissue_card(
        &self,
        id: &str,
        number: &str,
        body: &CardRequest,
    ) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &format!(
                    "/api/v1/members/{}/cards/{}/reissue",
                    crate::segment(id),
                    crate::segment(number)
                ),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 卸载插件 / Remove a plugin: it stops serving, and its data and routes are gone (head office
    /// only).
    ///
    /// `DELETE /api/v1/plugins/{id}`
    pub async fn remove_plugin(&self, id: &str) -> Result<(), ClientError> {
        let answer = self
            .send(
                Method::DELETE,
                &format!("/api/v1/plugins/{}", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::nothing(answer)
    }

    /// 修改商户名称 / Rename the merchant (head office).
    ///
    /// `PUT /api/v1/merchant`
    pub async fn rename_merchant(&self, body: &NameRequest) -> Result<MerchantBody, ClientError> {
        let answer = self
            .send(
                Method::PUT,
                &"/api/v1/merchant",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 挂失 / Report a card lost: it stops finding the member.
    ///
    /// `POST /api/v1/members/{id}/cards/{number}/lost`
    pub async fn report_card_lost(
        &self,
        id: &str,
        number: &str,
    ) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &format!(
                    "/api/v1/members/{}/cards/{}/lost",
                    crate::segment(id),
                    crate::segment(number)
                ),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 吊销终端 / Revoke a terminal: its token is refused from now on.
    ///
    /// `DELETE /api/v1/terminals/{id}`
    pub async fn revoke_terminal(&self, id: &str) -> Result<TerminalBody, ClientError> {
        let answer = self
            .send(
                Method::DELETE,
                &format!("/api/v1/terminals/{}", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 查找会员 / Find members by phone, card, name fragment, tag or store; paged.
    ///
    /// `GET /api/v1/members`
    pub async fn search_members(
        &self,
        query: &types::SearchMembersQuery,
    ) -> Result<MemberPageBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/members",
                Some(crate::query(query)?),
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 设置提成方案 / Replaces the merchant's commission rules (head office). They apply to every
    /// opening, top-up and sale from then on; what was earned before stays.
    ///
    /// `PUT /api/v1/commission-rules`
    pub async fn set_commission_rules(
        &self,
        body: &CommissionRulesBody,
    ) -> Result<CommissionRulesBody, ClientError> {
        let answer = self
            .send(
                Method::PUT,
                &"/api/v1/commission-rules",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 冻结 / 解冻 / Freeze or unfreeze a member (head office or a store manager).
    ///
    /// `PUT /api/v1/members/{id}/frozen`
    pub async fn set_member_frozen(
        &self,
        id: &str,
        body: &FreezeRequest,
    ) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::PUT,
                &format!("/api/v1/members/{}/frozen", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 调整等级 / Put a member on a tier by hand (head office).
    ///
    /// `PUT /api/v1/members/{id}/tier`
    pub async fn set_member_tier(
        &self,
        id: &str,
        body: &TierRequest,
    ) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::PUT,
                &format!("/api/v1/members/{}/tier", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 设置插件分工 / Set which schemes serve a hook, in the order they run (head office only).
    ///
    /// `PUT /api/v1/plugin-routes/{hook}`
    pub async fn set_plugin_route(
        &self,
        hook: &str,
        body: &RouteRequest,
    ) -> Result<RouteRequest, ClientError> {
        let answer = self
            .send(
                Method::PUT,
                &format!("/api/v1/plugin-routes/{}", crate::segment(hook)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 大额充值授权 / Sets the amount above which a top-up at this store needs a manager's
    /// authorisation (a store manager of the store, or head office, by password at the till). Head
    /// office only.
    ///
    /// `PUT /api/v1/stores/{id}/top-up-approval`
    pub async fn set_top_up_approval(
        &self,
        id: &str,
        body: &TopUpApproval,
    ) -> Result<StoreBody, ClientError> {
        let answer = self
            .send(
                Method::PUT,
                &format!("/api/v1/stores/{}/top-up-approval", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 月结算 / What each store sold and redeemed of members' stored value over a period, and what
    /// head office owes it or it owes head office (the clearing house between stores); bonus, points
    /// and growth per store for sharing their cost. Head office only.
    ///
    /// `GET /api/v1/reports/settlement`
    pub async fn settlement_report(
        &self,
        query: &types::SettlementReportQuery,
    ) -> Result<SettlementBody, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &"/api/v1/reports/settlement",
                Some(crate::query(query)?),
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 登录 / Sign in: a bearer token, also set as a session cookie.
    ///
    /// `POST /api/v1/sessions`
    pub async fn sign_in(&self, body: &LoginRequest) -> Result<SessionBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/sessions",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 退出登录 / Sign out: the token stops working.
    ///
    /// `DELETE /api/v1/session`
    pub async fn sign_out(&self) -> Result<(), ClientError> {
        let answer = self
            .send(
                Method::DELETE,
                &"/api/v1/session",
                None,
                crate::Payload::None,
            )
            .await?;
        crate::nothing(answer)
    }

    /// 等级变动记录 / A member's moves between tiers, oldest first, each with its reason: the tier
    /// they signed up with, a threshold reached (and the order that reached it), the loyalty
    /// scheme's word, or head office's hand.
    ///
    /// `GET /api/v1/members/{id}/tier-history`
    pub async fn tier_history(
        &self,
        id: &str,
    ) -> Result<::std::vec::Vec<TierChangeBody>, ClientError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/v1/members/{}/tier-history", crate::segment(id)),
                None,
                crate::Payload::None,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 充值 / Money paid into a member's stored value, with the loyalty scheme's offer (bonus
    /// stored value, points, a tier). Above the store's `top_up_approval_above` a manager
    /// authorises it (`approval`, or a manager calling); else 403 `approval_needed`. The same
    /// `order` again answers the same receipt.
    ///
    /// `POST /api/v1/till/top-ups`
    pub async fn top_up(&self, body: &TopUpRequest) -> Result<OrderBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &"/api/v1/till/top-ups",
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 试运行插件 / Try a plugin on a sample request: what it would answer, and what the call cost.
    /// Nothing is written (head office only).
    ///
    /// `POST /api/v1/plugins/{id}/trial`
    pub async fn try_plugin(
        &self,
        id: &str,
        body: &TrialRequest,
    ) -> Result<TrialBody, ClientError> {
        let answer = self
            .send(
                Method::POST,
                &format!("/api/v1/plugins/{}/trial", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }

    /// 修改会员资料 / Change a member's profile, home store or marketing consent.
    ///
    /// `PATCH /api/v1/members/{id}`
    pub async fn update_member(
        &self,
        id: &str,
        body: &UpdateMember,
    ) -> Result<MemberBody, ClientError> {
        let answer = self
            .send(
                Method::PATCH,
                &format!("/api/v1/members/{}", crate::segment(id)),
                None,
                crate::Payload::json(body)?,
            )
            .await?;
        crate::parse(&answer)
    }
}
