//! Which effects each hook may give. A plugin proposes; the host refuses what the hook cannot
//! mean (a tier change from a quote, points taken in a checkout, a refund that adds points), and
//! the caller checks the rest against the order and the balances before committing anything.

use crate::Hook;
use crate::bindings::scheme::tongka::plugin::types::{Effect, Party};

/// The most effects one answer may hold.
const EFFECTS_MAX: usize = 64;
/// No single effect moves more than this many minor units.
const AMOUNT_MAX: i64 = 1_000_000_000_000;
/// Reasons, templates and values are short texts.
const TEXT_CHARS_MAX: usize = 200;
/// The longest a bonus may be spread, in months (the box's own limit, three years).
const BONUS_MONTHS_MAX: u8 = 36;

/// Which way an amount may go for a hook.
#[derive(Clone, Copy)]
enum Sign {
    /// Zero or more: giving.
    Give,
    /// Zero or less: taking back.
    TakeBack,
    /// Either: expiry, corrections.
    Any,
}

fn amount(what: &str, value: i64, sign: Sign) -> Result<(), String> {
    let fits = match sign {
        Sign::Give => (0..=AMOUNT_MAX).contains(&value),
        Sign::TakeBack => (-AMOUNT_MAX..=0).contains(&value),
        Sign::Any => (-AMOUNT_MAX..=AMOUNT_MAX).contains(&value),
    };
    if fits {
        Ok(())
    } else {
        Err(format!("{what} of {value} is out of range for this hook"))
    }
}

fn text(what: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > TEXT_CHARS_MAX || value.chars().any(char::is_control) {
        Err(format!(
            "{what} is over {TEXT_CHARS_MAX} characters or holds control characters"
        ))
    } else {
        Ok(())
    }
}

fn name(effect: &Effect) -> &'static str {
    match effect {
        Effect::EarnPoints(_) => "earn-points",
        Effect::OfferPointsOffset(_) => "offer-points-offset",
        Effect::DiscountLine(_) => "discount-line",
        Effect::DiscountOrder(_) => "discount-order",
        Effect::GrantGrowth(_) => "grant-growth",
        Effect::BonusStoredValue(_) => "bonus-stored-value",
        Effect::BonusStoredValueMonthly(_) => "bonus-stored-value-monthly",
        Effect::IssueCoupon(_) => "issue-coupon",
        Effect::SetTier(_) => "set-tier",
        Effect::SendMessage(_) => "send-message",
    }
}

