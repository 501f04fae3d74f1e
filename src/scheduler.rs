//! Timed jobs: work that falls due with time rather than with mail. Today that is auto-closure
//! of resolved tickets; SLA warnings, the daily digest and the technicians' morning queue join
//! the same loop. Every job reads
//! the clock it is given (tests move a `ManualClock`) and finds due work from the database
//! alone, so a job missed while Loket was down runs on the next start, and once: the change and
//! its mail are committed together, and a changed ticket is no longer due.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rusqlite::Connection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::decide::{lifecycle, sla};
use crate::effects;
use crate::env::{Env, LiveEnv};
use crate::store;

/// Runs every due job once; returns how many tickets changed.
pub fn tick(conn: &mut Connection, env: &Env) -> Result<usize> {
    Ok(sla_steps(conn, env)?
        + auto_close(conn, env)?
        + approvals(conn, env)?
        // The digest counts mails queued, not tickets: either way the sender has work.
        + crate::digest::run_due(conn, env)?
        + crate::digest::morning::run_due(conn, env)?)
}

/// Approvals without a decision: one reminder to the approver after `approvals.remind_after`,
/// and the managers told once after `approvals.escalate_after`.
fn approvals(conn: &mut Connection, env: &Env) -> Result<usize> {
    let cfg = &env.cfg;
    let now = env.clock.now();
    let remind = now - chrono::Duration::from_std(cfg.approvals.remind_after)?;
    let escalate = now - chrono::Duration::from_std(cfg.approvals.escalate_after)?;
    let due: Vec<_> = store::approvals::waiting_since(conn, remind)?
        .into_iter()
        .filter(|a| {
            a.reminded_at.is_none() || (a.escalated_at.is_none() && a.requested_at <= escalate)
        })
        .collect();
    let ctx = env.ctx(now);
    store::per_ticket(
        conn,
        due.iter().map(|a| (a.ticket_id, a)),
        |tx, ticket, a| {
            let mut done = 0;
            // The marks are conditional updates: a step another run already took is skipped.
            if store::approvals::mark_reminded(tx, a.id, now)? {
                effects::approval_owed(tx, &ctx, &ticket, a, effects::Owed::Reminder)?;
                done += 1;
            }
            if a.requested_at <= escalate && store::approvals::mark_escalated(tx, a.id, now)? {
                effects::approval_owed(tx, &ctx, &ticket, a, effects::Owed::Overdue)?;
                done += 1;
            }
            Ok(done)
        },
    )
}

/// SLA warnings and breaches that are due, each recorded once in `sla_steps` together with
/// the mails and escalation it causes.
fn sla_steps(conn: &mut Connection, env: &Env) -> Result<usize> {
    let cfg = &env.cfg;
    let now = env.clock.now();
    let cal = cfg.calendar();
    // Warnings come before their deadline, by at most a target's length in working time; over
    // weekends and holidays that can be many days of wall time.
    let horizon = now + chrono::Duration::days(60);
    let running = store::tickets::sla_running(conn, horizon)?;
    let ctx = env.ctx(now);
    store::per_ticket(
        conn,
        running.iter().map(|(t, _)| (t.id, ())),
        |tx, ticket, ()| {
            let clock = store::tickets::sla_clock(tx, ticket.id)?;
            let Some(targets) = effects::targets(cfg, &ticket) else {
                return Ok(0);
            };
            let mut done = 0;
            for step in sla::due_steps(&ticket, &clock, &targets, cfg.escalation.warn_at, now, &cal)
            {
                if store::tickets::record_sla_step(tx, ticket.id, step.key(), now)? {
                    effects::sla_step(tx, &ctx, &ticket, &clock, step)?;
                    done += 1;
                }
            }
            Ok(done)
        },
    )
}

/// Closes resolved tickets whose requester stayed silent for `lifecycle.auto_close_after`.
fn auto_close(conn: &mut Connection, env: &Env) -> Result<usize> {
    let cfg = &env.cfg;
    let after = cfg.lifecycle.auto_close_after;
    let now = env.clock.now();
    let cutoff = now - chrono::Duration::from_std(after).context("auto_close_after too large")?;
    let due = store::tickets::resolved_before(conn, cutoff)?;
    let ctx = env.ctx(now);
    store::per_ticket(conn, due.iter().map(|t| (t.id, ())), |tx, ticket, ()| {
        let Some(plan) = lifecycle::auto_close(&ticket, after, now) else {
            return Ok(0);
        };
        effects::commit(tx, &ctx, &ticket, &plan, "loket", None)?;
        tracing::info!(ticket = ticket.id, "closed automatically after silence");
        Ok(1)
    })
}

