//! Group commit for the directory: the small writes that every till operation and every API
//! write makes (the order record, the audit entry, the kept idempotent answer) go to one writer
//! thread, which runs all that are waiting in one redb transaction and makes them durable with
//! one commit. A caller's write is acknowledged only after that commit, as before; what changes
//! is that a hundred callers share one fsync instead of queueing for a hundred.
//!
//! A write whose durability is somebody else's — the till's order record, whose redo the ledger
//! logged with the sale's batch (`tongka_ledger::NoteGuard`) — asks for none: a group of only
//! such writes commits without syncing; `make_durable`, which the ledger calls before its log
//! forgets those notes, syncs them all at once, and so does the writer `SYNC_EVERY` after its
//! last sync, once the group it has just committed is answered (only writes queued during the
//! sync wait for it).
//!
//! A write nobody waits on soon (the audit entry of a till write, whose cashier was answered
//! already) rides: it is held until the next group that commits anyway and joins it, or commits
//! on its own after `RIDE_AT_MOST`. Under load every sale then costs the writer one commit, not
//! two.
//!
//! A write that fails is taken out of its group and the rest run again in a fresh transaction
//! (redb cannot roll back part of a transaction once written to), so one caller's damaged record
//! never fails another's write. Writes must therefore be repeatable: they are `FnMut`, and read
//! what they change from the transaction they are given.

use std::sync::Arc;
use std::sync::mpsc;

use redb::WriteTransaction;

use crate::DomainError;

/// The most writes committed together: bounds the latency one commit adds to its first caller.
const GROUP_MAX: usize = 512;

/// How long the writer waits, idle, before it syncs commits made without a sync. Under load the
/// ledger's checkpoints sync them about every second (`make_durable`).
const SYNC_WHEN_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a riding write waits for a group to join before it commits on its own.
const RIDE_AT_MOST: std::time::Duration = std::time::Duration::from_millis(20);

/// What a write's caller waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// The write is committed and synced before its caller hears back.
    Synced,
    /// It is committed (visible to every read after) before its caller hears back, and synced
    /// by the next `make_durable`.
    Unsynced,
    /// It is committed with the next group that commits anyway, or on its own within
    /// `RIDE_AT_MOST`; synced like `Unsynced`.
    Riding,
}

/// How often unsynced commits are synced under load, whatever the ledger's checkpoints. A sync
/// writes every page changed since the last one while the writer waits: once a second (the
/// ledger's checkpoints alone) that stalls every till for 30-100 ms; every 50 ms for ~9 ms;
/// every 25 ms the p99 is lowest; every 10 ms the disk's extra writes cost more than the shorter
/// waits save (docs/PERFORMANCE.md, "2026-12-05, last" and "2026-12-06, later").
const SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(25);

trait Job: Send {
    /// Whether the write must be durable before its caller hears back.
    fn durable(&self) -> bool;
    /// Whether it may wait for a group that commits anyway ([`Commit::Riding`]).
    fn rides(&self) -> bool {
        false
    }
    /// Whether it writes nothing and only asks for a sync (`make_durable`).
    fn sync_only(&self) -> bool {
        false
    }
    /// Runs the write in `txn`; false if it failed (its result is kept for the caller).
    fn run(&mut self, txn: &WriteTransaction) -> bool;
    /// Answers the caller: its result if `committed`, else the commit's error.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Task<T, F> {
    write: F,
    commit: Commit,
    result: Option<Result<T, DomainError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, DomainError>>,
}

