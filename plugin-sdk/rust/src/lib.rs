//! Write Tongka plugins in Rust.
//!
//! The bindings are generated from `plugin-sdk/wit`, the one definition of the interface. A
//! loyalty scheme implements [`Scheme`] and calls [`export_scheme!`]:
//!
//! ```ignore
//! use tongka_plugin_sdk::prelude::*;
//!
//! struct MyScheme;
//!
//! impl Scheme for MyScheme {
//!     fn quote_checkout(checkout: Checkout) -> Result<Vec<Effect>, HookError> {
//!         let spent = order_total_fen(&checkout.lines, LineFlags::NO_POINTS);
//!         Ok(vec![earn(spent / 100, "消费积分")])
//!     }
//! }
//!
//! tongka_plugin_sdk::export_scheme!(MyScheme);
//! ```
//!
//! Every hook has a default answer (no effects), so a scheme implements only the hooks it uses.

#![no_std]

extern crate alloc;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub mod runtime;

use alloc::string::String;
use alloc::vec::Vec;

wit_bindgen::generate!({
    path: "../wit",
    world: "loyalty-scheme",
    pub_export_macro: true,
    export_macro_name: "export_loyalty_scheme",
    default_bindings_module: "tongka_plugin_sdk",
});

pub use exports::tongka::plugin::scheme::{
    Checkout, CommittedCheckout, RefundOrder as Refund, TopUpOrder as TopUp,
};
pub use tongka::plugin::types::{
    Asset, CouponGrant, Date, Effect, HookError, LineDiscount, LineFlags, LocalTime, MemberSummary,
    Message, Money, MonthlyBonus, OrderLine, Party, PointsGrant, PointsOffset, Store, Tier,
};
pub use tongka::plugin::{config, kv, log};

/// What a scheme plugin implements. Each hook defaults to "no effects", except
/// `commit_checkout`, which by default earns what the quote promised.
pub trait Scheme {
    fn quote_checkout(_checkout: Checkout) -> Result<Vec<Effect>, HookError> {
        Ok(Vec::new())
    }
    /// By default the points and growth of the accepted quote: what the member was shown is what
    /// they get.
    fn commit_checkout(checkout: CommittedCheckout) -> Result<Vec<Effect>, HookError> {
        Ok(quoted_earnings(&checkout.accepted))
    }
    fn top_up(_top_up: TopUp) -> Result<Vec<Effect>, HookError> {
        Ok(Vec::new())
    }
    fn member_joined(_member: MemberSummary, _at: LocalTime) -> Result<Vec<Effect>, HookError> {
        Ok(Vec::new())
    }
    fn refund(_refund: Refund) -> Result<Vec<Effect>, HookError> {
        Ok(Vec::new())
    }
    fn daily_tick(_member: MemberSummary, _today: Date) -> Result<Vec<Effect>, HookError> {
        Ok(Vec::new())
    }
}

/// Adapts a [`Scheme`] to the generated bindings. Used by [`export_scheme!`].
#[doc(hidden)]
pub struct Adapter<S>(core::marker::PhantomData<S>);

impl<S: Scheme> exports::tongka::plugin::scheme::Guest for Adapter<S> {
    fn quote_checkout(checkout: Checkout) -> Result<Vec<Effect>, HookError> {
        S::quote_checkout(checkout)
    }
    fn commit_checkout(checkout: CommittedCheckout) -> Result<Vec<Effect>, HookError> {
        S::commit_checkout(checkout)
    }
    fn top_up(top_up: TopUp) -> Result<Vec<Effect>, HookError> {
        S::top_up(top_up)
    }
    fn member_joined(member: MemberSummary, at: LocalTime) -> Result<Vec<Effect>, HookError> {
        S::member_joined(member, at)
    }
    fn refund(refund: Refund) -> Result<Vec<Effect>, HookError> {
        S::refund(refund)
    }
    fn daily_tick(member: MemberSummary, today: Date) -> Result<Vec<Effect>, HookError> {
        S::daily_tick(member, today)
    }
}

/// Exports a type implementing [`Scheme`] as the plugin's loyalty scheme.
#[macro_export]
macro_rules! export_scheme {
    ($scheme:ty) => {
        type __TongkaScheme = $crate::Adapter<$scheme>;
        $crate::export_loyalty_scheme!(__TongkaScheme with_types_in $crate);
    };
}

/// The value of a line in fen: unit price × quantity in thousandths, rounded half up to the fen
/// exactly as the box prices it; zero if negative or overflowing.
pub fn line_total_fen(line: &OrderLine) -> i64 {
    line.unit_price_fen
        .checked_mul(i64::from(line.quantity_milli))
        .and_then(|milli| milli.checked_add(500))
        .map_or(0, |milli| milli / 1000)
        .max(0)
}

/// The points and growth among `effects`: what a quote promised and a commit earns.
pub fn quoted_earnings(effects: &[Effect]) -> Vec<Effect> {
    effects
        .iter()
        .filter(|effect| matches!(effect, Effect::EarnPoints(_) | Effect::GrantGrowth(_)))
        .cloned()
        .collect()
}

/// The order's value in fen, without the lines carrying any of `excluded`.
pub fn order_total_fen(lines: &[OrderLine], excluded: LineFlags) -> i64 {
    lines
        .iter()
        .filter(|line| !line.flags.intersects(excluded))
        .map(line_total_fen)
        .fold(0i64, i64::saturating_add)
}

/// Points for the member, with the reason shown on their statement.
pub fn earn(points: i64, reason: &str) -> Effect {
    Effect::EarnPoints(PointsGrant {
        to: Party::Member,
        points,
        reason: String::from(reason),
    })
}

/// A whole-number setting from the plugin's configuration (`{"points_per_yuan": 2}`), read
/// without a JSON library; `None` if absent or not a whole number. The box has already checked
/// the configuration against the manifest's schema.
pub fn config_integer(name: &str) -> Option<i64> {
    let config = config::get();
    let key = alloc::format!("\"{name}\"");
    let rest = config.split(key.as_str()).nth(1)?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let end = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && *c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

/// Logs at info level under the plugin's name.
pub fn info(message: &str) {
    log::write(log::Level::Info, message);
}

pub mod prelude {
    pub use crate::{
        Asset, Checkout, CommittedCheckout, Date, Effect, HookError, LineDiscount, LineFlags,
        LocalTime, MemberSummary, Money, MonthlyBonus, OrderLine, Party, PointsGrant, PointsOffset,
        Refund, Scheme, Store, Tier, TopUp, config_integer, earn, info, line_total_fen,
        order_total_fen, quoted_earnings,
    };
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}
