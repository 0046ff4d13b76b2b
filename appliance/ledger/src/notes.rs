//! Notes: a caller's own bytes logged with its batch, so one log sync makes both durable.
//!
//! A caller that keeps its own record of a batch elsewhere (the till's order, in the directory)
//! passes it as a note (`Ledger::create_transfers_noted`). The note goes into the batch's log
//! record and nowhere else: the ledger neither reads nor stores it in its tables. The caller then
//! writes its record without syncing, and the log keeps the note until that record is durable:
//!
//! - the caller holds a `NoteGuard` until its record is written (not yet durable);
//! - before a checkpoint lets a half of the log be written again, it waits for every guard of that
//!   half to be dropped, then runs the caller's `CheckpointHook`, which makes its records durable;
//! - a note whose record may not have been made durable is handed back by `Ledger::open` after a
//!   crash (`Ledger::replayed_notes`), and kept in the tables until the caller says it has them
//!   (`Ledger::forget_replayed_notes`), so a crash during that recovery loses nothing either.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Makes durable whatever the callers wrote for the notes whose guards are gone. Runs on the
/// ledger's applier thread before a checkpoint returns; an error stops the ledger's writer.
pub type CheckpointHook = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Where the hook is kept, once set.
#[derive(Default)]
pub(crate) struct HookSlot(OnceLock<CheckpointHook>);

impl HookSlot {
    pub(crate) fn set(&self, hook: CheckpointHook) {
        let _ = self.0.set(hook);
    }

    pub(crate) fn get(&self) -> Option<&CheckpointHook> {
        self.0.get()
    }
}

impl std::fmt::Debug for HookSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "HookSlot(set)"
        } else {
            "HookSlot(unset)"
        })
    }
}

/// How long a checkpoint waits for guards before it goes on without them. A guard is held for the
/// few milliseconds a caller takes to write its record; one held longer is a caller stuck, and
/// its note then becomes what a note without a record always is: money moved, no record, which the
/// caller's retry completes.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// The guards outstanding on each half of the log.
#[derive(Debug, Default)]
pub(crate) struct NoteHolds {
    outstanding: Mutex<[u64; 2]>,
    released: Condvar,
}

impl NoteHolds {
    /// Guards for `count` notes just logged in `half`.
    pub(crate) fn hold(self: &Arc<Self>, half: usize, count: usize) -> Vec<NoteGuard> {
        if let Ok(mut outstanding) = self.outstanding.lock() {
            outstanding[half & 1] += count as u64;
        }
        (0..count)
            .map(|_| NoteGuard {
                hold: Some((Arc::clone(self), half & 1)),
            })
            .collect()
    }

    /// Waits until no guard of `half` is held; false if it gave up after `RELEASE_WAIT`.
    pub(crate) fn wait_released(&self, half: usize) -> bool {
        let deadline = Instant::now() + RELEASE_WAIT;
        let Ok(mut outstanding) = self.outstanding.lock() else {
            return false;
        };
        while outstanding[half & 1] > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            outstanding = match self.released.wait_timeout(outstanding, left) {
                Ok((outstanding, _)) => outstanding,
                Err(_) => return false,
            };
        }
        true
    }
}

/// Held by the caller of a noted batch until its own record of the batch is written. The log
/// keeps the note until then (and until the checkpoint hook has run after it).
#[derive(Debug)]
#[must_use = "dropping the guard lets the log forget the note"]
pub struct NoteGuard {
    hold: Option<(Arc<NoteHolds>, usize)>,
}

impl NoteGuard {
    /// A guard for a note that was not logged: the batch wrote nothing new (every transfer was
    /// already there, or it had none), or it was made durable by a checkpoint instead of the log. The caller's
    /// record must then be made durable on its own.
    pub(crate) fn unlogged() -> NoteGuard {
        NoteGuard { hold: None }
    }

    /// Whether the note is in the log: if so, the caller's record may be written without a sync.
    pub fn logged(&self) -> bool {
        self.hold.is_some()
    }
}

impl Drop for NoteGuard {
    fn drop(&mut self) {
        if let Some((holds, half)) = self.hold.take()
            && let Ok(mut outstanding) = holds.outstanding.lock()
        {
            outstanding[half] = outstanding[half].saturating_sub(1);
            holds.released.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_is_released_when_its_guards_are_dropped_and_not_before() {
        let holds = Arc::new(NoteHolds::default());
        let first = holds.hold(0, 2);
        let other_half = holds.hold(1, 1);
        assert!(first.iter().all(NoteGuard::logged));
        let waiter = {
            let holds = Arc::clone(&holds);
            std::thread::spawn(move || holds.wait_released(0))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "released with two guards held");
        drop(first);
        assert!(waiter.join().unwrap());
        // The other half's guard is still held.
        assert_eq!(holds.outstanding.lock().unwrap()[1], 1);
        drop(other_half);
        assert!(holds.wait_released(1));
        assert!(!NoteGuard::unlogged().logged());
    }
}
