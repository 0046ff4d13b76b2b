//! The write-ahead log: what makes a group durable with one sequential write and one `fdatasync`.
//!
//! A durable redb commit writes pages all over the file and costs several times a plain sync. So a
//! group's changes (its `Delta`) are appended here and synced before the group is answered; redb
//! receives them later, in batches, without syncing (see `writer.rs`).
//!
//! The file is split into two halves. Records are appended to one; at a checkpoint
//! (`checkpoint_interval_ms`, or when the half is full) the writer moves to the other half while
//! redb commits durably everything the first one holds, so groups keep being answered during the
//! slow durable commit. A half is written again only after the checkpoint that covers it returns.
//! On open, records newer than the tables' `wal_seq` are replayed, from both halves.
//!
//! The file is preallocated with zeros so an append changes no file metadata (an append that grows
//! the file costs nearly twice as much on ext4). Records are padded to 4 KiB so a write never
//! shares a page with the next. A record is `magic, length, seq, crc32` and the payload. A valid run
//! is a chain of consecutive sequence numbers read from the start of a half; a torn or stale
//! record ends it. Stale records always carry older sequence numbers than new ones, so they never
//! join a chain.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::LedgerError;

const MAGIC: u32 = 0x4C57_4B54; // "TKWL" little-endian
const HEADER_LEN: usize = 24;
const BLOCK: u64 = 4096;
/// The smallest log: two records in each half. A group whose record does not fit in an empty half
/// is made durable by a checkpoint instead (see `fits_in_empty_half`), so any size works; tests use
/// this one to fill the halves often.
pub(crate) const WAL_BYTES_MIN: u64 = 4 * BLOCK;

#[derive(Debug)]
pub(crate) struct Wal {
    file: File,
    half_len: u64,
    /// Which half records go to: 0 or 1.
    half: u64,
    /// Where the next record goes, from the start of the file.
    position: u64,
}

/// A record found on open.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) seq: u64,
    pub(crate) payload: Vec<u8>,
}

fn io(error: std::io::Error) -> LedgerError {
    LedgerError::Storage(redb::StorageError::Io(error).into())
}

fn align(len: u64) -> u64 {
    len.div_ceil(BLOCK) * BLOCK
}

/// The length of each half of a log file `len` bytes long.
fn half_len(len: u64) -> u64 {
    len / 2 / BLOCK * BLOCK
}

/// Every intact record of the log at `path`, in sequence order (none if there is no file). The
/// caller decides which are new: stale ones are expected.
pub(crate) fn recover(path: &Path) -> Result<Vec<Record>, LedgerError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io(error)),
    };
    let len = file.metadata().map_err(io)?.len();
    // The halves are found from the file's own length: the configured size may have changed.
    let mut records = read_chain(&file, 0, len)?;
    let second = half_len(len);
    if second > 0 {
        // A chain from the first half may run on into the second (a full first half, or a log
        // written before the file was split): reading both and sorting finds each record.
        records.extend(read_chain(&file, second, len)?);
    }
    records.sort_by_key(|record| record.seq);
    Ok(records)
}

impl Wal {
    /// Opens the log at `path` for writing, `capacity` bytes long, creating it if needed. Call it
    /// only once everything `recover` found is durable in the tables: it may change the layout.
    pub(crate) fn create(path: &Path, capacity: u64) -> Result<Wal, LedgerError> {
        let capacity = (capacity.max(WAL_BYTES_MIN)).div_ceil(2 * BLOCK) * 2 * BLOCK;
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len != capacity {
            if len > capacity {
                file.set_len(capacity).map_err(io)?;
            }
            // Zeros written for real (not a sparse `set_len`), so later writes allocate nothing.
            let zeros = vec![0u8; 1 << 20];
            let mut at = len.min(capacity);
            while at < capacity {
                let chunk = (capacity - at).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..chunk], at).map_err(io)?;
                at += chunk as u64;
            }
            file.sync_all().map_err(io)?;
            if !existed && let Some(dir) = path.parent() {
                // The new file's name must be durable too, or a crash could lose the whole log.
                File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        Ok(Wal {
            file,
            half_len: capacity / 2,
            half: 0,
            position: 0,
        })
    }

    fn half_end(&self) -> u64 {
        (self.half + 1) * self.half_len
    }

    /// Which half records go to: 0 or 1.
    pub(crate) fn half(&self) -> usize {
        self.half as usize
    }

    /// Whether a record with `payload_len` bytes fits after the records already in this half.
    pub(crate) fn fits(&self, payload_len: usize) -> bool {
        self.position + align((HEADER_LEN + payload_len) as u64) <= self.half_end()
    }

    /// Whether a record with `payload_len` bytes fits in an empty half at all.
    pub(crate) fn fits_in_empty_half(&self, payload_len: usize) -> bool {
        align((HEADER_LEN + payload_len) as u64) <= self.half_len
    }

