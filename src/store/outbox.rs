//! The outbox: mails committed with the change that caused them, sent afterwards by the sender
//! task, retried with backoff until the SMTP server accepts them.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::to_ms;

pub struct NewMail<'a> {
    pub ticket_id: Option<i64>,
    pub kind: &'a str,
    pub message_id: &'a str,
    pub envelope_from: &'a str,
    /// Envelope recipients, comma-separated.
    pub rcpt: &'a str,
    pub raw: &'a [u8],
    pub now: DateTime<Utc>,
}

pub fn enqueue(conn: &Connection, m: &NewMail<'_>) -> Result<i64> {
    let now = to_ms(m.now);
    conn.prepare_cached(
        "INSERT INTO outbox (ticket_id, kind, message_id, envelope_from, rcpt, raw, created_at, next_attempt_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![m.ticket_id, m.kind, m.message_id, m.envelope_from, m.rcpt, m.raw, now])?;
    Ok(conn.last_insert_rowid())
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub message_id: String,
    pub envelope_from: String,
    pub rcpt: Vec<String>,
    pub raw: Vec<u8>,
    pub attempts: i64,
    pub kind: String,
}

/// The columns `pending_from_row` reads, in its order.
const PENDING_COLUMNS: &str = "id, ticket_id, message_id, envelope_from, rcpt, raw, attempts, kind";

fn pending_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Pending> {
    let rcpt: String = r.get(4)?;
    Ok(Pending {
        id: r.get(0)?,
        ticket_id: r.get(1)?,
        message_id: r.get(2)?,
        envelope_from: r.get(3)?,
        rcpt: rcpt
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        raw: r.get(5)?,
        attempts: r.get(6)?,
        kind: r.get(7)?,
    })
}

/// One unsent, not refused mail by id, due or not.
pub fn unsent(conn: &Connection, id: i64) -> Result<Option<Pending>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PENDING_COLUMNS} FROM outbox WHERE id = ?1 AND sent_at IS NULL AND failed_at IS NULL"
        ))?
        .query_row([id], pending_from_row)
        .optional()?)
}

/// Mails due for a (first or next) attempt, oldest first.
pub fn due(conn: &Connection, now: DateTime<Utc>, limit: i64) -> Result<Vec<Pending>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PENDING_COLUMNS} FROM outbox \
         WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?1 \
         ORDER BY next_attempt_at, id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![to_ms(now), limit], pending_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many mails are due now, counted up to `cap` (the partial index `outbox_due` serves it;
/// the cap keeps the count cheap however long the queue is).
pub fn due_count(conn: &Connection, now: DateTime<Utc>, cap: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached(DUE_COUNT)?
        .query_row(params![to_ms(now), cap], |r| r.get(0))?)
}

pub(crate) const DUE_COUNT: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM outbox \
     WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?1 LIMIT ?2)";

/// When the next unsent mail falls due, so the sender can sleep until then.
pub fn next_due(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = conn.query_row(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(ms.map(super::from_ms))
}

pub fn mark_sent(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
    )?
    .execute(params![id, to_ms(now)])?;
    Ok(())
}

pub fn mark_failed(conn: &Connection, id: i64, error: &str, retry_at: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1")?
        .execute(params![id, error, to_ms(retry_at)])?;
    Ok(())
}

/// The server refused the mail for good (5xx): it is kept with the error and never retried.
pub fn mark_dead(conn: &Connection, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, failed_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id, error, to_ms(now)])?;
    Ok(())
}

/// How many mails of `kind` went (or wait to go) to `rcpt` since `since`: the rate limiter's
/// count. `since` must lie within what [`forget_recent`] keeps.
pub fn count_recent(
    conn: &Connection,
    rcpt: &str,
    kind: &str,
    since: DateTime<Utc>,
) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM outbox_recent WHERE rcpt = ?1 AND kind = ?2 AND created_at >= ?3",
        )?
        .query_row(params![rcpt, kind, to_ms(since)], |r| r.get(0))?)
}

