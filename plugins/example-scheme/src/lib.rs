//! The example scheme: `points_per_yuan` points for each whole yuan spent on lines that earn
//! points, doubled on the member's birthday. Configured with `{"points_per_yuan": N}`.

#![no_std]

use tongka_plugin_sdk::prelude::*;

struct Example;

fn points_per_yuan() -> Result<i64, HookError> {
    config_integer("points_per_yuan")
        .ok_or_else(|| HookError::Misconfigured("points_per_yuan".to_string()))
}

impl Scheme for Example {
    fn quote_checkout(checkout: Checkout) -> Result<Vec<Effect>, HookError> {
        let yuan = order_total_fen(&checkout.lines, LineFlags::NO_POINTS) / 100;
        let birthday = checkout
            .member
            .birthday
            .is_some_and(|b| b.month == checkout.at.date.month && b.day == checkout.at.date.day);
        let points = yuan.saturating_mul(points_per_yuan()?) * if birthday { 2 } else { 1 };
        if birthday {
            info("birthday: points doubled");
        }
        Ok(vec![earn(
            points,
            if birthday {
                "生日双倍积分"
            } else {
                "消费积分"
            },
        )])
    }
}

tongka_plugin_sdk::export_scheme!(Example);
// No `std`: the plugin imports nothing from WASI, the fastest call (docs/plugins.md).
tongka_plugin_sdk::no_std_runtime!();
