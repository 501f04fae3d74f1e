//! Figures about the whole store, for `loket stats` and the metrics endpoint: read-only, a few
//! aggregate queries, cheap enough to run on every scrape.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::from_ms;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub tickets: i64,
    /// (status, count), most first.
    pub by_status: Vec<(String, i64)>,
    /// (priority, count) by priority name; None is tickets without one.
    pub by_priority: Vec<(Option<String>, i64)>,
    /// (category, count), most first; None is uncategorised.
    pub by_category: Vec<(Option<String>, i64)>,
    pub messages_in: i64,
    pub messages_out: i64,
    /// Outgoing mail not yet accepted by the SMTP server (and not refused for good).
    pub outbox_waiting: i64,
    pub outbox_sent: i64,
    /// Refused permanently (5xx): kept with the error, never retried.
    pub outbox_failed: i64,
    /// When the oldest waiting mail was queued.
    pub outbox_oldest_waiting: Option<DateTime<Utc>>,
    pub quarantine: i64,
    pub approvals_pending: i64,
    /// (step, count) of the SLA steps taken so far, e.g. ("response_breach", 3).
    pub sla_steps: Vec<(String, i64)>,
    /// The database's pages as SQLite counts them (without the WAL file), and the free ones.
    pub db_bytes: i64,
    pub db_free_bytes: i64,
}

fn grouped<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> Result<Vec<(T, i64)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The bytes the store keeps of incoming mail: (raw copies, attachment files). A scan of two
/// tables (their BLOBs' lengths, not their pages), so `loket stats` asks for it and the
/// metrics endpoint does not.
pub fn stored_bytes(conn: &Connection) -> Result<(i64, i64)> {
    let sum = |sql: &str| -> Result<i64> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
    Ok((
        sum("SELECT COALESCE(SUM(length(data)), 0) FROM raw_messages")?,
        sum("SELECT COALESCE(SUM(length(data)), 0) FROM blobs")?,
    ))
}

pub fn collect(conn: &Connection) -> Result<Stats> {
    let by_status: Vec<(String, i64)> = grouped(
        conn,
        "SELECT status, COUNT(*) FROM tickets GROUP BY status ORDER BY COUNT(*) DESC, status",
    )?;
    let (outbox_waiting, outbox_sent, outbox_failed, oldest): (i64, i64, i64, Option<i64>) = conn
        .query_row(
        "SELECT COALESCE(SUM(sent_at IS NULL AND failed_at IS NULL), 0), \
             COALESCE(SUM(sent_at IS NOT NULL), 0), \
             COALESCE(SUM(failed_at IS NOT NULL AND sent_at IS NULL), 0), \
             MIN(CASE WHEN sent_at IS NULL AND failed_at IS NULL THEN created_at END) FROM outbox",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let (messages_in, messages_out): (i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(direction = 'in'), 0), COALESCE(SUM(direction = 'out'), 0) \
         FROM messages",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    Ok(Stats {
        tickets: by_status.iter().map(|(_, n)| n).sum(),
        by_status,
        by_priority: grouped(
            conn,
            "SELECT priority, COUNT(*) FROM tickets GROUP BY priority ORDER BY priority IS NULL, priority",
        )?,
        by_category: grouped(
            conn,
            "SELECT category, COUNT(*) FROM tickets GROUP BY category \
             ORDER BY COUNT(*) DESC, category IS NULL, category",
        )?,
        messages_in,
        messages_out,
        outbox_waiting,
        outbox_sent,
        outbox_failed,
        outbox_oldest_waiting: oldest.map(from_ms),
        quarantine: conn.query_row("SELECT COUNT(*) FROM quarantine", [], |r| r.get(0))?,
        approvals_pending: conn.query_row(
            "SELECT COUNT(*) FROM approvals WHERE decided_at IS NULL",
            [],
            |r| r.get(0),
        )?,
        sla_steps: grouped(
            conn,
            "SELECT step, COUNT(*) FROM sla_steps GROUP BY step ORDER BY step",
        )?,
        db_bytes: pages * page_size,
        db_free_bytes: free * page_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{self, outbox, quarantine, tickets};

    #[test]
    fn counts_tickets_outbox_and_quarantine() {
        let conn = store::open_in_memory().unwrap();
        let empty = collect(&conn).unwrap();
        assert_eq!(empty.tickets, 0);
        assert_eq!(empty.outbox_oldest_waiting, None);
        assert!(empty.db_bytes > 0);

        let t0 = store::from_ms(1_700_000_000_000);
        for (status, priority, category) in [
            ("open", Some("P1"), Some("printer")),
            ("open", Some("P3"), Some("printer")),
            ("closed", Some("P3"), None),
            ("waiting", None, Some("network")),
        ] {
            let t = tickets::NewTicket {
                status: status.parse().expect("a status"),
                priority,
                category,
                now: t0,
                ..crate::fixtures::new_ticket()
            };
            tickets::insert(&conn, &t).unwrap();
        }
        for (i, minutes) in [0i64, 5, 10].into_iter().enumerate() {
            outbox::enqueue(
                &conn,
                &outbox::NewMail {
                    ticket_id: Some(1),
                    kind: "ack",
                    message_id: &format!("o{i}@example.test"),
                    envelope_from: "helpdesk@example.test",
                    rcpt: "a@example.test",
                    raw: b"x",
                    now: t0 + chrono::Duration::minutes(minutes),
                },
            )
            .unwrap();
        }
        outbox::mark_sent(&conn, 1, t0).unwrap();
        outbox::mark_dead(&conn, 2, "550 no such user", t0).unwrap();
        quarantine::add(&conn, t0, "ingest", "not an e-mail", None, "h1", b"junk").unwrap();

        let s = collect(&conn).unwrap();
        assert_eq!(s.tickets, 4);
        assert_eq!(s.by_status[0], ("open".to_string(), 2));
        assert_eq!(
            s.by_priority,
            vec![(Some("P1".into()), 1), (Some("P3".into()), 2), (None, 1)]
        );
        assert_eq!(s.by_category[0], (Some("printer".to_string()), 2));
        assert_eq!(
            (s.outbox_waiting, s.outbox_sent, s.outbox_failed),
            (1, 1, 1)
        );
        assert_eq!(
            s.outbox_oldest_waiting,
            Some(t0 + chrono::Duration::minutes(10))
        );
        assert_eq!(s.quarantine, 1);
        assert_eq!(s.approvals_pending, 0);
    }
}
