//! What the crash tests share: the seed of their random moments, and what the ledger's crash
//! writer and its test agree on.

/// Accounts the writer moves money between.
pub const ACCOUNTS: u128 = 16;

/// The three transfer ids of batch `batch` in round `round`.
pub fn batch_ids(round: u64, batch: u64) -> [u128; 3] {
    let base = (u128::from(round) << 64) | (u128::from(batch) * 3 + 1);
    [base, base + 1, base + 2]
}

/// The seed of a crash test's random moments: `CRASH_SEED` if set (to replay a failure), else
/// the clock. Printed, so a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |since| since.as_nanos() as u64)
                | 1
        });
    eprintln!("{test} seed: {seed} (replay with CRASH_SEED={seed})");
    seed
}

/// The next number of a xorshift sequence (never zero from a non-zero state).
pub fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