pub(crate) fn check(hook: Hook, effects: &[Effect]) -> Result<(), String> {
    if effects.len() > EFFECTS_MAX {
        return Err(format!("{} effects; at most {EFFECTS_MAX}", effects.len()));
    }
    for effect in effects {
        let refused = || format!("{} is not something {} may do", name(effect), hook.as_str());
        match (hook, effect) {
            (Hook::QuoteCheckout, Effect::EarnPoints(grant) | Effect::GrantGrowth(grant)) => {
                if grant.to != Party::Member {
                    return Err(format!(
                        "{}: a quote gives to the member only",
                        name(effect)
                    ));
                }
                amount(name(effect), grant.points, Sign::Give)?;
                text("reason", &grant.reason)?;
            }
            (Hook::QuoteCheckout, Effect::OfferPointsOffset(offset)) => {
                amount(
                    "offer-points-offset max-points",
                    offset.max_points,
                    Sign::Give,
                )?;
                // A step of zero points or zero value means nothing and would divide by zero.
                if offset.points_per_unit <= 0 || offset.unit_fen <= 0 {
                    return Err(
                        "offer-points-offset: points-per-unit and unit-fen must be positive".into(),
                    );
                }
                amount(
                    "offer-points-offset points-per-unit",
                    offset.points_per_unit,
                    Sign::Give,
                )?;
                amount("offer-points-offset unit-fen", offset.unit_fen, Sign::Give)?;
            }
            (Hook::QuoteCheckout, Effect::DiscountLine(discount)) => {
                amount("discount-line", discount.amount_fen, Sign::Give)?;
                text("reason", &discount.reason)?;
            }
            (Hook::QuoteCheckout, Effect::DiscountOrder(fen)) => {
                amount("discount-order", *fen, Sign::Give)?;
            }
            (
                Hook::CommitCheckout | Hook::TopUp | Hook::MemberJoined,
                Effect::EarnPoints(grant) | Effect::GrantGrowth(grant),
            ) => {
                amount(name(effect), grant.points, Sign::Give)?;
                text("reason", &grant.reason)?;
            }
            (Hook::Refund, Effect::EarnPoints(grant) | Effect::GrantGrowth(grant)) => {
                amount(name(effect), grant.points, Sign::TakeBack)?;
                text("reason", &grant.reason)?;
            }
            (Hook::DailyTick, Effect::EarnPoints(grant) | Effect::GrantGrowth(grant)) => {
                amount(name(effect), grant.points, Sign::Any)?;
                text("reason", &grant.reason)?;
            }
            (Hook::TopUp, Effect::BonusStoredValue(fen)) => {
                amount("bonus-stored-value", *fen, Sign::Give)?;
            }
            (Hook::TopUp, Effect::BonusStoredValueMonthly(bonus)) => {
                amount("bonus-stored-value-monthly", bonus.amount_fen, Sign::Give)?;
                if !(1..=BONUS_MONTHS_MAX).contains(&bonus.months) {
                    return Err(format!(
                        "bonus-stored-value-monthly: months must be 1 to {BONUS_MONTHS_MAX}, not {}",
                        bonus.months
                    ));
                }
            }
            (
                Hook::CommitCheckout | Hook::TopUp | Hook::MemberJoined | Hook::DailyTick,
                Effect::IssueCoupon(coupon),
            ) => text("template", &coupon.template)?,
            (
                Hook::CommitCheckout | Hook::TopUp | Hook::MemberJoined | Hook::DailyTick,
                Effect::SetTier(tier),
            ) => text("tier", tier)?,
            (_, Effect::SendMessage(message)) if hook != Hook::QuoteCheckout => {
                text("template", &message.template)?;
                if message.values.len() > 16 {
                    return Err("a message has at most 16 values".into());
                }
                for (key, value) in &message.values {
                    text("message key", key)?;
                    text("message value", value)?;
                }
            }
            _ => return Err(refused()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::scheme::tongka::plugin::types::{LineDiscount, PointsGrant};

    fn grant(to: Party, points: i64) -> PointsGrant {
        PointsGrant {
            to,
            points,
            reason: "r".into(),
        }
    }

    #[test]
    fn each_hook_gives_only_what_it_may() {
        let earn = Effect::EarnPoints(grant(Party::Member, 10));
        assert!(check(Hook::QuoteCheckout, std::slice::from_ref(&earn)).is_ok());
        assert!(check(Hook::QuoteCheckout, &[Effect::SetTier("gold".into())]).is_err());
        assert!(
            check(
                Hook::QuoteCheckout,
                &[Effect::EarnPoints(grant(Party::Referrer, 1))]
            )
            .is_err()
        );
        assert!(
            check(
                Hook::QuoteCheckout,
                &[Effect::EarnPoints(grant(Party::Member, -1))]
            )
            .is_err()
        );
        assert!(
            check(
                Hook::Refund,
                &[Effect::EarnPoints(grant(Party::Member, -10))]
            )
            .is_ok()
        );
        assert!(
            check(Hook::Refund, std::slice::from_ref(&earn)).is_err(),
            "a refund adds no points"
        );
        assert!(check(Hook::TopUp, &[Effect::BonusStoredValue(2_000)]).is_ok());
        assert!(check(Hook::QuoteCheckout, &[Effect::BonusStoredValue(2_000)]).is_err());
        let monthly = |amount_fen, months| {
            Effect::BonusStoredValueMonthly(
                crate::bindings::scheme::tongka::plugin::types::MonthlyBonus { amount_fen, months },
            )
        };
        assert!(check(Hook::TopUp, &[monthly(2_000, 12)]).is_ok());
        assert!(check(Hook::TopUp, &[monthly(2_000, 1)]).is_ok());
        assert!(check(Hook::TopUp, &[monthly(2_000, 0)]).is_err());
        assert!(check(Hook::TopUp, &[monthly(2_000, 37)]).is_err());
        assert!(check(Hook::TopUp, &[monthly(-1, 12)]).is_err());
        assert!(check(Hook::CommitCheckout, &[monthly(2_000, 12)]).is_err());
        assert!(
            check(
                Hook::DailyTick,
                &[Effect::EarnPoints(grant(Party::Member, -5))]
            )
            .is_ok()
        );
        assert!(
            check(
                Hook::QuoteCheckout,
                &[Effect::DiscountLine(LineDiscount {
                    line: 1,
                    amount_fen: AMOUNT_MAX + 1,
                    reason: String::new()
                })]
            )
            .is_err()
        );
        assert!(check(Hook::QuoteCheckout, &vec![earn; EFFECTS_MAX + 1]).is_err());
    }
}
