//! The ingest driver: what happens to a batch of fetched messages between the IMAP task and
//! the store. The IMAP task knows IMAP only (sessions, UIDs, flags); it hands each fetched batch
//! to [`Driver::ingest`] on a blocking thread and gets back what was committed, in order, so it
//! can move its progress past those and flag them. The driver owns the write discipline of a
//! backlog:
//!
//! - several messages per commit (`pipeline::process_batch`), the write gate held for at most
//!   [`MAX_PER_COMMIT`] messages or [`MAX_HOLD`], and given up at once when another writer waits;
//! - backpressure: no more stored while the outbox is long and the SMTP server works ([`pace`]);
//! - a message that fails for a reason that is not temporary is tried [`MAX_ATTEMPTS`] times,
//!   then quarantined with its bytes, so it cannot hold up the mailbox behind it;
//! - the sender is woken after every commit that queued mail;
//! - a shutdown stops at the next commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use rusqlite::Connection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::env::{Env, LiveEnv};
use crate::health::Health;
use crate::pipeline::{self, Outcome, Source};
use crate::store;

/// A message that fails this many times for a reason that is not temporary is quarantined.
pub const MAX_ATTEMPTS: u32 = 3;

/// At most this many messages per transaction ...
pub const MAX_PER_COMMIT: usize = 50;
/// ... and the write gate held at most this long by one batch (the scheduler takes the gate
/// without asking the holder to make room).
pub const MAX_HOLD: Duration = Duration::from_millis(20);

/// What the driver of one mailbox works with; kept across IMAP reconnects.
pub struct Driver {
    /// Rules, templates and the rest of the config as reloaded by SIGHUP; read per batch.
    pub live: Arc<LiveEnv>,
    /// Woken after a commit that queued mail.
    pub outbox_wake: Arc<Notify>,
    /// Whether the SMTP server works (backpressure only applies while it does).
    pub health: Arc<Health>,
    pub cancel: CancellationToken,
    /// Failed attempts per message (UIDVALIDITY, UID) that failed for a reason that is not
    /// temporary. See [`MAX_ATTEMPTS`].
    attempts: Mutex<HashMap<(u32, u32), u32>>,
}

/// What [`Driver::ingest`] committed: the (UID, outcome) of each message, in order, and the
/// failure that stopped the batch before the next one (nothing of it was kept).
pub struct Committed {
    pub done: Vec<(u32, Outcome)>,
    pub failure: Option<anyhow::Error>,
}

impl Driver {
    pub fn new(
        live: Arc<LiveEnv>,
        outbox_wake: Arc<Notify>,
        health: Arc<Health>,
        cancel: CancellationToken,
    ) -> Driver {
        Driver {
            live,
            outbox_wake,
            health,
            cancel,
            attempts: Mutex::default(),
        }
    }

    /// Stores `fetched` (UID and bytes, in UID order) from IMAP mailbox `mailbox`, several
    /// messages per transaction, in order; stops at the first failure that is temporary (a lock,
    /// a full disk), so nothing is skipped. Runs on a blocking thread.
    pub fn ingest(
        &self,
        conn: &mut Connection,
        mailbox: &str,
        uid_validity: u32,
        fetched: &[(u32, Vec<u8>)],
    ) -> Committed {
        let env = self.live.get();
        let items: Vec<(&[u8], Source)> = fetched
            .iter()
            .map(|(uid, raw)| {
                let source = Source::Imap {
                    mailbox: mailbox.to_string(),
                    uid_validity,
                    uid: *uid,
                };
                (raw.as_slice(), source)
            })
            .collect();
        let mut done = Vec::new();
        // A shutdown stops at the next commit: the rest of the batch stays unseen on the
        // server and is fetched again after the restart.
        while done.len() < items.len() && !self.cancel.is_cancelled() {
            pace(conn, &env, &self.health, &self.cancel);
            let batch = {
                let turn = store::blocking_turn();
                let held = std::time::Instant::now();
                // Commit when the sender (or another writer) waits for the gate, and at least
                // every few milliseconds, so no writer waits long.
                let enough = |n: usize| {
                    n >= MAX_PER_COMMIT || held.elapsed() >= MAX_HOLD || turn.others_waiting()
                };
                pipeline::process_batch(conn, &env, &items[done.len()..], &enough)
            };
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(uid = fetched[done.len()].0, error = %format!("{e:#}"), "messages not stored; will retry");
                    return Committed {
                        done,
                        failure: Some(e),
                    };
                }
            };
            if batch
                .outcomes
                .iter()
                .any(|o| matches!(o, Outcome::Created { .. } | Outcome::Appended { .. }))
            {
                self.outbox_wake.notify_one();
            }
            for outcome in batch.outcomes {
                done.push((fetched[done.len()].0, outcome));
            }
            let Some(e) = batch.failure else {
                continue;
            };
            let (uid, (raw, source)) = (fetched[done.len()].0, &items[done.len()]);
            match self.failed(conn, &env, (uid_validity, uid), (raw, source), e) {
                Ok(Some(outcome)) => done.push((uid, outcome)),
                Ok(None) => {}
                Err(e) => {
                    return Committed {
                        done,
                        failure: Some(e),
                    };
                }
            }
        }
        Committed {
            done,
            failure: None,
        }
    }

    /// A message failed with `e`. A lock or a full disk passes: `Err`, and the batch stops
    /// there. Anything else fails the same way every time: it is tried again at once (`Ok(None)`;
    /// a reconnect per try would only add the reconnect backoff to every bad message), and after
    /// [`MAX_ATTEMPTS`] it goes to quarantine, raw bytes and error kept (`Ok(Some(outcome))`).
    fn failed(
        &self,
        conn: &mut Connection,
        env: &Env,
        key: (u32, u32),
        (raw, source): (&[u8], &Source),
        e: anyhow::Error,
    ) -> Result<Option<Outcome>> {
        let uid = key.1;
        if store::temporary_failure(&e).is_some() {
            tracing::error!(uid, error = %format!("{e:#}"), "message not stored; will retry");
            return Err(e);
        }
        let tries = {
            let mut a = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
            let n = a.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        if tries < MAX_ATTEMPTS {
            tracing::warn!(uid, tries, error = %format!("{e:#}"), "message not stored; trying it again");
            return Ok(None);
        }
        tracing::error!(uid, tries, error = %format!("{e:#}"), "message fails every time; quarantined with its raw bytes");
        let kept = {
            let _turn = store::blocking_turn();
            pipeline::quarantine_unprocessable(conn, env, raw, source, &e)?
        };
        self.attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        Ok(Some(kept))
    }
}

