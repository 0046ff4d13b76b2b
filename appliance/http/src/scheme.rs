//! The till's [`Scheme`]: the loyalty-scheme plugins the merchant routed to each hook, called in
//! their route's order, their effects put together. The domain checks and commits them; this
//! only translates between the domain's types and the plugin interface's.
//!
//! Calls are synchronous and bounded by each plugin's deadline (milliseconds), so they run on
//! the request's task.

use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tongka_domain::{
    Effect, LocalTime, Paid, Party, SchemeContext, SchemeFailure, SchemeMember, StoreKind, TillLine,
};
use tongka_plugin_host::registry::{Plugins, Routed, Routing};
use tongka_plugin_host::trial::error_kind;
use tongka_plugin_host::{self as host, Answer, CallError, Hook};

/// The routed plugins, as one scheme.
#[derive(Debug)]
pub struct RoutedScheme {
    plugins: Arc<Plugins>,
    /// The last rules version made, with the routing and the loaded routes it was made from:
    /// every quote and commit asks, and the rules rarely change.
    version: Mutex<Option<RulesVersion>>,
}

#[derive(Debug)]
struct RulesVersion {
    routing: Arc<Routing>,
    /// Whether each routed plugin (every hook's, in order) was loaded.
    loaded: Vec<bool>,
    version: String,
}

impl RoutedScheme {
    pub fn new(plugins: Arc<Plugins>) -> RoutedScheme {
        RoutedScheme {
            plugins,
            version: Mutex::new(None),
        }
    }

    /// The routes, as the registry keeps them between changes.
    fn routing(&self) -> Result<Arc<Routing>, SchemeFailure> {
        self.plugins
            .registry
            .routing()
            .map_err(|error| SchemeFailure {
                plugin: String::new(),
                kind: "registry".into(),
                detail: error.to_string(),
            })
    }

    /// The loaded plugins routed to `hook`, in order: a routed plugin the merchant disabled is
    /// skipped.
    fn routed<'a>(&'a self, routing: &'a Routing, hook: Hook) -> impl Iterator<Item = &'a Routed> {
        routing
            .routed(hook)
            .iter()
            .filter(|routed| self.plugins.host.plugin(&routed.id).is_some())
    }

    fn each(
        &self,
        hook: Hook,
        call: impl Fn(&host::Host, &str) -> Result<Answer, CallError>,
    ) -> Result<Vec<Effect>, SchemeFailure> {
        let mut effects = Vec::new();
        let routing = self.routing()?;
        for Routed { id, .. } in self.routed(&routing, hook) {
            let answer = call(&self.plugins.host, id).map_err(|error| SchemeFailure {
                kind: error_kind(&error).into(),
                detail: error.to_string(),
                plugin: id.clone(),
            })?;
            effects.extend(answer.effects.into_iter().map(from_plugin));
        }
        Ok(effects)
    }
}

impl tongka_domain::Scheme for RoutedScheme {
    fn quote_checkout(
        &self,
        context: &SchemeContext<'_>,
        lines: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        let checkout = checkout(context, lines);
        self.each(Hook::QuoteCheckout, |host, id| {
            host.quote_checkout(id, &checkout)
        })
    }

    fn commit_checkout(
        &self,
        context: &SchemeContext<'_>,
        lines: &[TillLine],
        paid: Paid,
        accepted: &[Effect],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        let money = |asset, units: u64| host::Money {
            asset,
            minor_units: i64::try_from(units).unwrap_or(i64::MAX),
        };
        let committed = host::CommittedCheckout {
            checkout: checkout(context, lines),
            paid: [
                money(host::Asset::Cny, paid.stored_value_fen),
                money(host::Asset::Points, paid.points),
                money(host::Asset::Cny, paid.other_fen),
            ]
            .into_iter()
            .filter(|m| m.minor_units > 0)
            .collect(),
            accepted: accepted.iter().map(to_plugin).collect(),
        };
        self.each(Hook::CommitCheckout, |host, id| {
            host.commit_checkout(id, &committed)
        })
    }

    fn top_up(
        &self,
        context: &SchemeContext<'_>,
        paid_fen: u64,
    ) -> Result<Vec<Effect>, SchemeFailure> {
        let order = host::TopUpOrder {
            order: context.order.to_owned(),
            member: member(&context.member),
            store: store(context),
            at: time(context.at),
            paid_fen: i64::try_from(paid_fen).unwrap_or(i64::MAX),
        };
        self.each(Hook::TopUp, |host, id| host.top_up(id, &order))
    }