    /// Appends a record and syncs it. Once this returns, the record survives a crash.
    pub(crate) fn append(&mut self, seq: u64, payload: &[u8]) -> Result<(), LedgerError> {
        let total = align((HEADER_LEN + payload.len()) as u64);
        assert!(self.fits(payload.len()), "log record appended without room");
        let mut buffer = Vec::with_capacity(total as usize);
        buffer.extend_from_slice(&MAGIC.to_le_bytes());
        buffer.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buffer.extend_from_slice(&seq.to_le_bytes());
        buffer.extend_from_slice(&checksum(seq, payload).to_le_bytes());
        buffer.extend_from_slice(&[0; 4]);
        buffer.extend_from_slice(payload);
        buffer.resize(total as usize, 0);
        self.file.write_all_at(&buffer, self.position).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.position += total;
        Ok(())
    }

    /// Moves to the other half. The caller guarantees that redb already holds, durably, every
    /// record in it.
    pub(crate) fn switch_halves(&mut self) {
        self.half = 1 - self.half;
        self.position = self.half * self.half_len;
    }

    /// Starts this half again from its top, once everything logged is durable in the tables.
    pub(crate) fn reset(&mut self) {
        self.position = self.half * self.half_len;
    }
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(&(payload.len() as u32).to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Reads records from `start` while each is intact and follows the previous one's sequence.
fn read_chain(file: &File, start: u64, end: u64) -> Result<Vec<Record>, LedgerError> {
    let mut records: Vec<Record> = Vec::new();
    let mut position = start;
    let mut header = [0u8; HEADER_LEN];
    while position + HEADER_LEN as u64 <= end {
        file.read_exact_at(&mut header, position).map_err(io)?;
        let field = |range: std::ops::Range<usize>| &header[range];
        let magic = u32::from_le_bytes(field(0..4).try_into().unwrap_or_default());
        let len = u32::from_le_bytes(field(4..8).try_into().unwrap_or_default());
        let seq = u64::from_le_bytes(field(8..16).try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(field(16..20).try_into().unwrap_or_default());
        let total = align(HEADER_LEN as u64 + u64::from(len));
        if magic != MAGIC || position + total > end {
            break;
        }
        if records
            .last()
            .is_some_and(|last| last.seq.checked_add(1) != Some(seq))
        {
            break;
        }
        let mut payload = vec![0u8; len as usize];
        file.read_exact_at(&mut payload, position + HEADER_LEN as u64)
            .map_err(io)?;
        if checksum(seq, &payload) != crc {
            break;
        }
        records.push(Record { seq, payload });
        position += total;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn records_survive_reopening_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.wal");
        assert!(recover(&path).unwrap().is_empty());
        let mut wal = Wal::create(&path, 8 * BLOCK).unwrap();
        wal.append(1, b"first").unwrap();
        wal.append(2, &vec![7u8; 5000]).unwrap();
        wal.append(3, b"third").unwrap();
        drop(wal);
        // Tear the third record: flip a payload byte.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(b"X", 3 * BLOCK + HEADER_LEN as u64)
            .unwrap();
        let records = recover(&path).unwrap();
        assert_eq!(seqs(&records), vec![1, 2]);
        assert_eq!(records[0].payload, b"first");
        assert_eq!(records[1].payload.len(), 5000);
    }

    #[test]
    fn after_a_reset_stale_records_do_not_join_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.wal");
        let mut wal = Wal::create(&path, 8 * BLOCK).unwrap();
        for seq in 1..=4 {
            wal.append(seq, b"old").unwrap();
        }
        wal.reset();
        wal.append(5, b"new").unwrap();
        drop(wal);
        assert_eq!(seqs(&recover(&path).unwrap()), vec![5]);
    }

    #[test]
    fn records_in_both_halves_are_recovered_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.wal");
        let mut wal = Wal::create(&path, WAL_BYTES_MIN).unwrap();
        for seq in 1..=2 {
            assert!(wal.fits(100));
            wal.append(seq, &[1; 100]).unwrap();
        }
        assert!(
            !wal.fits(100),
            "each half of the smallest log holds two records"
        );
        assert!(wal.fits_in_empty_half(100));
        assert!(!wal.fits_in_empty_half(2 * BLOCK as usize));
        wal.switch_halves();
        wal.append(3, &[3; 100]).unwrap();
        wal.append(4, &[4; 100]).unwrap();
        // Back to the first half, as after a checkpoint: 5 replaces 1, and 2 is stale.
        wal.switch_halves();
        wal.append(5, &[5; 100]).unwrap();
        drop(wal);
        assert_eq!(seqs(&recover(&path).unwrap()), vec![3, 4, 5]);
    }

    #[test]
    fn the_halves_are_found_from_the_file_and_a_new_size_applies_after_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.wal");
        let mut wal = Wal::create(&path, 8 * BLOCK).unwrap();
        wal.switch_halves();
        wal.append(9, b"in the second half").unwrap();
        drop(wal);
        // Configured smaller now: recovery still reads the second half where it was written.
        assert_eq!(seqs(&recover(&path).unwrap()), vec![9]);
        let mut wal = Wal::create(&path, WAL_BYTES_MIN).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), WAL_BYTES_MIN);
        wal.append(10, b"after").unwrap();
        drop(wal);
        assert_eq!(seqs(&recover(&path).unwrap()), vec![10]);
        // And larger again: the file grows to the new size.
        drop(Wal::create(&path, 16 * BLOCK).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16 * BLOCK);
    }
}