impl<T, F> Job for Task<T, F>
where
    T: Send,
    F: FnMut(&WriteTransaction) -> Result<T, DomainError> + Send,
{
    fn durable(&self) -> bool {
        self.commit == Commit::Synced
    }

    fn rides(&self) -> bool {
        self.commit == Commit::Riding
    }

    fn run(&mut self, txn: &WriteTransaction) -> bool {
        let result = (self.write)(txn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let Task {
            write,
            result,
            reply,
            ..
        } = *self;
        // What the write held (a handle on the directory, say) is let go before the caller
        // hears back, so a caller that then closes the directory finds it closed.
        drop(write);
        let answer = match (committed, result) {
            // A failed write's own error, whatever happened to the group.
            (_, Some(Err(error))) => Err(error),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Err(why), _) => Err(DomainError::Storage(why)),
            (Ok(()), None) => Err(DomainError::Storage("the write failed unexpectedly".into())),
        };
        // The caller may have gone (its request dropped): the write stands regardless.
        let _ = reply.send(answer);
    }
}

/// A request for a sync and nothing else: with nothing unsynced, answered without a commit.
struct SyncOnly(tokio::sync::oneshot::Sender<Result<(), DomainError>>);

impl Job for SyncOnly {
    fn durable(&self) -> bool {
        true
    }

    fn sync_only(&self) -> bool {
        true
    }

    fn run(&mut self, _txn: &WriteTransaction) -> bool {
        true
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let _ = self.0.send(committed.map_err(DomainError::Storage));
    }
}

/// The handle callers hold. Dropping it lets the writer finish what is queued and waits for it,
/// so the database is closed when the directory is (it can be opened again at once).
#[derive(Debug)]
pub(crate) struct GroupWriter {
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            // The last handle can go on the writer itself (a write held the directory): it
            // then ends on its own once the queue is empty.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl GroupWriter {
    pub(crate) fn start(db: Arc<redb::Database>) -> Result<GroupWriter, DomainError> {
        GroupWriter::start_timed(db, SYNC_EVERY, RIDE_AT_MOST)
    }

    /// `start`, syncing unsynced commits under load every `sync_every` and holding riding
    /// writes at most `ride_at_most`.
    fn start_timed(
        db: Arc<redb::Database>,
        sync_every: std::time::Duration,
        ride_at_most: std::time::Duration,
    ) -> Result<GroupWriter, DomainError> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("directory-writer".into())
            .spawn(move || writer(&db, &queue, sync_every, ride_at_most))
            .map_err(|e| DomainError::Storage(format!("cannot start the directory writer: {e}")))?;
        Ok(GroupWriter {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `write` in the next group and returns its result once the group is durable.
    pub(crate) async fn write<T, F>(&self, write: F) -> Result<T, DomainError>
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<T, DomainError> + Send + 'static,
    {
        self.submit(Commit::Synced, write)?.await
    }

    /// Runs `write` in the next group and returns its result once the group is committed,
    /// durably only if another write in it needs that: the caller's write is made durable by
    /// the next `make_durable`.
    pub(crate) async fn write_unsynced<T, F>(&self, write: F) -> Result<T, DomainError>
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<T, DomainError> + Send + 'static,
    {
        self.submit(Commit::Unsynced, write)?.await
    }

    /// Makes every write committed so far durable; blocks the calling thread (not a runtime's
    /// worker) until it is.
    pub(crate) fn make_durable(&self) -> Result<(), DomainError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Box::new(SyncOnly(reply)))?;
        answer.blocking_recv().map_err(|_| stopped())?
    }

    /// Queues `write` now, committed as `commit` says, and returns what waits for its result:
    /// a caller may answer its own client first and learn the outcome later.
    pub(crate) fn submit<T, F>(
        &self,
        commit: Commit,
        write: F,
    ) -> Result<impl Future<Output = Result<T, DomainError>> + use<T, F>, DomainError>
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<T, DomainError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Box::new(Task {
            write,
            commit,
            result: None,
            reply,
        }))?;
        Ok(async move { answer.await.map_err(|_| stopped())? })
    }

    fn send(&self, job: Box<dyn Job>) -> Result<(), DomainError> {
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())
    }
}

fn stopped() -> DomainError {
    DomainError::Storage("the directory writer stopped".into())
}

