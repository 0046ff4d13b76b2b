//! Misbehaves on purpose, as its config's `mode` says, so the host's limits can be shown to hold:
//! `loop` never returns, `memory` allocates without end, `trap` hits `unreachable`, `kv` uses a
//! capability it was not granted, `effect` answers an effect the hook may not give, `count` shows each call starts fresh,
//! `panic` panics, `ok` behaves. `commit_mode` does the same in `commit-checkout` (whose `ok` gives
//! nothing), so a checkout can be made to fail after its quote succeeded.
//!
//! Without `std`, as `tongka-plugin new` makes plugins: the limits must hold for the SDK's
//! runtime (its call arena meets the memory cap; a panic reaches the host as a logged error).

#![no_std]

extern crate alloc;

use tongka_plugin_sdk::prelude::*;

struct Misbehave;

/// The setting `key`'s text, read without a JSON library.
fn setting(key: &str) -> String {
    let config = tongka_plugin_sdk::config::get();
    let pattern = alloc::format!("\"{key}\":\"");
    config
        .split(pattern.as_str())
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("ok")
        .to_string()
}

impl Scheme for Misbehave {
    fn quote_checkout(checkout: Checkout) -> Result<Vec<Effect>, HookError> {
        misbehave(&setting("mode"), checkout.lines.len())
    }

    fn commit_checkout(_checkout: CommittedCheckout) -> Result<Vec<Effect>, HookError> {
        match setting("commit_mode").as_str() {
            "ok" => Ok(Vec::new()),
            mode => misbehave(mode, 0),
        }
    }
}

fn misbehave(mode: &str, lines: usize) -> Result<Vec<Effect>, HookError> {
    {
        match mode {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = core::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    core::hint::black_box(&hoard);
                }
            }
            "trap" => core::arch::wasm32::unreachable(),
            "kv" => {
                let _ = tongka_plugin_sdk::kv::set("k", b"v");
                Ok(Vec::new())
            }
            // A fresh instance per call: this counter is 1 every time.
            "count" => {
                static CALLS: core::sync::atomic::AtomicI64 = core::sync::atomic::AtomicI64::new(0);
                let calls = CALLS.fetch_add(1, core::sync::atomic::Ordering::Relaxed) + 1;
                Ok(vec![earn(calls, "calls")])
            }
            "panic" => panic!("a plugin bug"),
            // A tier change is not something a quote may do.
            "effect" => Ok(vec![Effect::SetTier("gold".to_string())]),
            _ => Ok(vec![earn(lines as i64, "ok")]),
        }
    }
}

tongka_plugin_sdk::export_scheme!(Misbehave);
tongka_plugin_sdk::no_std_runtime!();