    fn refund(
        &self,
        context: &SchemeContext<'_>,
        original: &str,
        lines: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        let order = host::RefundOrder {
            order: context.order.to_owned(),
            original_order: original.to_owned(),
            member: member(&context.member),
            store: store(context),
            at: time(context.at),
            lines: lines.iter().map(line).collect(),
        };
        self.each(Hook::Refund, |host, id| host.refund(id, &order))
    }

    fn member_joined(&self, context: &SchemeContext<'_>) -> Result<Vec<Effect>, SchemeFailure> {
        let summary = member(&context.member);
        let at = time(context.at);
        self.each(Hook::MemberJoined, |host, id| {
            host.member_joined(id, &summary, at)
        })
    }

    fn ticks(&self) -> bool {
        self.routing()
            .is_ok_and(|routing| self.routed(&routing, Hook::DailyTick).next().is_some())
    }

    fn daily_tick(&self, context: &SchemeContext<'_>) -> Result<Vec<Effect>, SchemeFailure> {
        let summary = member(&context.member);
        let today = date(context.at.date);
        self.each(Hook::DailyTick, |host, id| {
            host.daily_tick(id, &summary, today)
        })
    }

    fn rules_version(&self) -> String {
        let Ok(routing) = self.routing() else {
            // The quote's own hook call fails on the same error first: no token is made.
            return String::new();
        };
        // A plugin may be disabled or enabled without a change of routes.
        let loaded: Vec<bool> = Hook::ALL
            .into_iter()
            .flat_map(|hook| routing.routed(hook))
            .map(|routed| self.plugins.host.plugin(&routed.id).is_some())
            .collect();
        let mut kept = self
            .version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(kept) = kept.as_ref()
            && Arc::ptr_eq(&kept.routing, &routing)
            && kept.loaded == loaded
        {
            return kept.version.clone();
        }
        // Every hook's route, and each routed plugin's component and settings.
        let mut hash = Sha256::new();
        for hook in Hook::ALL {
            hash.update(hook.as_str());
            for Routed { id, sha256, config } in self.routed(&routing, hook) {
                hash.update(id.as_bytes());
                hash.update(sha256.as_bytes());
                hash.update(config.as_bytes());
                hash.update([0]);
            }
        }
        let version: String = hash
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        *kept = Some(RulesVersion {
            routing,
            loaded,
            version: version.clone(),
        });
        version
    }
}

fn date(d: tongka_domain::Date) -> host::Date {
    host::Date {
        year: d.year,
        month: d.month,
        day: d.day,
    }
}

fn time(t: LocalTime) -> host::LocalTime {
    host::LocalTime {
        date: date(t.date),
        hour: t.hour,
        minute: t.minute,
        second: t.second,
        utc_offset_minutes: t.utc_offset_minutes,
    }
}

/// A decimal rate of at most 4 places as basis points (`0.95` → 9500).
fn basis_points(rate: rust_decimal::Decimal) -> u32 {
    (rate * rust_decimal::Decimal::from(10_000))
        .trunc()
        .try_into()
        .unwrap_or(0)
}

fn saturating_i64(value: u128) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn member(m: &SchemeMember) -> host::MemberSummary {
    host::MemberSummary {
        id: m.id.to_string(),
        tier: m.tier.as_ref().map(|t| host::TierInfo {
            id: t.id.to_string(),
            name: t.name.clone(),
            rank: t.rank,
            discount_rate_bp: basis_points(t.discount_rate),
            points_per_yuan_bp: basis_points(t.points_rate),
        }),
        tags: m.tags.clone(),
        birthday: m.birthday.map(date),
        joined_on: date(m.joined_on),
        home_store: m.home_store.map(|s| s.to_string()),
        referrer: m.referrer.map(|r| r.to_string()),
        points: saturating_i64(m.balances.points),
        stored_value_fen: saturating_i64(m.balances.principal_fen + m.balances.bonus_fen),
        stats: host::MemberStats {
            total_spend_fen: i64::try_from(m.stats.total_spend_fen).unwrap_or(i64::MAX),
            visits: m.stats.visits,
            last_visit: m.stats.last_visit.map(date),
        },
    }
}

fn store(context: &SchemeContext<'_>) -> host::StoreInfo {
    host::StoreInfo {
        id: context.store.id.to_string(),
        code: context.store.code.clone(),
        kind: match context.store.kind {
            StoreKind::Direct => host::StoreKind::Direct,
            StoreKind::Franchise => host::StoreKind::Franchise,
        },
    }
}