fn writer(
    db: &redb::Database,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    sync_every: std::time::Duration,
    ride_at_most: std::time::Duration,
) {
    // Whether a commit since the last durable one was not synced.
    let mut unsynced = false;
    let mut synced_at = std::time::Instant::now();
    // Riding writes waiting for a group to join, and since when the first of them waits.
    let mut riding: Vec<Box<dyn Job>> = Vec::new();
    let mut riding_since = std::time::Instant::now();
    loop {
        let wait = if riding.is_empty() {
            SYNC_WHEN_IDLE
        } else {
            ride_at_most.saturating_sub(riding_since.elapsed())
        };
        let first = match queue.recv_timeout(wait) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) if !riding.is_empty() => {
                // No group came for them: they commit on their own.
                if commit_group(db, std::mem::take(&mut riding)) == Some(false) {
                    unsynced = true;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Nothing came for a while: sync what waits, rather than leave it unsynced
                // until the next durable write, however late that comes.
                if unsynced && sync(db) {
                    unsynced = false;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut group = vec![first];
        while group.len() + riding.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if group.iter().all(|job| job.rides()) && group.len() + riding.len() < GROUP_MAX {
            if riding.is_empty() {
                riding_since = std::time::Instant::now();
            }
            riding.append(&mut group);
            continue;
        }
        if riding.is_empty() && !unsynced && group.iter().all(|job| job.sync_only()) {
            // Everything is synced already (an idle box's checkpoints): no empty commit.
            for job in group {
                job.finish(Ok(()));
            }
            continue;
        }
        // The riding writes go first: they were queued first.
        riding.append(&mut group);
        let group = std::mem::take(&mut riding);
        if let Some(durable) = commit_group(db, group) {
            unsynced = !durable;
            if durable {
                synced_at = std::time::Instant::now();
            }
        }
        // Synced every so often even while the ledger's checkpoints are a second apart: a
        // sync writes every page changed since the last one, and the writer waits for it. It
        // comes after the group is answered, so only writes queued meanwhile wait for it.
        if unsynced && synced_at.elapsed() >= sync_every && sync(db) {
            unsynced = false;
            synced_at = std::time::Instant::now();
        }
    }
    if !riding.is_empty() && commit_group(db, riding) == Some(false) {
        unsynced = true;
    }
    if unsynced {
        // The directory is closing: what was committed without a sync is made durable now.
        sync(db);
    }
}

/// An empty durable commit: syncs every commit before it. False if it failed (logged).
fn sync(db: &redb::Database) -> bool {
    let synced = db
        .begin_write()
        .map_err(redb::Error::from)
        .and_then(|txn| txn.commit().map_err(redb::Error::from));
    if let Err(error) = &synced {
        tracing::error!(%error, "the directory's unsynced commits could not be synced");
    }
    synced.is_ok()
}

/// Commits the group's writes, durably if one of them needs it; returns whether the commit was
/// durable, `None` if nothing was committed.
fn commit_group(db: &redb::Database, mut group: Vec<Box<dyn Job>>) -> Option<bool> {
    while !group.is_empty() {
        let durable = group.iter().any(|job| job.durable());
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(error) => {
                let why = error.to_string();
                for job in group {
                    job.finish(Err(why.clone()));
                }
                return None;
            }
        };
        let mut txn = txn;
        if !durable && let Err(error) = txn.set_durability(redb::Durability::None) {
            let why = error.to_string();
            for job in group {
                job.finish(Err(why.clone()));
            }
            return None;
        }
        // A write that panics (a bug, not bad input) fails alone, like one that errs: the
        // writer thread must outlive it, or every later write of the box would fail.
        let failed = group.iter_mut().position(|job| {
            !std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&txn)))
                .unwrap_or(false)
        });
        match failed {
            Some(index) => {
                // Dropped, not committed: the others run again without the failed write.
                drop(txn);
                group.remove(index).finish(Ok(()));
            }
            None => {
                let committed = txn.commit().map_err(|e| e.to_string());
                let done = committed.is_ok().then_some(durable);
                for job in group {
                    job.finish(committed.clone());
                }
                return done;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

    const TABLE: TableDefinition<u64, u64> = TableDefinition::new("t");

    /// Many writers at once: every good write lands; the one that fails after writing leaves
    /// nothing behind and fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_fails_alone_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("g.redb")).unwrap());
        let writer = Arc::new(GroupWriter::start(Arc::clone(&db)).unwrap());
        let tasks: Vec<_> = (0..200u64)
            .map(|n| {
                let writer = Arc::clone(&writer);
                tokio::spawn(async move {
                    writer
                        .write(move |txn| {
                            txn.open_table(TABLE)?.insert(n, n * 10)?;
                            if n == 77 {
                                return Err(DomainError::Corrupt("seventy-seven".into()));
                            }
                            Ok(n)
                        })
                        .await
                })
            })
            .collect();
        for (n, task) in (0..200u64).zip(tasks) {
            match task.await.unwrap() {
                Ok(got) => assert_eq!(got, n),
                Err(DomainError::Corrupt(why)) => {
                    assert_eq!((n, why.as_str()), (77, "seventy-seven"))
                }
                Err(other) => panic!("{n}: {other}"),
            }
        }
        // A write that panics fails alone; the writer carries on.
        let panicked = writer
            .write(|txn| -> Result<(), DomainError> {
                txn.open_table(TABLE)?.insert(1_000, 1)?;
                panic!("a bug in a write");
            })
            .await;
        assert!(
            matches!(panicked, Err(DomainError::Storage(_))),
            "{panicked:?}"
        );
        let after = writer
            .write(|txn| {
                txn.open_table(TABLE)?.insert(1_001, 7)?;
                Ok(())
            })
            .await;
        assert!(after.is_ok(), "{after:?}");

        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        assert_eq!(table.get(1_000).unwrap().map(|v| v.value()), None);
        assert_eq!(table.get(1_001).unwrap().map(|v| v.value()), Some(7));
        for n in 0..200u64 {
            let kept = table.get(n).unwrap().map(|v| v.value());
            assert_eq!(kept, (n != 77).then_some(n * 10), "key {n}");
        }
    }

    /// What a crash would find of `path`'s database: a copy of the file as it is on disk (redb
    /// keeps unsynced commits' pages in memory), opened afresh.
    fn after_a_crash(path: &std::path::Path, key: u64) -> Option<u64> {
        let copy = path.with_extension("copy");
        std::fs::copy(path, &copy).unwrap();
        let db = redb::Database::create(&copy).unwrap();
        let txn = db.begin_read().unwrap();
        let value = match txn.open_table(TABLE) {
            Ok(table) => table.get(key).unwrap().map(|v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(error) => panic!("{error}"),
        };
        drop((txn, db));
        std::fs::remove_file(&copy).unwrap();
        value
    }

    /// An unsynced write is answered and read at once, is not on disk until `make_durable`
    /// (or a second of idleness) syncs it, and is then.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unsynced_writes_are_synced_by_make_durable_or_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.redb");
        let db = Arc::new(redb::Database::create(&path).unwrap());
        // No sync under load in this test's time.
        let writer =
            GroupWriter::start_timed(Arc::clone(&db), std::time::Duration::MAX, RIDE_AT_MOST);
        let writer = Arc::new(writer.unwrap());
        let put = |key: u64| {
            let writer = Arc::clone(&writer);
            async move {
                writer
                    .write_unsynced(move |txn| {
                        txn.open_table(TABLE)?.insert(key, key * 10)?;
                        Ok(())
                    })
                    .await
                    .unwrap()
            }
        };
        put(1).await;
        let read = db.begin_read().unwrap();
        assert_eq!(
            read.open_table(TABLE)
                .unwrap()
                .get(1)
                .unwrap()
                .map(|v| v.value()),
            Some(10)
        );
        drop(read);
        assert_eq!(
            after_a_crash(&path, 1),
            None,
            "an unsynced write was on disk"
        );

        let syncing = Arc::clone(&writer);
        tokio::task::spawn_blocking(move || syncing.make_durable())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after_a_crash(&path, 1), Some(10));

        put(2).await;
        assert_eq!(after_a_crash(&path, 2), None);
        tokio::task::spawn_blocking(|| std::thread::sleep(SYNC_WHEN_IDLE * 2))
            .await
            .unwrap();
        assert_eq!(
            after_a_crash(&path, 2),
            Some(20),
            "an idle writer left a write unsynced"
        );
    }

    /// Under load (writes keep coming), the first group after `sync_every` is synced.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unsynced_writes_are_synced_every_so_often_under_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.redb");
        let db = Arc::new(redb::Database::create(&path).unwrap());
        let every = std::time::Duration::from_millis(100);
        let writer =
            Arc::new(GroupWriter::start_timed(Arc::clone(&db), every, RIDE_AT_MOST).unwrap());
        let put = |key: u64| {
            writer.write_unsynced(move |txn| {
                txn.open_table(TABLE)?.insert(key, key * 10)?;
                Ok(())
            })
        };
        put(1).await.unwrap();
        let started = std::time::Instant::now();
        // Writes every 10 ms, never idle for a second: only the periodic sync can sync key 1.
        let mut key = 2;
        while after_a_crash(&path, 1).is_none() {
            assert!(
                started.elapsed() < every * 20,
                "unsynced writes stayed unsynced under load"
            );
            put(key).await.unwrap();
            key += 1;
            tokio::task::spawn_blocking(|| {
                std::thread::sleep(std::time::Duration::from_millis(10))
            })
            .await
            .unwrap();
        }
    }

    fn read(db: &redb::Database, key: u64) -> Option<u64> {
        let txn = db.begin_read().unwrap();
        match txn.open_table(TABLE) {
            Ok(table) => table.get(key).unwrap().map(|v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(error) => panic!("{error}"),
        }
    }

    fn put(key: u64) -> impl FnMut(&WriteTransaction) -> Result<(), DomainError> {
        move |txn| {
            txn.open_table(TABLE)?.insert(key, key * 10)?;
            Ok(())
        }
    }

    /// A riding write waits for the next group that commits anyway and lands with it; the one
    /// that never finds a group commits on its own after `ride_at_most`, and so do those still
    /// waiting when the writer closes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_riding_write_joins_the_next_group_or_commits_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("g.redb")).unwrap());
        let hour = std::time::Duration::from_secs(3_600);
        let writer = GroupWriter::start_timed(Arc::clone(&db), hour, hour).unwrap();
        let riding = writer.submit(Commit::Riding, put(1)).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            read(&db, 1),
            None,
            "a riding write committed without a group"
        );
        writer.write_unsynced(put(2)).await.unwrap();
        let joined = tokio::time::timeout(std::time::Duration::from_secs(5), riding).await;
        assert!(matches!(joined, Ok(Ok(()))), "{joined:?}");
        assert_eq!((read(&db, 1), read(&db, 2)), (Some(10), Some(20)));

        let alone = writer.submit(Commit::Riding, put(3)).unwrap();
        drop(writer);
        assert!(
            matches!(alone.await, Ok(())),
            "closing left a riding write behind"
        );
        assert_eq!(read(&db, 3), Some(30));

        let short = std::time::Duration::from_millis(50);
        let writer = GroupWriter::start_timed(Arc::clone(&db), hour, short).unwrap();
        let started = std::time::Instant::now();
        let alone = writer.submit(Commit::Riding, put(4)).unwrap();
        let committed = tokio::time::timeout(std::time::Duration::from_secs(5), alone).await;
        assert!(matches!(committed, Ok(Ok(()))), "{committed:?}");
        assert!(
            started.elapsed() >= short,
            "a riding write did not wait for a group"
        );
        assert_eq!(read(&db, 4), Some(40));
    }
}
