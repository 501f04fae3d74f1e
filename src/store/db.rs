//! The write discipline as a type. Every daemon task holds a [`Db`]: its own connection, and
//! the process's one write gate, which it takes by itself for every write. Nothing outside this
//! file touches the gate's mutex or its queue.
//!
//! Why a gate when SQLite serialises writers anyway: its busy handler sleeps and retries, so a
//! task that writes back to back (the IMAP backlog) can starve another (the sender marking a
//! mail as sent) for a long time. A sent-but-not-yet-marked mail is exactly what a crash turns
//! into a duplicate, so the sender must get its turn at once: tokio's mutex is fair (first
//! come, first served), and a batching holder commits early when someone waits.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use rusqlite::{Connection, Transaction, TransactionBehavior};

/// One writer at a time, in arrival order, across the daemon's tasks.
static GATE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Writers queued at the gate through [`turn`]. A writer that keeps its turn over several
/// messages (the IMAP task's batched commits) commits early while this is non-zero, so the
/// sender's "mark sent" waits for at most one message, as with one commit per message.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// This process's turn at writing; the next writer's turn starts when it is dropped.
pub struct Turn {
    _guard: tokio::sync::MutexGuard<'static, ()>,
}

impl Turn {
    /// Whether another writer waits for its turn: a holder batching several messages should
    /// commit now and let it go first.
    pub fn others_waiting(&self) -> bool {
        WAITING.load(Ordering::SeqCst) > 0
    }
}

/// Waits for this task's turn at writing, asking a batching holder to make room.
pub async fn turn() -> Turn {
    struct Waiting;
    impl Drop for Waiting {
        // Also when the waiting future is dropped (cancelled) before it gets the gate.
        fn drop(&mut self) {
            WAITING.fetch_sub(1, Ordering::SeqCst);
        }
    }
    WAITING.fetch_add(1, Ordering::SeqCst);
    let _waiting = Waiting;
    Turn {
        _guard: GATE.lock().await,
    }
}

/// [`turn`] from a blocking thread. It does not ask a batching holder to make room: the
/// holder's own limits (a few milliseconds of holding) bound the wait.
pub fn blocking_turn() -> Turn {
    Turn {
        _guard: GATE.blocking_lock(),
    }
}

/// Runs `job` in one IMMEDIATE transaction, in this process's turn, and commits what it
/// returns `Ok` for; an `Err` rolls everything back. For writes made one small transaction at a
/// time (the scheduler's, per ticket) from a blocking thread.
pub fn write<T>(
    conn: &mut Connection,
    job: impl FnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let _turn = blocking_turn();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a transaction")?;
    let out = job(&tx)?;
    tx.commit().context("committing")?;
    Ok(out)
}

/// Runs `job` once per `(ticket id, item)`, each in a transaction of its own (see [`write`])
/// with the ticket read again inside it, so a change made since the caller's query (a reply
/// that reopened it) is seen; a ticket gone since is skipped. Returns the sum of what the jobs
/// count. For the scheduler's timed steps, which must never hold the gate for a whole sweep.
pub fn per_ticket<T>(
    conn: &mut Connection,
    items: impl IntoIterator<Item = (i64, T)>,
    mut job: impl FnMut(&Transaction<'_>, crate::model::Ticket, T) -> Result<usize>,
) -> Result<usize> {
    let mut done = 0;
    for (id, item) in items {
        done += write(conn, |tx| match super::tickets::get(tx, id)? {
            Some(ticket) => job(tx, ticket, item),
            None => Ok(0),
        })?;
    }
    Ok(done)
}

/// A task's connection to the store, shared with the blocking threads that use it.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens the store at `path` (migrating it) for one task.
    pub fn open(path: &Path) -> Result<Db> {
        Ok(Db::new(super::open(path)?))
    }

    pub fn new(conn: Connection) -> Db {
        Db {
            conn: Arc::new(Mutex::new(conn)),
        }
    }

    /// The connection, for code already on a blocking thread. A write through it takes its
    /// turn with [`write`] or [`blocking_turn`].
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `job` on a blocking thread with the connection: reads, or a job that takes its own
    /// turns (the ingest driver's batched commits).
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || job(&mut db.lock()))
            .await
            .context("database task panicked")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_job_writes_nothing_and_a_good_one_commits() {
        let mut conn = crate::store::open_in_memory().expect("store");
        let count = |c: &Connection| crate::fixtures::count(c, "SELECT COUNT(*) FROM events");
        let add = |tx: &Transaction<'_>| {
            tx.execute(
                "INSERT INTO events (ticket_id, at, actor, kind, detail) VALUES (NULL, 0, 'x', 'note', '')",
                [],
            )
        };
        let failed: Result<()> = write(&mut conn, |tx| {
            add(tx)?;
            anyhow::bail!("half-way")
        });
        assert!(failed.is_err());
        assert_eq!(count(&conn), 0);
        write(&mut conn, |tx| Ok(add(tx)?)).expect("written");
        assert_eq!(count(&conn), 1);
    }

    #[tokio::test]
    async fn a_waiting_writer_is_seen_by_the_holder() {
        let held = turn().await;
        let waiter = tokio::spawn(async { drop(turn().await) });
        // The waiter queues behind the held turn.
        while !held.others_waiting() {
            tokio::task::yield_now().await;
        }
        drop(held);
        waiter.await.expect("the waiter gets its turn");
    }
}
