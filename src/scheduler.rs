//! Timed jobs: work that falls due with time rather than with mail. Today that is auto-closure
//! of resolved tickets; SLA warnings and the daily digest join the same loop. Every job reads
//! the clock it is given (tests move a `ManualClock`) and finds due work from the database
//! alone, so a job missed while Loket was down runs on the next start, and once: the change and
//! its mail are committed together, and a changed ticket is no longer due.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::decide::lifecycle;
use crate::effects;
use crate::outbound;
use crate::pipeline::Env;
use crate::store;

/// Runs every due job once; returns how many tickets changed.
pub fn tick(conn: &mut Connection, env: &Env) -> Result<usize> {
    auto_close(conn, env)
}

/// Closes resolved tickets whose requester stayed silent for `lifecycle.auto_close_after`.
fn auto_close(conn: &mut Connection, env: &Env) -> Result<usize> {
    let cfg = &env.cfg;
    let after = cfg.lifecycle.auto_close_after;
    let now = env.clock.now();
    let cutoff = now - chrono::Duration::from_std(after).context("auto_close_after too large")?;
    let due = store::tickets::resolved_before(conn, cutoff)?;
    let mut closed = 0;
    for candidate in due {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read again inside the transaction: a reply may have reopened it since the query.
        let Some(ticket) = store::tickets::get(&tx, candidate.id)? else {
            continue;
        };
        if let Some(plan) = lifecycle::auto_close(&ticket, after, now) {
            let ctx = outbound::Ctx {
                cfg,
                renderer: &env.renderer,
                now,
            };
            effects::commit(&tx, &ctx, &ticket, &plan, "loket", None)?;
            closed += 1;
            tracing::info!(ticket = ticket.id, "closed automatically after silence");
        }
        tx.commit()?;
    }
    Ok(closed)
}

/// The scheduler task: a tick every `lifecycle.scheduler_interval` until `cancel`.
pub async fn run(
    env: Env,
    db_path: &Path,
    wake_sender: Arc<Notify>,
    cancel: CancellationToken,
) -> Result<()> {
    let db = Arc::new(Mutex::new(store::open(db_path)?));
    let interval = env.cfg.lifecycle.scheduler_interval;
    loop {
        let (db2, env2) = (Arc::clone(&db), env.clone());
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = db2.lock().unwrap_or_else(|p| p.into_inner());
            tick(&mut conn, &env2)
        })
        .await
        .context("scheduler job panicked")?;
        match result {
            Ok(0) => {}
            Ok(_) => wake_sender.notify_one(),
            // A database hiccup: the work is still due and is found again next tick.
            Err(e) => tracing::error!(error = %format!("{e:#}"), "scheduler tick failed"),
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
    use crate::clock::{Clock, ManualClock};
    use crate::config::Config;
    use crate::outbound::render::Renderer;
    use crate::pipeline::{Source, process};

    fn env(clock: Arc<ManualClock>) -> Env {
        let cfg = Config::from_toml(
            r#"
[helpdesk]
address = "helpdesk@example.test"
[imap]
host = "127.0.0.1"
port = 1143
tls = "none"
username = "helpdesk@example.test"
password = "x"
[smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
[database]
path = "x.db"
[lifecycle]
auto_close_after = "24h"
[[technicians]]
email = "budi@example.test"
name = "Budi"
"#,
            Path::new("t.toml"),
        )
        .expect("config");
        Env {
            cfg: Arc::new(cfg),
            renderer: Arc::new(Renderer::new(None).expect("templates")),
            clock: clock as Arc<dyn Clock>,
        }
    }

    fn mail(from: &str, id: &str, subject: &str, body: &str) -> Vec<u8> {
        format!(
            "From: <{from}>\r\nTo: <helpdesk@example.test>\r\nSubject: {subject}\r\n\
             Message-ID: <{id}>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0700\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    #[test]
    fn auto_close_happens_once_even_when_overdue() {
        let clock = Arc::new(ManualClock::new(
            "2026-11-23T02:00:00Z".parse().expect("time"),
        ));
        let env = env(Arc::clone(&clock));
        let mut conn = store::memory();
        let src = Source::Stdin;
        process(
            &mut conn,
            &env,
            &mail("rina@example.test", "a@x", "VPN", "mati"),
            &src,
        )
        .expect("request");
        process(
            &mut conn,
            &env,
            &mail("budi@example.test", "b@x", "RE: [HD-1] VPN", "#resolve"),
            &src,
        )
        .expect("resolve");
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
        let clock = Arc::new(ManualClock::new(
            "2026-11-23T02:00:00Z".parse().expect("time"),
        ));
        let env = env(Arc::clone(&clock));
        let mut conn = store::memory();
        let src = Source::Stdin;
        process(
            &mut conn,
            &env,
            &mail("rina@example.test", "a@x", "VPN", "mati"),
            &src,
        )
        .expect("request");
        process(
            &mut conn,
            &env,
            &mail("budi@example.test", "b@x", "RE: [HD-1] VPN", "#resolve"),
            &src,
        )
        .expect("resolve");
        clock.advance(chrono::Duration::hours(20));
        process(
            &mut conn,
            &env,
            &mail("rina@example.test", "c@x", "RE: [HD-1] VPN", "masih mati"),
            &src,
        )
        .expect("reply");
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
}
