//! The ledger file's storage: redb's own file backend, with the writeback of a durable commit
//! paced. The directory's file (`tongka-domain`) uses it too, with its own slice.
//!
//! A checkpoint makes a second or so of table commits durable at once (redb keeps the pages of
//! a non-durable commit in its own write buffer until then): megabytes written, then one
//! `fdatasync`. Left to itself the kernel hands all of it to the disk together, and every small
//! sync the box makes meanwhile — the log's, the directory's, each of them a sale waiting —
//! queues behind it: tens of milliseconds, once a second, which is the till's tail latency (see
//! docs/PERFORMANCE.md). So before the `fdatasync` the pages written since the last one are
//! pushed to the disk a slice at a time, each slice waited for before the next is started
//! (`sync_file_range`): the checkpoint takes a little longer, on the applier's thread where no
//! one waits for it, and a sale's sync finds at most one slice ahead of it. Durability is
//! unchanged: the `fdatasync` still follows, and is what the commit relies on.

use std::fs::File;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// At most this many bytes of the ledger's pages are handed to the disk at a time: a few
/// milliseconds of writing on the slowest disk the box ships with.
pub(crate) const SLICE_BYTES: u64 = 512 * 1024;

#[derive(Debug)]
pub struct PacedFile {
    inner: FileBackend,
    /// Another descriptor of the same file, for `sync_file_range` (redb's backend keeps its own
    /// private).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    file: File,
    /// Byte ranges written since the last sync, as written (unsorted, overlapping).
    written: Mutex<Vec<(u64, u64)>>,
    slice_bytes: u64,
}

impl PacedFile {
    /// Opens the file at `path`, creating it if missing, as `redb::Database::create` would; its
    /// syncs write back at most `slice_bytes` at a time.
    pub fn open(path: &Path, slice_bytes: u64) -> Result<PacedFile, redb::DatabaseError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(redb::StorageError::from)?;
        let own = file.try_clone().map_err(redb::StorageError::from)?;
        let inner = FileBackend::new(file)?;
        Ok(PacedFile {
            inner,
            file: own,
            written: Mutex::new(Vec::new()),
            slice_bytes,
        })
    }

    fn take_written(&self) -> Vec<(u64, u64)> {
        // A panic elsewhere while the list was held leaves it whole (a push or a take).
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *written)
    }

    /// Pushes the written ranges to the disk slice by slice, waiting for each.
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn write_back_in_slices(&self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        for (start, end) in slices(self.take_written(), self.slice_bytes) {
            let length = i64::try_from(end - start).map_err(std::io::Error::other)?;
            let offset = i64::try_from(start).map_err(std::io::Error::other)?;
            let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            // SAFETY: a plain system call on a descriptor this struct owns for its whole life;
            // it reads no memory of ours.
            let done =
                unsafe { libc::sync_file_range(self.file.as_raw_fd(), offset, length, flags) };
            if done != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn write_back_in_slices(&self) -> std::io::Result<()> {
        self.take_written();
        Ok(())
    }
}

/// The file ranges to write back, in file order, each holding at most about `slice_bytes` of
/// written bytes (one range can hold more if a single write was larger). A slice may span
/// unwritten gaps: the kernel skips pages that are not dirty.
fn slices(mut written: Vec<(u64, u64)>, slice_bytes: u64) -> Vec<(u64, u64)> {
    written.sort_unstable();
    let mut slices: Vec<(u64, u64)> = Vec::new();
    let mut bytes_in_last = 0u64;
    for (start, end) in written {
        match slices.last_mut() {
            Some(last) if start <= last.1 => {
                // Overlaps or touches the slice being built: extend it.
                if end > last.1 {
                    bytes_in_last += end - last.1;
                    last.1 = end;
                }
            }
            Some(last) if bytes_in_last + (end - start) <= slice_bytes => {
                last.1 = end;
                bytes_in_last += end - start;
            }
            _ => {
                slices.push((start, end));
                bytes_in_last = end - start;
            }
        }
    }
    slices
}

impl StorageBackend for PacedFile {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        // Pacing is only a courtesy to the other syncs: if it fails, the fdatasync that follows
        // does the whole job (and reports a real write error itself).
        if let Err(error) = self.write_back_in_slices() {
            tracing::debug!(%error, "paced writeback failed; syncing in one go");
        }
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.inner.write(offset, data)?;
        let end = offset.saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((offset, end));
        Ok(())
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_every_write_in_file_order_and_hold_at_most_a_slice() {
        let written = vec![
            (8192, 12288),
            (0, 4096),
            (4096, 8192), // touches the first
            (2048, 6144), // overlaps
            (100_000, 104_096),
            (40_000, 44_096),
        ];
        // 10 KiB a slice: 0..12288 is 12 KiB written in one run, so it stands alone; the two
        // far writes fit one slice together.
        assert_eq!(
            slices(written.clone(), 10 * 1024),
            vec![(0, 12288), (40_000, 104_096)]
        );
        // 4 KiB a slice: each separate write is its own.
        assert_eq!(
            slices(written.clone(), 4096),
            vec![(0, 12288), (40_000, 44_096), (100_000, 104_096)]
        );
        // Every written byte is inside a slice.
        for cap in [1, 4096, 10 * 1024, 1 << 20] {
            let got = slices(written.clone(), cap);
            for &(start, end) in &written {
                assert!(
                    got.iter().any(|&(s, e)| s <= start && end <= e),
                    "{start}..{end} not covered at {cap}: {got:?}"
                );
            }
            assert!(got.windows(2).all(|w| w[0].1 <= w[1].0), "{got:?}");
        }
        assert!(slices(Vec::new(), 4096).is_empty());
    }

    /// What is written is read back, the ranges are kept until a sync and only until then, and
    /// a ledger on this backend survives being closed and opened again.
    #[test]
    fn writes_are_kept_for_the_next_sync_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = PacedFile::open(&dir.path().join("paced.redb"), SLICE_BYTES).unwrap();
        file.set_len(3 * 4096).unwrap();
        file.write(4096, &[7u8; 4096]).unwrap();
        file.write(0, &[1u8; 100]).unwrap();
        assert_eq!(file.written.lock().unwrap().len(), 2);
        file.sync_data().unwrap();
        assert!(file.written.lock().unwrap().is_empty());
        let mut back = [0u8; 4096];
        file.read(4096, &mut back).unwrap();
        assert_eq!(back, [7u8; 4096]);
        assert_eq!(file.len().unwrap(), 3 * 4096);

        let db = redb::Database::builder()
            .create_with_backend(PacedFile::open(&dir.path().join("db.redb"), SLICE_BYTES).unwrap())
            .unwrap();
        const T: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("t");
        let txn = db.begin_write().unwrap();
        txn.open_table(T).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
        drop(db);
        let db = redb::Database::builder()
            .create_with_backend(PacedFile::open(&dir.path().join("db.redb"), SLICE_BYTES).unwrap())
            .unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let got = txn
            .open_table(T)
            .unwrap()
            .get(1)
            .unwrap()
            .map(|v| v.value());
        assert_eq!(got, Some(2));
    }
}
