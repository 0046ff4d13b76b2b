//! Group commit for the directory: the small writes that every till operation and every API
//! write makes (the order record, the audit entry, the kept idempotent answer) go to one writer
//! thread, which runs all that are waiting in one redb transaction and makes them durable with
//! one commit. A caller's write is acknowledged only after that commit, as before; what changes
//! is that a hundred callers share one fsync instead of queueing for a hundred.
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

trait Job: Send {
    /// Runs the write in `txn`; false if it failed (its result is kept for the caller).
    fn run(&mut self, txn: &WriteTransaction) -> bool;
    /// Answers the caller: its result if `committed`, else the commit's error.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Task<T, F> {
    write: F,
    result: Option<Result<T, DomainError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, DomainError>>,
}

impl<T, F> Job for Task<T, F>
where
    T: Send,
    F: FnMut(&WriteTransaction) -> Result<T, DomainError> + Send,
{
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
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("directory-writer".into())
            .spawn(move || writer(&db, &queue))
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
        self.submit(write)?.await
    }

    /// Queues `write` for the next group now, and returns what waits for its result: a caller
    /// may answer its own client first and learn the outcome later.
    pub(crate) fn submit<T, F>(
        &self,
        write: F,
    ) -> Result<impl Future<Output = Result<T, DomainError>> + use<T, F>, DomainError>
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<T, DomainError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .as_ref()
            .ok_or_else(|| DomainError::Storage("the directory writer stopped".into()))?
            .send(Box::new(Task {
                write,
                result: None,
                reply,
            }))
            .map_err(|_| DomainError::Storage("the directory writer stopped".into()))?;
        Ok(async move {
            answer
                .await
                .map_err(|_| DomainError::Storage("the directory writer stopped".into()))?
        })
    }
}

fn writer(db: &redb::Database, queue: &mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(db, group);
    }
}

fn commit_group(db: &redb::Database, mut group: Vec<Box<dyn Job>>) {
    while !group.is_empty() {
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(error) => {
                let why = error.to_string();
                for job in group {
                    job.finish(Err(why.clone()));
                }
                return;
            }
        };
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
                for job in group {
                    job.finish(committed.clone());
                }
                return;
            }
        }
    }
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
}