fn line(l: &TillLine) -> host::OrderLine {
    let mut flags = host::LineFlags::empty();
    if l.promotional {
        flags |= host::LineFlags::PROMOTIONAL;
    }
    if l.no_points {
        flags |= host::LineFlags::NO_POINTS;
    }
    if l.no_discount {
        flags |= host::LineFlags::NO_DISCOUNT;
    }
    host::OrderLine {
        line: l.line,
        sku: l.sku.clone(),
        category: l.category.clone(),
        quantity_milli: l.quantity_milli,
        unit_price_fen: i64::try_from(l.unit_price_fen).unwrap_or(i64::MAX),
        flags,
    }
}

fn checkout(context: &SchemeContext<'_>, lines: &[TillLine]) -> host::Checkout {
    host::Checkout {
        order: context.order.to_owned(),
        member: member(&context.member),
        store: store(context),
        at: time(context.at),
        lines: lines.iter().map(line).collect(),
    }
}

fn party(p: host::Party) -> Party {
    match p {
        host::Party::Member => Party::Member,
        host::Party::Referrer => Party::Referrer,
    }
}

fn to_party(p: Party) -> host::Party {
    match p {
        Party::Member => host::Party::Member,
        Party::Referrer => host::Party::Referrer,
    }
}

fn from_plugin(effect: host::Effect) -> Effect {
    match effect {
        host::Effect::EarnPoints(g) => Effect::EarnPoints {
            to: party(g.to),
            points: g.points,
            reason: g.reason,
        },
        host::Effect::GrantGrowth(g) => Effect::GrantGrowth {
            to: party(g.to),
            points: g.points,
            reason: g.reason,
        },
        host::Effect::OfferPointsOffset(o) => Effect::OfferPointsOffset {
            max_points: o.max_points,
            points_per_unit: o.points_per_unit,
            unit_fen: o.unit_fen,
        },
        host::Effect::DiscountLine(d) => Effect::DiscountLine {
            line: d.line,
            amount_fen: d.amount_fen,
            reason: d.reason,
        },
        host::Effect::DiscountOrder(fen) => Effect::DiscountOrder { amount_fen: fen },
        host::Effect::BonusStoredValue(fen) => Effect::BonusStoredValue {
            amount_fen: fen,
            months: None,
        },
        host::Effect::BonusStoredValueMonthly(bonus) => Effect::BonusStoredValue {
            amount_fen: bonus.amount_fen,
            months: Some(u32::from(bonus.months)),
        },
        host::Effect::IssueCoupon(c) => Effect::IssueCoupon {
            to: party(c.to),
            template: c.template,
        },
        host::Effect::SetTier(tier) => Effect::SetTier { tier },
        host::Effect::SendMessage(m) => Effect::SendMessage {
            to: party(m.to),
            template: m.template,
            values: m.values,
        },
    }
}

fn to_plugin(effect: &Effect) -> host::Effect {
    let grant = |to: &Party, points: &i64, reason: &String| host::PointsGrant {
        to: to_party(*to),
        points: *points,
        reason: reason.clone(),
    };
    match effect {
        Effect::EarnPoints { to, points, reason } => {
            host::Effect::EarnPoints(grant(to, points, reason))
        }
        Effect::GrantGrowth { to, points, reason } => {
            host::Effect::GrantGrowth(grant(to, points, reason))
        }
        Effect::OfferPointsOffset {
            max_points,
            points_per_unit,
            unit_fen,
        } => host::Effect::OfferPointsOffset(host::PointsOffset {
            max_points: *max_points,
            points_per_unit: *points_per_unit,
            unit_fen: *unit_fen,
        }),
        Effect::DiscountLine {
            line,
            amount_fen,
            reason,
        } => host::Effect::DiscountLine(host::LineDiscount {
            line: *line,
            amount_fen: *amount_fen,
            reason: reason.clone(),
        }),
        Effect::DiscountOrder { amount_fen } => host::Effect::DiscountOrder(*amount_fen),
        Effect::BonusStoredValue {
            amount_fen,
            months: None,
        } => host::Effect::BonusStoredValue(*amount_fen),
        Effect::BonusStoredValue {
            amount_fen,
            months: Some(months),
        } => host::Effect::BonusStoredValueMonthly(host::MonthlyBonus {
            amount_fen: *amount_fen,
            // A schedule the host accepted fits; one past it is refused at the till anyway.
            months: u8::try_from(*months).unwrap_or(u8::MAX),
        }),
        Effect::IssueCoupon { to, template } => host::Effect::IssueCoupon(host::CouponGrant {
            to: to_party(*to),
            template: template.clone(),
        }),
        Effect::SetTier { tier } => host::Effect::SetTier(tier.clone()),
        Effect::SendMessage {
            to,
            template,
            values,
        } => host::Effect::SendMessage(host::Message {
            to: to_party(*to),
            template: template.clone(),
            values: values.clone(),
        }),
    }
}