/// The tickets whose acknowledgement went to `rcpt` since `since`, newest first.
pub fn acked_tickets_since(
    conn: &Connection,
    rcpt: &str,
    since: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ticket_id FROM outbox_recent WHERE rcpt = ?1 AND kind = 'ack' AND created_at >= ?2 \
         AND ticket_id IS NOT NULL ORDER BY outbox_id DESC",
    )?;
    let rows = stmt.query_map(params![rcpt, to_ms(since)], |r| r.get::<_, i64>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many requests acknowledged to `rcpt` since `since` had exactly this subject and this
/// body: the mark of a responder that sends the same mail again and again. Both, not the body
/// alone: a person may write "Tolong dibantu." under twenty different subjects.
pub fn acked_requests_like(
    conn: &Connection,
    rcpt: &str,
    since: DateTime<Utc>,
    (subject, text): (&str, &str),
) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM messages WHERE kind = 'request' AND direction = 'in' \
             AND subject = ?3 AND body = ?4 AND ticket_id IN (SELECT ticket_id FROM outbox_recent \
             WHERE rcpt = ?1 AND kind = 'ack' AND created_at >= ?2)",
        )?
        .query_row(params![rcpt, to_ms(since), subject, text], |r| r.get(0))?)
}

/// Forgets, for the rate limits, the mails created before `before` (they stay in the outbox):
/// the pipeline calls it with its longest rate window ([`crate::config::Helpdesk::rate_memory`])
/// so that the rate lookups read a table the size of that window, not of the whole history.
pub fn forget_recent(conn: &Connection, before: DateTime<Utc>) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox_recent WHERE created_at < ?1")?
        .execute([to_ms(before)])?)
}

/// (waiting, sent) counts; refused mails count as neither.
pub fn depth(conn: &Connection) -> Result<(i64, i64)> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(sent_at IS NULL AND failed_at IS NULL), 0), \
         COALESCE(SUM(sent_at IS NOT NULL), 0) FROM outbox",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ack(conn: &Connection, rcpt: &str, ticket: i64, now: DateTime<Utc>) -> i64 {
        enqueue(
            conn,
            &NewMail {
                ticket_id: Some(ticket),
                kind: "ack",
                message_id: &format!("<ack.{ticket}@loket.test>"),
                envelope_from: "helpdesk@example.test",
                rcpt,
                raw: b"Subject: ack\r\n\r\nx\r\n",
                now,
            },
        )
        .unwrap()
    }

    #[test]
    fn the_rate_counts_see_the_window_and_forgetting_leaves_the_outbox_whole() {
        let conn = crate::store::memory();
        // The tickets the acknowledgements name are beside the point here.
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).unwrap();
        let min = chrono::Duration::minutes;
        ack(&conn, "dewi@example.test", 1, t0);
        ack(&conn, "dewi@example.test", 2, t0 + min(30));
        ack(&conn, "budi@example.test", 3, t0 + min(40));
        ack(&conn, "dewi@example.test", 4, t0 + min(120));
        let dewi = "dewi@example.test";
        assert_eq!(count_recent(&conn, dewi, "ack", t0 + min(60)).unwrap(), 1);
        assert_eq!(count_recent(&conn, dewi, "ack", t0).unwrap(), 3);
        assert_eq!(count_recent(&conn, dewi, "status_answer", t0).unwrap(), 0);
        assert_eq!(acked_tickets_since(&conn, dewi, t0).unwrap(), vec![4, 2, 1]);
        // Forgetting what is older than an hour before the last mail: ticket 1's ack only.
        assert_eq!(forget_recent(&conn, t0 + min(60)).unwrap(), 3);
        assert_eq!(count_recent(&conn, dewi, "ack", t0 + min(60)).unwrap(), 1);
        assert_eq!(acked_tickets_since(&conn, dewi, t0).unwrap(), vec![4]);
        let kept = crate::fixtures::count(&conn, "SELECT COUNT(*) FROM outbox");
        assert_eq!(kept, 4, "the outbox itself keeps every mail");
    }
}
