//! What the crash writer and the crash test agree on.

/// Accounts the writer moves money between.
pub const ACCOUNTS: u128 = 16;

/// The three transfer ids of batch `batch` in round `round`.
pub fn batch_ids(round: u64, batch: u64) -> [u128; 3] {
    let base = (u128::from(round) << 64) | (u128::from(batch) * 3 + 1);
    [base, base + 1, base + 2]
}
