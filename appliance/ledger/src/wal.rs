//! The write-ahead log: what makes a group durable with one sequential write and one `fdatasync`.
//!
//! A durable redb commit writes pages all over the file and costs several times a plain sync. So a
//! group's changes (its `Delta`) are appended here and synced before the group is answered; redb
//! receives them later, in batches, without syncing (see `writer.rs`). At each checkpoint
//! (`checkpoint_interval_ms`, or when the next record does not fit) redb is committed durably and
//! the log starts again from the top. On open, records newer than the tables' `wal_seq` are
//! replayed.
//!
//! The file is preallocated with zeros so an append changes no file metadata (an append that grows
//! the file costs nearly twice as much on ext4). Records are padded to 4 KiB so a write never
//! shares a page with the next. A record is `magic, length, seq, crc32` and the payload; the valid
//! log is the run of consecutive sequence numbers from offset 0. A torn or stale record ends it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::LedgerError;

const MAGIC: u32 = 0x4C57_4B54; // "TKWL" little-endian
const HEADER_LEN: usize = 24;
const BLOCK: u64 = 4096;
/// The smallest log: four records. A group whose record does not fit is made durable by a
/// checkpoint instead (see `fits`), so any size works; tests use this one to fill it often.
pub(crate) const WAL_BYTES_MIN: u64 = 4 * BLOCK;

#[derive(Debug)]
pub(crate) struct Wal {
    file: File,
    capacity: u64,
    position: u64,
}

/// A record found on open.
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

impl Wal {
    /// Opens the log at `path`, creating and preallocating it to `capacity` bytes if needed, and
    /// returns the chain of valid records from its start.
    pub(crate) fn open(path: &Path, capacity: u64) -> Result<(Wal, Vec<Record>), LedgerError> {
        let capacity = align(capacity.max(WAL_BYTES_MIN));
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < capacity {
            // Zeros written for real (not a sparse `set_len`), so later writes allocate nothing.
            let zeros = vec![0u8; 1 << 20];
            let mut at = len;
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
        // Recovery reads all of an existing file, which may be larger if the limit was lowered
        // since it was written; new records stay within the limit.
        let records = read_chain(&mut file, capacity.max(len))?;
        Ok((
            Wal {
                file,
                capacity,
                position: 0,
            },
            records,
        ))
    }

    /// Whether a record with `payload_len` bytes fits after the records already written.
    pub(crate) fn fits(&self, payload_len: usize) -> bool {
        self.position + align((HEADER_LEN + payload_len) as u64) <= self.capacity
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

    /// Starts again from the top, once everything logged is durable in the tables.
    pub(crate) fn reset(&mut self) {
        self.position = 0;
    }
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(&(payload.len() as u32).to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Reads records from offset 0 while each is intact and follows the previous one's sequence.
fn read_chain(file: &mut File, capacity: u64) -> Result<Vec<Record>, LedgerError> {
    let mut records: Vec<Record> = Vec::new();
    let mut position = 0u64;
    let mut header = [0u8; HEADER_LEN];
    while position + HEADER_LEN as u64 <= capacity {
        file.read_exact_at(&mut header, position).map_err(io)?;
        let field = |range: std::ops::Range<usize>| &header[range];
        let magic = u32::from_le_bytes(field(0..4).try_into().unwrap_or_default());
        let len = u32::from_le_bytes(field(4..8).try_into().unwrap_or_default());
        let seq = u64::from_le_bytes(field(8..16).try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(field(16..20).try_into().unwrap_or_default());
        let total = align(HEADER_LEN as u64 + u64::from(len));
        if magic != MAGIC || position + total > capacity {
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

    #[test]
    fn records_survive_reopening_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.wal");
        let (mut wal, records) = Wal::open(&path, WAL_BYTES_MIN).unwrap();
        assert!(records.is_empty());
        wal.append(1, b"first").unwrap();
        wal.append(2, &vec![7u8; 5000]).unwrap();
        wal.append(3, b"third").unwrap();
        drop(wal);
        // Tear the third record: flip a payload byte.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(b"X", 3 * BLOCK + HEADER_LEN as u64)
            .unwrap();
        let (_, records) = Wal::open(&path, WAL_BYTES_MIN).unwrap();
        let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert_eq!(records[0].payload, b"first");
        assert_eq!(records[1].payload.len(), 5000);
    }

    #[test]
    fn after_a_reset_stale_records_do_not_join_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.wal");
        let (mut wal, _) = Wal::open(&path, WAL_BYTES_MIN).unwrap();
        for seq in 1..=4 {
            wal.append(seq, b"old").unwrap();
        }
        wal.reset();
        wal.append(5, b"new").unwrap();
        drop(wal);
        let (_, records) = Wal::open(&path, WAL_BYTES_MIN).unwrap();
        let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![5]);
    }

    #[test]
    fn a_full_log_says_so_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(&dir.path().join("l.wal"), WAL_BYTES_MIN).unwrap();
        let blocks = WAL_BYTES_MIN / BLOCK;
        for seq in 1..=blocks {
            assert!(wal.fits(100));
            wal.append(seq, &[1; 100]).unwrap();
        }
        assert!(!wal.fits(100));
        wal.reset();
        assert!(wal.fits(100));
    }
}
