//! The technicians' morning queue: once per working day (business calendar: no weekends, no
//! holidays) from `morning.time`, each technician gets their own open tickets and the tickets
//! they may take whose next deadline falls before the day ends, most urgent first. Exactly once
//! per technician and day across restarts: the `job_runs` row (`morning:<address>`, date) is
//! written in the transaction that queues the mail, or alone when there is nothing to send.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{Connection, TransactionBehavior};

use super::figures::local_midnight;
use crate::config::Technician;
use crate::effects::queries::{mine, row, takeable};
use crate::env::Env;
use crate::outbound::mails;
use crate::store::{self, queries::Listed, reports};

/// The `job_runs.job` of one technician's morning queue.
fn job(tech: &Technician) -> String {
    format!("morning:{}", tech.email)
}

/// Queues the morning queues that are due; returns how many mails were queued.
pub fn run_due(conn: &mut Connection, env: &Env) -> Result<usize> {
    let cfg = &env.cfg;
    if !cfg.morning.enabled || cfg.technicians.is_empty() {
        return Ok(0);
    }
    let now = env.clock.now();
    let local = now.with_timezone(&cfg.helpdesk.timezone);
    if local.time() < cfg.morning.local_time {
        return Ok(0);
    }
    let today = local.date_naive();
    if !super::is_working_day(cfg, today) {
        return Ok(0);
    }
    let period = today.format("%Y-%m-%d").to_string();
    let mut queued = 0;
    for tech in &cfg.technicians {
        // The check every tick after the morning comes to: one indexed lookup per technician.
        if reports::job_done(conn, &job(tech), &period)? {
            continue;
        }
        queued += one(conn, env, tech, (today, &period), now)
            .with_context(|| format!("the morning queue of {}", tech.email))?;
    }
    Ok(queued)
}

/// What one technician's morning queue lists: their open tickets, and the tickets they may
/// take (or own) whose next deadline falls before `day_ends`.
pub fn lists(
    conn: &Connection,
    env: &Env,
    tech: &Technician,
    day_ends: DateTime<Utc>,
) -> Result<(Vec<Listed>, Vec<Listed>)> {
    let mut own = mine(conn, tech)?;
    let mut at_risk: Vec<Listed> = takeable(&env.cfg, tech, store::queries::active(conn)?);
    at_risk.extend(
        own.iter()
            .filter(|l| !at_risk.iter().any(|a| a.ticket.id == l.ticket.id))
            .cloned()
            .collect::<Vec<_>>(),
    );
    at_risk.retain(|l| l.next_due().is_some_and(|(due, _)| due < day_ends));
    let urgency = |l: &Listed| {
        (
            l.next_due()
                .map(|(d, _)| d)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            l.ticket.id,
        )
    };
    own.sort_by_key(urgency);
    at_risk.sort_by_key(urgency);
    Ok((own, at_risk))
}

fn one(
    conn: &mut Connection,
    env: &Env,
    tech: &Technician,
    (today, period): (NaiveDate, &str),
    now: DateTime<Utc>,
) -> Result<usize> {
    let cfg = &env.cfg;
    let day_ends = local_midnight(cfg.helpdesk.timezone, today + Duration::days(1));
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !reports::record_job(&tx, &job(tech), period, now)? {
        // Another process took this day between the check and the lock.
        return Ok(0);
    }
    let (own, at_risk) = lists(&tx, env, tech, day_ends)?;
    let mut queued = 0;
    if !own.is_empty() || !at_risk.is_empty() || cfg.morning.send_when_empty {
        let ctx = env.ctx(now);
        let lang = cfg.technician_language(tech);
        let rows = |l: &[Listed]| l.iter().map(|l| row(&ctx, l, lang)).collect::<Vec<_>>();
        let date = today.format("%d-%m-%Y").to_string();
        mails::morning_queue(&tx, &ctx, tech, &date, (&rows(&own), &rows(&at_risk)))?;
        queued = 1;
    }
    tx.commit().context("committing the morning queue")?;
    tracing::info!(technician = %tech.email, date = period, mailed = queued == 1, "morning queue");
    Ok(queued)
}