/// The scheduler task: a tick every `lifecycle.scheduler_interval` until `cancel`.
pub async fn run(
    live: Arc<LiveEnv>,
    db_path: &Path,
    wake_sender: Arc<Notify>,
    cancel: CancellationToken,
) -> Result<()> {
    let db = store::Db::open(db_path)?;
    loop {
        // Read afresh each tick: a reload (SIGHUP) changes rules, targets and templates.
        let env = live.get();
        let interval = env.cfg.lifecycle.scheduler_interval;
        let result = db.run(move |conn| tick(conn, &env)).await;
        match result {
            Ok(0) => {}
            Ok(_) => wake_sender.notify_one(),
            // A database hiccup: the work is still due and is found again next tick.
            Err(e) => {
                tracing::error!(db = %db_path.display(), error = %format!("{e:#}"), "scheduler tick failed")
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::fixtures::count;

    fn env(clock: Arc<ManualClock>) -> Env {
        let extra = format!(
            r#"
[lifecycle]
auto_close_after = "24h"
[escalation]
managers = ["boss@example.test"]
# These tests count what the other jobs do; the morning queue has tests/morning.rs.
[morning]
enabled = false
{}"#,
            crate::fixtures::technicians(&[
                ("budi@example.test", "Budi", 1),
                ("sari@example.test", "Sari", 2)
            ])
        );
        let cfg = crate::fixtures::config("helpdesk@example.test", &extra).expect("config");
        crate::fixtures::env(cfg, clock)
    }

    /// One mail through the pipeline, as `loket ingest` would take it.
    fn deliver(conn: &mut Connection, env: &Env, from: &str, id: &str, subject: &str, body: &str) {
        crate::fixtures::deliver(conn, env, (from, id), subject, body);
    }

    /// Rina's VPN request, resolved by Budi.
    fn resolved(clock: &Arc<ManualClock>) -> (Env, Connection) {
        let env = env(Arc::clone(clock));
        let mut conn = store::memory();
        deliver(&mut conn, &env, "rina@example.test", "a@x", "VPN", "mati");
        let subject = "RE: [HD-1] VPN";
        deliver(
            &mut conn,
            &env,
            "budi@example.test",
            "b@x",
            subject,
            "#resolve",
        );
        (env, conn)
    }

    #[test]
    fn auto_close_happens_once_even_when_overdue() {
        let clock = crate::fixtures::clock_at("2026-11-23T02:00:00Z");
        let (env, mut conn) = resolved(&clock);
        let closing = "SELECT COUNT(*) FROM outbox WHERE kind = 'closed'";

        clock.advance(chrono::Duration::hours(23));
        assert_eq!(tick(&mut conn, &env).expect("tick"), 0);
        assert_eq!(count(&conn, closing), 0);

        // Loket was down for two days: the closure happens at the first tick, once.
        clock.advance(chrono::Duration::hours(48));
        assert_eq!(tick(&mut conn, &env).expect("tick"), 1);
        assert_eq!(tick(&mut conn, &env).expect("tick"), 0);
        assert_eq!(count(&conn, closing), 1);
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM tickets WHERE status = 'closed'"
            ),
            1
        );
    }

    #[test]
    fn a_reply_before_the_deadline_keeps_the_ticket_open() {
        let clock = crate::fixtures::clock_at("2026-11-23T02:00:00Z");
        let (env, mut conn) = resolved(&clock);
        clock.advance(chrono::Duration::hours(20));
        deliver(
            &mut conn,
            &env,
            "rina@example.test",
            "c@x",
            "RE: [HD-1] VPN",
            "masih mati",
        );
        clock.advance(chrono::Duration::hours(30));
        assert_eq!(tick(&mut conn, &env).expect("tick"), 0);
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM tickets WHERE status = 'in-progress'"
            ),
            1
        );
    }

    fn outbox_to(conn: &Connection, kind: &str, rcpt: &str) -> i64 {
        conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE kind = ?1 AND rcpt LIKE '%' || ?2 || '%'",
            [kind, rcpt],
            |r| r.get(0),
        )
        .expect("count")
    }

    #[test]
    fn sla_warning_then_breach_escalate_once_each() {
        // Monday 23 Nov 2026 09:00 WIB; P3: response 4 working hours, resolution 48.
        let clock = crate::fixtures::clock_at("2026-11-23T02:00:00Z");
        let env = env(Arc::clone(&clock));
        let mut conn = store::memory();
        deliver(&mut conn, &env, "rina@example.test", "a@x", "VPN", "mati");
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM tickets WHERE response_due_at IS NOT NULL"
            ),
            1
        );
        clock.advance(chrono::Duration::hours(2));
        tick(&mut conn, &env).expect("tick");
        assert_eq!(outbox_to(&conn, "sla_warning", "budi@"), 0, "too early");

        clock.advance(chrono::Duration::hours(1)); // 12:00 WIB, 75 % of 4h.
        tick(&mut conn, &env).expect("tick");
        tick(&mut conn, &env).expect("tick");
        assert_eq!(
            outbox_to(&conn, "sla_warning", "budi@"),
            1,
            "owner warned once"
        );

        clock.advance(chrono::Duration::hours(1)); // 13:00 WIB: breached.
        tick(&mut conn, &env).expect("tick");
        tick(&mut conn, &env).expect("tick");
        assert_eq!(
            outbox_to(&conn, "sla_breach", "budi@"),
            1,
            "owner told once"
        );
        assert_eq!(outbox_to(&conn, "tech_new", "sari@"), 1, "L2 notified once");
        assert_eq!(outbox_to(&conn, "level", "rina@"), 1, "requester told once");
        assert_eq!(
            count(&conn, "SELECT level FROM tickets WHERE id = 1"),
            2,
            "escalated to L2"
        );
        assert_eq!(
            outbox_to(&conn, "sla_breach", "boss@"),
            0,
            "managers only on resolution"
        );

        // Two working days later the resolution target passes too: managers hear of it.
        clock.advance(chrono::Duration::days(7));
        tick(&mut conn, &env).expect("tick");
        tick(&mut conn, &env).expect("tick");
        assert_eq!(outbox_to(&conn, "sla_breach", "boss@"), 1);
        assert_eq!(count(&conn, "SELECT level FROM tickets WHERE id = 1"), 3);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM sla_steps"), 3);
    }

    #[test]
    fn an_answer_in_time_prevents_the_response_escalation() {
        let clock = crate::fixtures::clock_at("2026-11-23T02:00:00Z");
        let env = env(Arc::clone(&clock));
        let mut conn = store::memory();
        deliver(&mut conn, &env, "rina@example.test", "a@x", "VPN", "mati");
        clock.advance(chrono::Duration::hours(1));
        deliver(
            &mut conn,
            &env,
            "budi@example.test",
            "b@x",
            "RE: [HD-1] VPN",
            "Sedang saya cek.",
        );
        clock.advance(chrono::Duration::hours(5));
        tick(&mut conn, &env).expect("tick");
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM sla_steps"), 0);
        assert_eq!(count(&conn, "SELECT level FROM tickets WHERE id = 1"), 1);
    }

    fn token(conn: &Connection) -> String {
        conn.query_row("SELECT token FROM approvals", [], |r| r.get(0))
            .expect("token")
    }

    fn ask_approval(conn: &mut Connection, env: &Env) {
        let tx = conn.transaction().expect("tx");
        let ticket = store::tickets::get(&tx, 1).expect("get").expect("ticket");
        let ctx = env.ctx(env.clock.now());
        effects::request_approval(&tx, &ctx, &ticket, "boss@example.test").expect("ask");
        tx.commit().expect("commit");
    }

    #[test]
    fn approval_by_reply_with_token_replay_and_reminders() {
        let clock = crate::fixtures::clock_at("2026-11-23T02:00:00Z");
        let env = env(Arc::clone(&clock));
        let mut conn = store::memory();
        deliver(
            &mut conn,
            &env,
            "rina@example.test",
            "a@x",
            "Akses CCTV",
            "mohon akses",
        );
        ask_approval(&mut conn, &env);
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM tickets WHERE status = 'awaiting-approval' AND sla_paused_at IS NOT NULL"
            ),
            1
        );
        assert_eq!(outbox_to(&conn, "approval_request", "boss@"), 1);
        let tag = crate::decide::approval::token_tag(&token(&conn));

        // Without the token: nothing happens.
        deliver(
            &mut conn,
            &env,
            "boss@example.test",
            "b1@x",
            "RE: [HD-1] Akses CCTV",
            "SETUJU",
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM tickets WHERE status = 'awaiting-approval'"
            ),
            1
        );

        // Reminder once after a day; managers once after two.
        clock.advance(chrono::Duration::hours(25));
        tick(&mut conn, &env).expect("tick");
        tick(&mut conn, &env).expect("tick");
        assert_eq!(outbox_to(&conn, "approval_reminder", "boss@"), 1);
        clock.advance(chrono::Duration::hours(24));
        tick(&mut conn, &env).expect("tick");
        tick(&mut conn, &env).expect("tick");
        assert_eq!(outbox_to(&conn, "approval_reminder", "boss@"), 1);
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'approval_overdue'"
            ),
            1
        );

        // With the token, from the approver: approved.
        let subject = format!("RE: [HD-1] {tag} Akses CCTV");
        deliver(
            &mut conn,
            &env,
            "boss@example.test",
            "b2@x",
            &subject,
            "Setuju, silakan.",
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM tickets WHERE status = 'open' AND sla_paused_at IS NULL"
            ),
            1
        );
        assert_eq!(outbox_to(&conn, "approved", "rina@"), 1);
        assert_eq!(
            outbox_to(&conn, "tech_new", "budi@"),
            2,
            "technicians hear when it may proceed"
        );

        // The same decision replayed (another Message-ID): ignored and logged.
        deliver(
            &mut conn,
            &env,
            "boss@example.test",
            "b3@x",
            &subject,
            "TOLAK",
        );
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM tickets WHERE status = 'open'"),
            1
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM events WHERE kind = 'approval_ignored' AND detail LIKE '%replayed%'"
            ),
            1
        );
    }

    #[test]
    fn rejection_reaches_the_requester_and_forgery_is_ignored() {
        let clock = crate::fixtures::clock_at("2026-11-23T02:00:00Z");
        let env = env(Arc::clone(&clock));
        let mut conn = store::memory();
        deliver(
            &mut conn,
            &env,
            "rina@example.test",
            "a@x",
            "Akses DC",
            "mohon akses",
        );
        ask_approval(&mut conn, &env);
        let subject = format!(
            "RE: [HD-1] {} Akses DC",
            crate::decide::approval::token_tag(&token(&conn))
        );
        // Someone else with the token: not an approver of HD-1, so not on the ticket at all.
        deliver(
            &mut conn,
            &env,
            "mallory@example.test",
            "m@x",
            &subject,
            "SETUJU",
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'awaiting-approval'"
            ),
            1
        );
        deliver(
            &mut conn,
            &env,
            "boss@example.test",
            "b@x",
            &subject,
            "TOLAK: akses DC hanya untuk tim infrastruktur",
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'rejected'"
            ),
            1
        );
        let body: String = conn
            .query_row(
                "SELECT body FROM messages WHERE kind = 'rejected'",
                [],
                |r| r.get(0),
            )
            .expect("rejected mail");
        assert!(body.contains("hanya untuk tim infrastruktur"), "{body}");
    }

    #[test]
    fn category_overrides_targets_and_requires_approval() {
        let clock = crate::fixtures::clock_at("2026-11-23T02:00:00Z");
        let cfg = crate::fixtures::config(
            "helpdesk@example.test",
            r#"
[[categories]]
name = "cctv"
response = "2h"
approval = "boss@example.test"
[[rules]]
subject_any = ["cctv"]
category = "cctv"
"#,
        )
        .expect("config");
        let env = crate::fixtures::env(cfg, clock);
        let mut conn = store::memory();
        deliver(
            &mut conn,
            &env,
            "rina@example.test",
            "a@x",
            "Akses CCTV",
            "mohon",
        );
        let t = store::tickets::get(&conn, 1).expect("get").expect("ticket");
        assert_eq!(t.category.as_deref(), Some("cctv"));
        assert_eq!(t.status, crate::model::Status::AwaitingApproval);
        // P3 (4 working hours) overridden to 2: Monday 09:00 WIB + 2h.
        let clock = store::tickets::sla_clock(&conn, 1).expect("clock");
        assert_eq!(
            clock.response_due,
            Some("2026-11-23T04:00:00Z".parse().expect("time"))
        );
        assert!(clock.paused_at.is_some());
        assert_eq!(outbox_to(&conn, "approval_request", "boss@"), 1);
    }
}
