//! Tickets and their participants.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{from_ms, to_ms};
use crate::model::{Role, SlaClock, Status};

pub use crate::model::Ticket;

/// What a new ticket starts with; the store assigns the number.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub subject: &'a str,
    pub requester_email: &'a str,
    pub requester_name: Option<&'a str>,
    pub status: Status,
    pub priority: Option<&'a str>,
    pub category: Option<&'a str>,
    pub level: i64,
    pub owner: Option<&'a str>,
    pub language: &'a str,
    pub parent_id: Option<i64>,
    /// A `[[mailboxes]]` address; None for the `[helpdesk]` one.
    pub mailbox: Option<&'a str>,
    pub now: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str = "id, subject, requester_email, requester_name, status, priority, category, level, owner, \
     language, parent_id, created_at, updated_at, first_response_at, resolved_at, closed_at, mailbox, merged_into";

pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Ticket> {
    Ok(Ticket {
        id: r.get(0)?,
        subject: r.get(1)?,
        requester_email: r.get(2)?,
        requester_name: r.get(3)?,
        status: status_at(r, 4)?,
        priority: r.get(5)?,
        category: r.get(6)?,
        level: r.get(7)?,
        owner: r.get(8)?,
        language: r.get(9)?,
        parent_id: r.get(10)?,
        created_at: from_ms(r.get(11)?),
        updated_at: from_ms(r.get(12)?),
        first_response_at: r.get::<_, Option<i64>>(13)?.map(from_ms),
        resolved_at: r.get::<_, Option<i64>>(14)?.map(from_ms),
        closed_at: r.get::<_, Option<i64>>(15)?.map(from_ms),
        mailbox: r.get(16)?,
        merged_into: r.get(17)?,
    })
}

pub fn insert(conn: &Connection, t: &NewTicket<'_>) -> Result<i64> {
    let now = to_ms(t.now);
    conn.prepare_cached(
        "INSERT INTO tickets (subject, requester_email, requester_name, status, priority, category, level, \
         owner, language, parent_id, created_at, updated_at, mailbox) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)",
    )?
    .execute(params![
        t.subject,
        t.requester_email,
        t.requester_name,
        t.status.as_str(),
        t.priority,
        t.category,
        t.level,
        t.owner,
        t.language,
        t.parent_id,
        now,
        t.mailbox
    ])?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Ticket>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM tickets WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// Newest first; `limit` keeps the listing of a large store quick.
/// A stored status, or a clear error for one no version of Loket writes.
fn status_at(r: &Row<'_>, i: usize) -> rusqlite::Result<Status> {
    let text: String = r.get(i)?;
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub fn list(conn: &Connection, status: Option<&str>, limit: i64) -> Result<Vec<Ticket>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM tickets WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![status, limit], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What `loket tickets list` narrows the listing to. Empty lists and None mean "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    pub statuses: Vec<String>,
    pub priorities: Vec<String>,
    pub categories: Vec<String>,
    pub owner: OwnerFilter,
    /// Only tickets created at or before this moment.
    pub created_before: Option<DateTime<Utc>>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OwnerFilter {
    #[default]
    Any,
    /// Nobody owns the ticket.
    Nobody,
    /// Owned by this address (compared without regard to case).
    Email(String),
}

/// Newest first, narrowed by `f`. One statement for every combination: the lists go in as JSON
/// arrays, so the statement is prepared (and cached) once.
pub fn list_filtered(conn: &Connection, f: &ListFilter) -> Result<Vec<Ticket>> {
    let json = |v: &Vec<String>| -> Result<Option<String>> {
        Ok(if v.is_empty() {
            None
        } else {
            Some(serde_json::to_string(v)?)
        })
    };
    let (nobody, owner) = match &f.owner {
        OwnerFilter::Any => (false, None),
        OwnerFilter::Nobody => (true, None),
        OwnerFilter::Email(e) => (false, Some(e.to_lowercase())),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM tickets \
         WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1))) \
         AND (?2 IS NULL OR priority IN (SELECT value FROM json_each(?2))) \
         AND (?3 IS NULL OR category IN (SELECT value FROM json_each(?3))) \
         AND (?4 = 0 OR owner IS NULL) \
         AND (?5 IS NULL OR lower(owner) = ?5) \
         AND (?6 IS NULL OR created_at <= ?6) \
         ORDER BY id DESC LIMIT ?7"
    ))?;
    let rows = stmt.query_map(
        params![
            json(&f.statuses)?,
            json(&f.priorities)?,
            json(&f.categories)?,
            nobody,
            owner,
            f.created_before.map(to_ms),
            f.limit
        ],
        from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The SLA steps (warnings, breaches) that happened on a ticket, in order.
pub fn sla_steps(conn: &Connection, ticket: i64) -> Result<Vec<(String, DateTime<Utc>)>> {
    let mut stmt = conn
        .prepare_cached("SELECT step, at FROM sla_steps WHERE ticket_id = ?1 ORDER BY at, step")?;
    let rows = stmt.query_map([ticket], |r| Ok((r.get(0)?, from_ms(r.get(1)?))))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn touch(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE tickets SET updated_at = ?2 WHERE id = ?1")?
        .execute(params![id, to_ms(now)])?;
    Ok(())
}

/// Writes the mutable fields of a ticket as they are now (after `decide::lifecycle` changed
/// them), and stamps `updated_at`.
pub fn update(conn: &Connection, t: &Ticket, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE tickets SET status = ?2, priority = ?3, category = ?4, level = ?5, owner = ?6, \
         language = ?7, first_response_at = ?8, resolved_at = ?9, closed_at = ?10, updated_at = ?11, \
         merged_into = ?12 WHERE id = ?1",
    )?
    .execute(params![
        t.id,
        t.status.as_str(),
        t.priority,
        t.category,
        t.level,
        t.owner,
        t.language,
        t.first_response_at.map(to_ms),
        t.resolved_at.map(to_ms),
        t.closed_at.map(to_ms),
        to_ms(now),
        t.merged_into
    ])?;
    Ok(())
}

/// Resolved tickets whose resolution is at or before `resolved_before`: due for auto-closure.
pub fn resolved_before(conn: &Connection, resolved_before: DateTime<Utc>) -> Result<Vec<Ticket>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM tickets WHERE status = 'resolved' AND resolved_at <= ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([to_ms(resolved_before)], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The technician who was given a ticket last by round-robin, for the next turn.
pub fn last_round_robin(conn: &Connection) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT detail FROM events WHERE kind = 'assigned' ORDER BY id DESC LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
}

/// Adds a participant; an existing one keeps its role (the requester stays the requester even
/// when CC'd again).
pub fn add_participant(
    conn: &Connection,
    ticket: i64,
    email: &str,
    name: Option<&str>,
    role: Role,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO participants (ticket_id, email, name, role) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (ticket_id, email) DO UPDATE SET name = COALESCE(participants.name, excluded.name)",
    )?
    .execute(params![ticket, email, name, role.as_str()])?;
    Ok(())
}