/// Mails due (acknowledgements, relays, notifications) above which the driver waits before
/// storing more; see [`pace`].
pub const OUTBOX_HIGH_WATER: i64 = 50;

/// Backpressure for a backlog: while more than [`OUTBOX_HIGH_WATER`] mails wait for a working
/// SMTP server, the IMAP task waits (a few milliseconds at a time) instead of storing more.
/// Storing runs far ahead of sending otherwise, and on a small machine the two fight for the
/// same cores: the acknowledgements of the first requests wait behind the whole backlog, and the
/// backlog as a whole takes longer. With the SMTP server failing, nothing waits: mail is stored
/// and the outbox grows until the server returns.
fn pace(conn: &Connection, env: &Env, health: &Health, cancel: &CancellationToken) {
    let started = std::time::Instant::now();
    while !cancel.is_cancelled() && !health.smtp_failing() {
        match store::outbox::due_count(conn, env.clock.now(), OUTBOX_HIGH_WATER + 1) {
            Ok(n) if n > OUTBOX_HIGH_WATER => {}
            // Below the mark, or a database hiccup (the store call after this will say).
            _ => break,
        }
        // A sender stuck without failing (a hung connection) must not stop ingest for good.
        if started.elapsed() > PACE_LIMIT {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The longest the IMAP task waits for the outbox per commit.
const PACE_LIMIT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        crate::fixtures::env(
            crate::fixtures::config("helpdesk@example.test", "").expect("config"),
            crate::fixtures::clock_at("2026-11-23T02:00:00Z"),
        )
    }

    fn queue(conn: &Connection, n: usize) {
        for i in 0..n {
            conn.execute(
                "INSERT INTO outbox (kind, message_id, envelope_from, rcpt, raw, created_at, \
                 next_attempt_at) VALUES ('ack', ?1, 'h@example.test', 'r@example.test', x'00', 0, 0)",
                [format!("m{i}")],
            )
            .expect("outbox row");
        }
    }

    #[test]
    fn pace_waits_only_for_a_long_queue_and_a_working_server() {
        let conn = store::open_in_memory().expect("store");
        let env = env();
        let health = Health::new([], env.clock.now());
        let cancel = CancellationToken::new();
        let timed = |h: &Health| {
            let t = std::time::Instant::now();
            pace(&conn, &env, h, &cancel);
            t.elapsed()
        };
        queue(&conn, OUTBOX_HIGH_WATER as usize);
        assert!(
            timed(&health) < Duration::from_millis(500),
            "at the mark: no wait"
        );
        queue(&conn, 1);
        let waited = timed(&health);
        assert!(
            waited >= PACE_LIMIT && waited < PACE_LIMIT * 3,
            "above the mark: waits, but not for ever ({waited:?})"
        );
        health.smtp_failed(env.clock.now(), "connection refused");
        assert!(
            timed(&health) < Duration::from_millis(500),
            "SMTP failing: mail is stored, the outbox grows"
        );
    }
}
