//! The data folder's free space, watched. Below the reserve, every request that could write is
//! refused with 507 `storage_full` before it touches a file, and reads go on; once space is freed
//! the box takes writes again by itself.
//!
//! Why refuse early instead of letting a write fail: redb treats a failed write as fatal to the
//! open database ("close and re-open"), so a full disk would leave the box refusing everything
//! until restarted. The reserve is room for what the box still writes on its own: the ledger's
//! checkpoints of sales already answered, the daily tick, expired sessions cleared.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::{ApiError, Text};

#[derive(Debug)]
pub struct SpaceGuard {
    folder: PathBuf,
    reserve_bytes: u64,
    full: AtomicBool,
}

impl SpaceGuard {
    /// Watches the file system holding `folder`; `reserve_bytes` 0 never refuses.
    pub fn new(folder: PathBuf, reserve_bytes: u64) -> Arc<SpaceGuard> {
        Arc::new(SpaceGuard {
            folder,
            reserve_bytes,
            full: AtomicBool::new(false),
        })
    }

    /// A guard that never refuses (in-process tests, which have no folder of their own).
    pub fn off() -> Arc<SpaceGuard> {
        SpaceGuard::new(PathBuf::new(), 0)
    }

    /// Whether writes are refused now.
    pub fn full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Reads the free space now and answers the bytes available to the box. Crossing the reserve
    /// either way is logged. A folder that cannot be read changes nothing: the writes themselves
    /// will say what is wrong with it.
    pub fn check(&self) -> std::io::Result<u64> {
        if self.reserve_bytes == 0 {
            return Ok(u64::MAX);
        }
        let stats = rustix::fs::statvfs(&self.folder)?;
        let available = stats.f_bavail.saturating_mul(stats.f_frsize);
        let full = available < self.reserve_bytes;
        if self.full.swap(full, Ordering::Relaxed) != full {
            if full {
                tracing::warn!(
                    available,
                    reserve = self.reserve_bytes,
                    folder = %self.folder.display(),
                    "数据盘空间不足，暂停写入 / the data folder's disk is below its reserve: writes are refused"
                );
            } else {
                tracing::info!(
                    available,
                    "数据盘空间已恢复 / the data folder's disk has room again: writes are taken"
                );
            }
        }
        Ok(available)
    }

    /// Checks every `every` for the life of the runtime.
    pub fn watch(self: Arc<SpaceGuard>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = self.check() {
                    tracing::warn!(%error, folder = %self.folder.display(), "cannot read the data folder's free space");
                }
            }
        })
    }
}

/// Refuses what could write while the disk is below its reserve. Anything but a read could:
/// signing in writes a session, and a quote is refused too, so the cashier learns before the
/// member pays that the sale cannot be recorded.
pub(crate) async fn guard(
    State(space): State<Arc<SpaceGuard>>,
    request: Request,
    next: Next,
) -> Response {
    if crate::auth::is_write(request.method()) && space.full() {
        return storage_full().into_response();
    }
    next.run(request).await
}

fn storage_full() -> ApiError {
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "storage_full",
        Text::new(
            "通卡主机存储空间不足，暂停写入；请联系管理员清理磁盘",
            "The box's disk is almost full, so nothing can be written; ask its administrator to free space",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_beyond_the_free_space_refuses_and_none_never_does() {
        let folder = std::env::temp_dir();
        let beyond = SpaceGuard::new(folder.clone(), u64::MAX);
        let available = beyond.check().unwrap();
        assert!(available < u64::MAX);
        assert!(beyond.full());

        let within = SpaceGuard::new(folder, 1);
        within.check().unwrap();
        assert!(!within.full());

        let off = SpaceGuard::off();
        off.check().unwrap();
        assert!(!off.full());
    }
}