pub fn participants(conn: &Connection, ticket: i64) -> Result<Vec<Participant>> {
    let mut stmt = conn.prepare_cached(
        "SELECT email, name, role FROM participants WHERE ticket_id = ?1 ORDER BY role DESC, email",
    )?;
    let rows = stmt.query_map([ticket], |r| {
        Ok(Participant {
            email: r.get(0)?,
            name: r.get(1)?,
            role: {
                let text: String = r.get(2)?;
                text.parse().map_err(|e: String| {
                    rusqlite::Error::FromSqlConversionFailure(
                        2,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?
            },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn is_participant(conn: &Connection, ticket: i64, email: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM participants WHERE ticket_id = ?1 AND email = ?2")?
        .query_row(params![ticket, email], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COUNT(*) FROM tickets", [], |r| r.get(0))?)
}

/// The SLA clock of a ticket: its deadlines and whether it is paused.
pub fn sla_clock(conn: &Connection, id: i64) -> Result<SlaClock> {
    Ok(conn
        .prepare_cached(
            "SELECT response_due_at, resolution_due_at, sla_paused_at FROM tickets WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(SlaClock {
                response_due: r.get::<_, Option<i64>>(0)?.map(from_ms),
                resolution_due: r.get::<_, Option<i64>>(1)?.map(from_ms),
                paused_at: r.get::<_, Option<i64>>(2)?.map(from_ms),
            })
        })
        .optional()?
        .unwrap_or_default())
}

pub fn set_sla_clock(conn: &Connection, id: i64, c: &SlaClock) -> Result<()> {
    conn.prepare_cached(
        "UPDATE tickets SET response_due_at = ?2, resolution_due_at = ?3, sla_paused_at = ?4 WHERE id = ?1",
    )?
    .execute(params![
        id,
        c.response_due.map(to_ms),
        c.resolution_due.map(to_ms),
        c.paused_at.map(to_ms)
    ])?;
    Ok(())
}

/// Tickets whose SLA clock runs (not finished, not paused) and has a deadline at or before
/// `horizon`: the only ones that can have a warning or breach due. The scheduler passes a
/// horizon far enough ahead to include every warning.
pub fn sla_running(conn: &Connection, horizon: DateTime<Utc>) -> Result<Vec<(Ticket, SlaClock)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, response_due_at, resolution_due_at, sla_paused_at FROM tickets \
         WHERE status NOT IN ('resolved', 'closed', 'rejected', 'merged') AND sla_paused_at IS NULL \
         AND ((first_response_at IS NULL AND response_due_at <= ?1) OR resolution_due_at <= ?1) \
         ORDER BY id"
    ))?;
    let rows = stmt.query_map([to_ms(horizon)], |r| {
        Ok((
            from_row(r)?,
            SlaClock {
                response_due: r.get::<_, Option<i64>>(17)?.map(from_ms),
                resolution_due: r.get::<_, Option<i64>>(18)?.map(from_ms),
                paused_at: r.get::<_, Option<i64>>(19)?.map(from_ms),
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records that SLA `step` happened on `ticket`; false when it already had (nothing to do).
pub fn record_sla_step(
    conn: &Connection,
    ticket: i64,
    step: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO sla_steps (ticket_id, step, at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![ticket, step, to_ms(now)])?;
    Ok(n == 1)
}

/// Whether SLA `step` already happened on `ticket`.
pub fn has_sla_step(conn: &Connection, ticket: i64, step: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sla_steps WHERE ticket_id = ?1 AND step = ?2)",
        )?
        .query_row(params![ticket, step], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    fn add(
        conn: &Connection,
        status: &str,
        prio: &str,
        cat: Option<&str>,
        owner: Option<&str>,
        days_ago: i64,
    ) -> i64 {
        insert(
            conn,
            &NewTicket {
                subject: "s",
                requester_email: "a@example.test",
                requester_name: None,
                status: status.parse().expect("a status"),
                priority: Some(prio),
                category: cat,
                level: 1,
                owner,
                language: "id",
                parent_id: None,
                mailbox: None,
                now: Utc::now() - chrono::Duration::days(days_ago),
            },
        )
        .unwrap()
    }

    fn ids(conn: &Connection, f: ListFilter) -> Vec<i64> {
        list_filtered(conn, &ListFilter { limit: 50, ..f })
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect()
    }

    #[test]
    fn list_filters_combine() {
        let conn = store::open_in_memory().unwrap();
        let a = add(
            &conn,
            "open",
            "P1",
            Some("printer"),
            Some("Andi@example.test"),
            5,
        );
        let b = add(&conn, "waiting", "P3", Some("network"), None, 1);
        let c = add(&conn, "closed", "P3", None, Some("budi@example.test"), 10);
        assert_eq!(ids(&conn, ListFilter::default()), vec![c, b, a]);
        let statuses = vec!["open".to_string(), "waiting".to_string()];
        assert_eq!(
            ids(
                &conn,
                ListFilter {
                    statuses: statuses.clone(),
                    ..Default::default()
                }
            ),
            vec![b, a]
        );
        assert_eq!(
            ids(
                &conn,
                ListFilter {
                    priorities: vec!["P3".into()],
                    ..Default::default()
                }
            ),
            vec![c, b]
        );
        assert_eq!(
            ids(
                &conn,
                ListFilter {
                    categories: vec!["printer".into()],
                    ..Default::default()
                }
            ),
            vec![a]
        );
        assert_eq!(
            ids(
                &conn,
                ListFilter {
                    owner: OwnerFilter::Nobody,
                    ..Default::default()
                }
            ),
            vec![b]
        );
        assert_eq!(
            ids(
                &conn,
                ListFilter {
                    owner: OwnerFilter::Email("andi@EXAMPLE.test".into()),
                    ..Default::default()
                }
            ),
            vec![a]
        );
        let three_days_ago = Utc::now() - chrono::Duration::days(3);
        assert_eq!(
            ids(
                &conn,
                ListFilter {
                    created_before: Some(three_days_ago),
                    ..Default::default()
                }
            ),
            vec![c, a]
        );
        assert_eq!(
            ids(
                &conn,
                ListFilter {
                    statuses,
                    created_before: Some(three_days_ago),
                    ..Default::default()
                }
            ),
            vec![a]
        );
        assert_eq!(
            list_filtered(
                &conn,
                &ListFilter {
                    limit: 1,
                    ..Default::default()
                }
            )
            .unwrap()
            .len(),
            1
        );
    }
}
