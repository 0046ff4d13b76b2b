//! 标准积分方案 / The standard loyalty scheme: the earning rules of FEATURES §3 and the top-up
//! offers of §4, all set in the plugin's settings (see `manifest.json` for the schema and
//! `docs/plugins.md` for examples).
//!
//! Rounding, stated once:
//! - money is exact to the fen; a tier discount is rounded half up to the fen per line;
//! - points are summed exactly over the order and rounded down once (a fraction of a point is
//!   never given);
//! - multipliers multiply: a double-points store on member day at a 150 % category is ×6.
//!
//! Each hook is a pure function of its input and the settings: the same order always quotes the
//! same, so the box can tell a stale quote from a fresh one.

use serde::Deserialize;
use tongka_plugin_sdk::prelude::*;

struct Standard;

/// A percentage, as an integer: 200 is ×2.
type Percent = i64;

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Points per yuan for members without a tier, in basis points (10000 = 1 point per ¥1).
    /// A member with a tier earns at the tier's own rate, as the merchant set it in the box.
    base_points_per_yuan_bp: Option<i64>,
    /// Give members their tier's discount (会员折扣) on lines that take discounts.
    tier_discount: Option<bool>,
    /// Lines already on promotion earn points too (default: no — 促销品不积分).
    promotional_earns: bool,
    excluded_skus: Vec<String>,
    excluded_categories: Vec<String>,
    /// Per product or category (a product's own rule wins over its category's).
    sku_multipliers: Vec<Keyed>,
    category_multipliers: Vec<Keyed>,
    /// Per store for a date range (新店开业双倍积分).
    store_multipliers: Vec<StoreRule>,
    /// Per time of day (闲时提高积分), `HH:MM` to `HH:MM`, the end excluded.
    time_windows: Vec<Window>,
    /// 会员日: a day of the month.
    member_day: Option<MemberDay>,
    /// 生日: on the member's birthday.
    birthday_percent: Option<Percent>,
    /// 积分抵现.
    offset: Option<Offset>,
    /// Growth per whole yuan of the order's value.
    growth_per_yuan: Option<i64>,
    /// 充值优惠: the best offer whose minimum the top-up reaches.
    top_up_offers: Vec<TopUpOffer>,
    /// 推荐奖励.
    referral: Option<Referral>,
    /// 开卡赠送积分.
    welcome_points: Option<i64>,
    /// 生日礼: points given on the member's birthday by the daily tick (a 29 February birthday
    /// falls on 28 February in other years).
    birthday_points: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keyed {
    key: String,
    percent: Percent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreRule {
    /// The store's code, e.g. `SH-001`.
    store: String,
    /// `YYYY-MM-DD`, both days included.
    from: String,
    to: String,
    percent: Percent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Window {
    from: String,
    to: String,
    percent: Percent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberDay {
    day_of_month: u8,
    percent: Percent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Offset {
    /// 100 points…
    points_per_unit: i64,
    /// …pay ¥1.00.
    unit_fen: i64,
    /// At most this share of the order, in percent.
    cap_percent: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUpOffer {
    min_fen: i64,
    #[serde(default)]
    bonus_fen: i64,
    #[serde(default)]
    bonus_points: i64,
    /// The bonus paid in this many monthly parts (赠送分N个月返还), whatever the box does with
    /// other bonuses; absent: as the box pays every bonus.
    #[serde(default)]
    bonus_months: Option<u8>,
    /// A tier by name (充1000升金卡).
    #[serde(default)]
    tier: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Referral {
    /// To the referrer when the member they brought opens a card.
    #[serde(default)]
    join_points: i64,
    /// The referrer's share of the points the member earns, in percent.
    #[serde(default)]
    share_percent: Percent,
}

fn settings() -> Result<Settings, HookError> {
    serde_json::from_str(&tongka_plugin_sdk::config::get())
        .map_err(|e| HookError::Misconfigured(e.to_string()))
}

/// `HH:MM` as minutes since midnight.
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// `YYYY-MM-DD` as a comparable number.
fn day_number(text: &str) -> Option<u32> {
    let mut parts = text.split('-');
    let y: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    Some(y * 10_000 + m * 100 + d)
}

fn date_number(date: &Date) -> u32 {
    u32::from(date.year) * 10_000 + u32::from(date.month) * 100 + u32::from(date.day)
}

/// The fixed point all multipliers are carried in: five percentages.
const MULTIPLIER_ONE: i128 = 10_000_000_000;
const MULTIPLIERS_MAX: usize = 5;

/// A product of at most five percentages, exact, in units of 1/`MULTIPLIER_ONE`.
struct Multiplier {
    value: i128,
    factors: usize,
    reasons: Vec<&'static str>,
}

impl Multiplier {
    fn new() -> Multiplier {
        Multiplier {
            value: 1,
            factors: 0,
            reasons: Vec::new(),
        }
    }

    fn times(&mut self, percent: Percent, reason: &'static str) {
        if self.factors < MULTIPLIERS_MAX {
            self.value *= i128::from(percent.clamp(0, 1000));
            self.factors += 1;
            self.reasons.push(reason);
        }
    }

    /// In units of 1/`MULTIPLIER_ONE`.
    fn scaled(&self) -> i128 {
        let mut value = self.value;
        for _ in self.factors..MULTIPLIERS_MAX {
            value *= 100;
        }
        value
    }
}

/// What an order line is worth after this scheme's discount, and the discount.
fn tier_discount(line: &OrderLine, rate_bp: Option<u32>, enabled: bool) -> i64 {
    let amount = line_total_fen(line);
    match rate_bp {
        Some(rate) if enabled && rate < 10_000 => {
            if line
                .flags
                .intersects(LineFlags::NO_DISCOUNT | LineFlags::PROMOTIONAL)
            {
                return 0;
            }
            // Half up to the fen: (amount × rate + 5000) / 10000.
            let kept = (i128::from(amount) * i128::from(rate) + 5_000) / 10_000;
            amount - i64::try_from(kept).unwrap_or(amount)
        }
        _ => 0,
    }
}

fn earns(line: &OrderLine, s: &Settings) -> bool {
    !line.flags.contains(LineFlags::NO_POINTS)
        && (s.promotional_earns || !line.flags.contains(LineFlags::PROMOTIONAL))
        && !s.excluded_skus.contains(&line.sku)
        && !s.excluded_categories.contains(&line.category)
}

/// The order-wide multiplier: store and date, time of day, member day, birthday.
fn order_multiplier(checkout: &Checkout, s: &Settings) -> Multiplier {
    let mut m = Multiplier::new();
    let today = date_number(&checkout.at.date);
    if let Some(rule) = s.store_multipliers.iter().find(|r| {
        r.store == checkout.store.code
            && day_number(&r.from).is_some_and(|from| from <= today)
            && day_number(&r.to).is_some_and(|to| today <= to)
    }) {
        m.times(rule.percent, "门店活动");
    }
    let now = u32::from(checkout.at.hour) * 60 + u32::from(checkout.at.minute);
    if let Some(window) = s.time_windows.iter().find(|w| {
        minutes(&w.from).is_some_and(|from| from <= now)
            && minutes(&w.to).is_some_and(|to| now < to)
    }) {
        m.times(window.percent, "时段加倍");
    }
    if let Some(day) = &s.member_day
        && day.day_of_month == checkout.at.date.day
    {
        m.times(day.percent, "会员日");
    }
    if let (Some(percent), Some(birthday)) = (s.birthday_percent, &checkout.member.birthday)
        && birthday.month == checkout.at.date.month
        && birthday.day == checkout.at.date.day
    {
        m.times(percent, "生日");
    }
    m
}

/// Points for one line's value: its own multiplier (product, else category).
fn line_multiplier(line: &OrderLine, s: &Settings) -> Option<Percent> {
    s.sku_multipliers
        .iter()
        .find(|k| k.key == line.sku)
        .or_else(|| {
            s.category_multipliers
                .iter()
                .find(|k| k.key == line.category)
        })
        .map(|k| k.percent)
}

/// Everything a quote proposes, and the points it promises.
fn quote(checkout: &Checkout, s: &Settings) -> Result<(Vec<Effect>, i64), HookError> {
    let tier = checkout.member.tier.as_ref();
    let rate_bp = tier
        .map(|t| i64::from(t.points_per_yuan_bp))
        .unwrap_or(s.base_points_per_yuan_bp.unwrap_or(10_000));
    let discount_rate = tier.map(|t| t.discount_rate_bp);
    let order = order_multiplier(checkout, s);
    let mut effects = Vec::new();
    let mut payable: i64 = 0;
    let mut value_for_growth: i64 = 0;
    // Σ net fen × rate bp × multiplier, divided once at the end.
    let mut points_exact: i128 = 0;
    let mut reasons = order.reasons.clone();
    for line in &checkout.lines {
        let discount = tier_discount(line, discount_rate, s.tier_discount.unwrap_or(true));
        if discount > 0 {
            effects.push(Effect::DiscountLine(LineDiscount {
                line: line.line,
                amount_fen: discount,
                reason: String::from(tier.map_or("会员折扣", |t| t.name.as_str())),
            }));
        }
        let net = line_total_fen(line) - discount;
        payable += net;
        if !earns(line, s) {
            continue;
        }
        value_for_growth += net;
        let mut multiplier = Multiplier {
            value: order.value,
            factors: order.factors,
            reasons: Vec::new(),
        };
        if let Some(percent) = line_multiplier(line, s) {
            multiplier.times(percent, "商品加倍");
            if percent != 100 && !reasons.contains(&"商品加倍") {
                reasons.push("商品加倍");
            }
        }
        points_exact += i128::from(net) * i128::from(rate_bp) * multiplier.scaled();
    }
    // fen → yuan (100), basis points (10 000), the multiplier's fixed point.
    let points = i64::try_from(points_exact / (100 * 10_000 * MULTIPLIER_ONE)).unwrap_or(0);
    if points > 0 {
        let reason = if reasons.is_empty() {
            String::from("消费积分")
        } else {
            let mut text = String::from("消费积分（");
            text.push_str(&reasons.join("、"));
            text.push('）');
            text
        };
        effects.push(earn(points, &reason));
    }
    if let Some(per_yuan) = s.growth_per_yuan {
        let growth = value_for_growth / 100 * per_yuan;
        if growth > 0 {
            effects.push(Effect::GrantGrowth(PointsGrant {
                to: Party::Member,
                points: growth,
                reason: String::from("消费成长值"),
            }));
        }
    }
    if let Some(offset) = &s.offset
        && offset.points_per_unit > 0
        && offset.unit_fen > 0
    {
        let cap_fen = payable * offset.cap_percent.clamp(0, 100) / 100;
        let units = cap_fen / offset.unit_fen;
        if units > 0 {
            effects.push(Effect::OfferPointsOffset(PointsOffset {
                max_points: units * offset.points_per_unit,
                points_per_unit: offset.points_per_unit,
                unit_fen: offset.unit_fen,
            }));
        }
    }
    Ok((effects, points))
}

impl Scheme for Standard {
    fn quote_checkout(checkout: Checkout) -> Result<Vec<Effect>, HookError> {
        Ok(quote(&checkout, &settings()?)?.0)
    }

    /// What the quote promised, and the referrer's share of its points.
    fn commit_checkout(committed: CommittedCheckout) -> Result<Vec<Effect>, HookError> {
        let s = settings()?;
        let mut effects = tongka_plugin_sdk::quoted_earnings(&committed.accepted);
        let earned: i64 = effects
            .iter()
            .map(|e| match e {
                Effect::EarnPoints(g) if g.to == Party::Member => g.points,
                _ => 0,
            })
            .sum();
        if let (Some(referral), Some(_)) = (&s.referral, &committed.checkout.member.referrer) {
            let share = earned * referral.share_percent.clamp(0, 100) / 100;
            if share > 0 {
                effects.push(Effect::EarnPoints(PointsGrant {
                    to: Party::Referrer,
                    points: share,
                    reason: String::from("推荐奖励"),
                }));
            }
        }
        Ok(effects)
    }

    fn top_up(top_up: TopUp) -> Result<Vec<Effect>, HookError> {
        let s = settings()?;
        let Some(offer) = s
            .top_up_offers
            .iter()
            .filter(|o| o.min_fen <= top_up.paid_fen)
            .max_by_key(|o| o.min_fen)
        else {
            return Ok(Vec::new());
        };
        let mut effects = Vec::new();
        if offer.bonus_fen > 0 {
            effects.push(match offer.bonus_months {
                None => Effect::BonusStoredValue(offer.bonus_fen),
                Some(months) => Effect::BonusStoredValueMonthly(MonthlyBonus {
                    amount_fen: offer.bonus_fen,
                    months,
                }),
            });
        }
        if offer.bonus_points > 0 {
            effects.push(earn(offer.bonus_points, "充值赠送积分"));
        }
        if let Some(tier) = &offer.tier {
            effects.push(Effect::SetTier(tier.clone()));
        }
        Ok(effects)
    }

    fn member_joined(member: MemberSummary, _at: LocalTime) -> Result<Vec<Effect>, HookError> {
        let s = settings()?;
        let mut effects = Vec::new();
        if let Some(points) = s.welcome_points.filter(|p| *p > 0) {
            effects.push(earn(points, "开卡赠送积分"));
        }
        if let (Some(referral), Some(_)) = (&s.referral, &member.referrer)
            && referral.join_points > 0
        {
            effects.push(Effect::EarnPoints(PointsGrant {
                to: Party::Referrer,
                points: referral.join_points,
                reason: String::from("推荐开卡奖励"),
            }));
        }
        Ok(effects)
    }

    fn daily_tick(member: MemberSummary, today: Date) -> Result<Vec<Effect>, HookError> {
        let s = settings()?;
        let (Some(points), Some(birthday)) =
            (s.birthday_points.filter(|p| *p > 0), member.birthday)
        else {
            return Ok(Vec::new());
        };
        let year = today.year;
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let (month, day) = match (birthday.month, birthday.day) {
            (2, 29) if !leap => (2, 28),
            other => other,
        };
        if (month, day) == (today.month, today.day) {
            Ok(vec![earn(points, "生日礼积分")])
        } else {
            Ok(Vec::new())
        }
    }
}

tongka_plugin_sdk::export_scheme!(Standard);
