//! What the daily digest and the monthly recap read, and the once-per-period record of the jobs
//! that mail them. Read-only over tickets, events and approvals: every query returns plain rows
//! and `digest` does the counting, so the figures are testable without SQL.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};

use super::{from_ms, to_ms};

/// A ticket as the digest sees it: its state, its SLA deadlines and the moments that count.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestTicket {
    pub id: i64,
    /// Empty for finished tickets: only open ones are listed.
    pub subject: String,
    pub status: String,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub level: i64,
    pub owner: Option<String>,
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// NULL when no SLA target applies (no priority with targets).
    pub response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// Set while the SLA clock stands still (waiting, awaiting-approval).
    pub sla_paused_at: Option<DateTime<Utc>>,
}

fn opt_time(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(r.get::<_, Option<i64>>(i)?.map(from_ms))
}

/// Every unfinished ticket, and every ticket with anything (creation, answer, resolution,
/// closure, a deadline) at or after `since`: all the digest needs, in one pass over the table.
/// Only open tickets are ever listed by subject, so finished ones come without it (empty).
pub fn digest_tickets(conn: &Connection, since: DateTime<Utc>) -> Result<Vec<DigestTicket>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, CASE WHEN status IN ('resolved', 'closed', 'rejected', 'merged') THEN '' ELSE subject END, status, priority, category, level, owner, created_at, \
         first_response_at, resolved_at, closed_at, response_due_at, resolution_due_at, \
         sla_paused_at FROM tickets \
         WHERE status NOT IN ('resolved', 'closed', 'rejected', 'merged') \
         OR created_at >= ?1 OR first_response_at >= ?1 OR resolved_at >= ?1 OR closed_at >= ?1 \
         OR response_due_at >= ?1 OR resolution_due_at >= ?1",
    )?;
    let rows = stmt.query_map([to_ms(since)], |r| {
        Ok(DigestTicket {
            id: r.get(0)?,
            subject: r.get(1)?,
            status: r.get(2)?,
            priority: r.get(3)?,
            category: r.get(4)?,
            level: r.get(5)?,
            owner: r.get(6)?,
            created_at: from_ms(r.get(7)?),
            first_response_at: opt_time(r, 8)?,
            resolved_at: opt_time(r, 9)?,
            closed_at: opt_time(r, 10)?,
            response_due_at: opt_time(r, 11)?,
            resolution_due_at: opt_time(r, 12)?,
            sla_paused_at: opt_time(r, 13)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A status change (`events.kind = 'status'`, detail "from -> to[: note]") with the category of
/// its ticket, for scoping.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub ticket_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub detail: String,
    pub category: Option<String>,
    pub owner: Option<String>,
}

/// Status changes in `[from, to)` that may be a resolution ("... -> resolved") or a reopening
/// ("resolved -> ..."), in no particular order (they are counted, not listed); the caller tells
/// which from the detail. The filter only keeps the other changes, most of them, from being
/// read at all.
pub fn status_events(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<StatusEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.ticket_id, e.at, e.actor, e.detail, t.category, t.owner \
         FROM events e JOIN tickets t ON t.id = e.ticket_id \
         WHERE e.kind = 'status' AND e.at >= ?1 AND e.at < ?2 \
         AND (e.detail LIKE 'resolved%' OR e.detail LIKE '%-> resolved%')",
    )?;
    let rows = stmt.query_map(params![to_ms(from), to_ms(to)], |r| {
        Ok(StatusEvent {
            ticket_id: r.get(0)?,
            at: from_ms(r.get(1)?),
            actor: r.get(2)?,
            detail: r.get(3)?,
            category: r.get(4)?,
            owner: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The categories of the tickets whose acknowledgement Loket held back (`ack_suppressed`)
/// between `from` and `to`, one per ticket: the digest counts them, so a person left without an
/// acknowledgement is noticed.
pub fn acks_held(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Option<String>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.category FROM events e JOIN tickets t ON t.id = e.ticket_id \
         WHERE e.kind = 'ack_suppressed' AND e.at >= ?1 AND e.at < ?2",
    )?;
    let rows = stmt.query_map(params![to_ms(from), to_ms(to)], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A ticket waiting for an approval, with who was asked and since when (when the approval row
/// is missing, the ticket's creation stands in).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    pub ticket_id: i64,
    pub subject: String,
    pub category: Option<String>,
    pub approver: Option<String>,
    pub since: DateTime<Utc>,
}

/// Tickets in status `awaiting-approval`, longest waiting first.
pub fn pending_approvals(conn: &Connection) -> Result<Vec<PendingApproval>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.id, t.subject, t.category, \
         (SELECT a.approver FROM approvals a WHERE a.ticket_id = t.id AND a.decided_at IS NULL \
          ORDER BY a.id DESC LIMIT 1), \
         COALESCE((SELECT a.requested_at FROM approvals a WHERE a.ticket_id = t.id \
          AND a.decided_at IS NULL ORDER BY a.id DESC LIMIT 1), t.created_at) AS since \
         FROM tickets t WHERE t.status = 'awaiting-approval' ORDER BY since, t.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(PendingApproval {
            ticket_id: r.get(0)?,
            subject: r.get(1)?,
            category: r.get(2)?,
            approver: r.get(3)?,
            since: from_ms(r.get(4)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One line of the monthly recap.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportTicket {
    pub id: i64,
    pub requester_email: String,
    pub status: String,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub level: i64,
    pub owner: Option<String>,
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub sla_paused_at: Option<DateTime<Utc>>,
    /// Mails on the ticket, in and out.
    pub messages: i64,
    /// Working time reported with `#time`, in seconds.
    pub time_seconds: i64,
    /// The requester's rating, 1-5.
    pub rating: Option<u8>,
}

/// Tickets created in `[from, to)`, in order of their number.
pub fn month_tickets(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ReportTicket>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.id, t.requester_email, t.status, t.priority, t.category, t.level, t.owner, \
         t.created_at, t.first_response_at, t.resolved_at, t.closed_at, t.response_due_at, \
         t.resolution_due_at, t.sla_paused_at, \
         (SELECT COUNT(*) FROM messages m WHERE m.ticket_id = t.id), \
         (SELECT COALESCE(SUM(s.seconds), 0) FROM time_spent s WHERE s.ticket_id = t.id), \
         (SELECT r.score FROM ratings r WHERE r.ticket_id = t.id) \
         FROM tickets t WHERE t.created_at >= ?1 AND t.created_at < ?2 ORDER BY t.id",
    )?;
    let rows = stmt.query_map(params![to_ms(from), to_ms(to)], |r| {
        Ok(ReportTicket {
            id: r.get(0)?,
            requester_email: r.get(1)?,
            status: r.get(2)?,
            priority: r.get(3)?,
            category: r.get(4)?,
            level: r.get(5)?,
            owner: r.get(6)?,
            created_at: from_ms(r.get(7)?),
            first_response_at: opt_time(r, 8)?,
            resolved_at: opt_time(r, 9)?,
            closed_at: opt_time(r, 10)?,
            response_due_at: opt_time(r, 11)?,
            resolution_due_at: opt_time(r, 12)?,
            sla_paused_at: opt_time(r, 13)?,
            messages: r.get(14)?,
            time_seconds: r.get(15)?,
            rating: r.get(16)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether `job` already ran for `period` (a cheap check before any work is done).
pub fn job_done(conn: &Connection, job: &str, period: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM job_runs WHERE job = ?1 AND period = ?2)")?
        .query_row(params![job, period], |r| r.get(0))?)
}

/// Records that `job` ran for `period`; false when it already had. Called in the transaction
/// that queues the job's mails, so the primary key makes the mails go out once.
pub fn record_job(conn: &Connection, job: &str, period: &str, now: DateTime<Utc>) -> Result<bool> {
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO job_runs (job, period, at) VALUES (?1, ?2, ?3)")?
        .execute(params![job, period, to_ms(now)])?;
    Ok(n == 1)
}

/// Keeps an unsent outbox mail from the sender task until `until`: `loket digest --send`
/// delivers it itself, and a daemon running beside it must not send it a second time.
pub fn hold_outbox(conn: &Connection, id: i64, until: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET next_attempt_at = ?2 WHERE id = ?1 AND sent_at IS NULL AND failed_at IS NULL",
    )?
    .execute(params![id, to_ms(until)])?;
    Ok(())
}

/// One unsent outbox mail by id, due or not (for `hold_outbox`'s caller, which sends it).
pub fn outbox_mail(conn: &Connection, id: i64) -> Result<Option<super::outbox::Pending>> {
    super::outbox::unsent(conn, id)
}

/// A rating given in a period, with the ticket's owner and category as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rated {
    pub score: u8,
    pub owner: Option<String>,
    pub category: Option<String>,
}

/// Ratings given in `[from, to)`.
pub fn ratings_between(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Rated>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.score, t.owner, t.category FROM ratings r JOIN tickets t ON t.id = r.ticket_id \
         WHERE r.rated_at >= ?1 AND r.rated_at < ?2",
    )?;
    let rows = stmt.query_map(params![to_ms(from), to_ms(to)], |r| {
        Ok(Rated {
            score: r.get(0)?,
            owner: r.get(1)?,
            category: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Working time reported in `[from, to)`: (technician, the ticket's category, seconds), one row
/// per `#time`.
pub fn time_between(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, Option<String>, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.technician, t.category, s.seconds FROM time_spent s JOIN tickets t ON t.id = s.ticket_id \
         WHERE s.at >= ?1 AND s.at < ?2",
    )?;
    let rows = stmt.query_map(params![to_ms(from), to_ms(to)], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The categories of the tickets merged into another in `[from, to)`, one per ticket.
pub fn merged_between(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Option<String>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT category FROM tickets WHERE status = 'merged' AND closed_at >= ?1 AND closed_at < ?2",
    )?;
    let rows = stmt.query_map(params![to_ms(from), to_ms(to)], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The subjects and categories of the tickets created in `[from, to)`.
pub fn subjects_between(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, Option<String>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT subject, category FROM tickets WHERE created_at >= ?1 AND created_at < ?2",
    )?;
    let rows = stmt.query_map(params![to_ms(from), to_ms(to)], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
