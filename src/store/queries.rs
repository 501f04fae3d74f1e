//! Questions asked by mail and the lists that answer them: a technician's open tickets, the
//! tickets they may take, a requester's own tickets (migration 0009_queries).

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{from_ms, to_ms};
use crate::model::{SlaClock, Ticket};

/// One question, as kept for deduplication and the record.
pub struct NewQuery<'a> {
    pub message_id: &'a str,
    pub content_hash: &'a str,
    pub sender: &'a str,
    /// `technician` or `requester`.
    pub asker: &'a str,
    pub ticket_id: Option<i64>,
    pub asked: &'a str,
    pub outbox_id: Option<i64>,
    pub now: DateTime<Utc>,
}

pub fn record(conn: &Connection, q: &NewQuery<'_>) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO queries (message_id, content_hash, sender, asker, ticket_id, asked, \
         outbox_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        q.message_id,
        q.content_hash,
        q.sender,
        q.asker,
        q.ticket_id,
        q.asked,
        q.outbox_id,
        to_ms(q.now)
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Whether this very message was answered before (a redelivery, a rescan).
pub fn is_duplicate(conn: &Connection, message_id: &str, content_hash: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM queries WHERE message_id = ?1 AND content_hash = ?2 LIMIT 1",
        )?
        .query_row(params![message_id, content_hash], |_| Ok(()))
        .optional()?
        .is_some())
}

/// A ticket with its SLA clock, for the lists.
#[derive(Debug, Clone)]
pub struct Listed {
    pub ticket: Ticket,
    pub sla: SlaClock,
}

impl Listed {
    /// The deadline that comes next: the response target until the first response, then the
    /// resolution target. None while the clock is paused or without targets.
    pub fn next_due(&self) -> Option<(DateTime<Utc>, Target)> {
        if self.sla.paused_at.is_some() {
            return None;
        }
        match (self.ticket.first_response_at, self.sla.response_due) {
            (None, Some(due)) => Some((due, Target::Response)),
            _ => self.sla.resolution_due.map(|due| (due, Target::Resolution)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Response,
    Resolution,
}

/// A ticket's columns (`tickets::COLUMNS`, read by `tickets::from_row`) and its SLA clock's.
fn listed_columns() -> String {
    format!(
        "{}, response_due_at, resolution_due_at, sla_paused_at",
        super::tickets::COLUMNS
    )
}

/// The index of the first SLA column in [`listed_columns`]: after every ticket column, counted
/// from `tickets::COLUMNS` so a column added there cannot shift the SLA clock's.
fn sla_at() -> usize {
    super::tickets::COLUMNS.split(',').count()
}

fn listed(r: &rusqlite::Row<'_>) -> rusqlite::Result<Listed> {
    let ms = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(from_ms))
    };
    Ok(Listed {
        ticket: super::tickets::from_row(r)?,
        sla: SlaClock {
            response_due: ms(sla_at())?,
            resolution_due: ms(sla_at() + 1)?,
            paused_at: ms(sla_at() + 2)?,
        },
    })
}

/// The statuses of a ticket still to be worked on (`Status::is_active`: not yet resolved); a
/// unit test holds it to the enum.
const ACTIVE: &str = "('new', 'open', 'in-progress', 'waiting', 'awaiting-approval')";

/// The open tickets `owner` owns (any order; the caller sorts by deadline).
pub fn owned_by(conn: &Connection, owner: &str) -> Result<Vec<Listed>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM tickets WHERE owner = ?1 AND status IN {ACTIVE}",
        listed_columns()
    ))?;
    let rows = stmt.query_map([owner], listed)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every ticket still to be worked on (the caller keeps those a technician may take). The
/// open tickets of a helpdesk are few beside the closed ones; the status index finds them.
pub fn active(conn: &Connection) -> Result<Vec<Listed>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM tickets WHERE status IN {ACTIVE}",
        listed_columns()
    ))?;
    let rows = stmt.query_map([], listed)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `requester`'s tickets created since `since`, newest first, at most `limit`: walked back
/// from their latest ticket along each ticket's `requester_prev` (migration 0012), a primary
/// key lookup per ticket however large the store.
pub fn requested_by(
    conn: &Connection,
    requester: &str,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Listed>> {
    let mut latest = conn.prepare_cached("SELECT last_ticket FROM requesters WHERE email = ?1")?;
    let mut next: Option<i64> = latest.query_row([requester], |r| r.get(0)).optional()?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {}, requester_prev FROM tickets WHERE id = ?1",
        listed_columns()
    ))?;
    let since = to_ms(since);
    let mut out = Vec::new();
    while let Some(id) = next {
        if out.len() as i64 >= limit {
            break;
        }
        let Some((l, prev)) = stmt
            .query_row([id], |r| {
                Ok((listed(r)?, r.get::<_, Option<i64>>("requester_prev")?))
            })
            .optional()?
        else {
            break;
        };
        // Ids grow with time: everything further back is older still. (Were the clock stepped
        // back, tickets numbered before an older one would be missed; the list is a courtesy
        // to the requester, and walking the whole chain of a sender with thousands of tickets
        // at every `#status` would not be.)
        if to_ms(l.ticket.created_at) < since {
            break;
        }
        out.push(l);
        next = prev;
    }
    Ok(out)
}

/// One ticket with its clock.
pub fn one(conn: &Connection, id: i64) -> Result<Option<Listed>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {} FROM tickets WHERE id = ?1",
            listed_columns()
        ))?
        .query_row([id], listed)
        .optional()?)
}

/// The language of `requester`'s latest ticket, if they have one: what they were answered in.
pub fn requester_language(conn: &Connection, requester: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT t.language FROM requesters AS r JOIN tickets AS t ON t.id = r.last_ticket \
             WHERE r.email = ?1",
        )?
        .query_row([requester], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::model::Status;
    use crate::store::tickets::{NewTicket, insert};

    #[test]
    fn active_is_every_active_status() {
        let listed: Vec<String> = Status::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(ACTIVE, format!("({})", listed.join(", ")));
    }

    #[test]
    fn lists_keep_to_their_owner_requester_and_active_statuses() {
        let conn = crate::store::open_in_memory().unwrap();
        let now = fixtures::new_ticket().now;
        let add = |requester, owner| {
            insert(
                &conn,
                &NewTicket {
                    requester_email: requester,
                    owner,
                    ..fixtures::new_ticket()
                },
            )
            .unwrap()
        };
        let a = add("rina@example.test", Some("andi@example.test"));
        let b = add("rina@example.test", Some("andi@example.test"));
        let c = add("budi@example.test", Some("andi@example.test"));
        add("budi@example.test", Some("sari@example.test"));
        conn.execute("UPDATE tickets SET status = 'resolved' WHERE id = ?1", [b])
            .unwrap();
        let ids = |l: Vec<Listed>| l.into_iter().map(|l| l.ticket.id).collect::<Vec<_>>();
        let mut mine = ids(owned_by(&conn, "andi@example.test").unwrap());
        mine.sort();
        assert_eq!(mine, vec![a, c]);
        let day = chrono::Duration::days(1);
        assert_eq!(
            ids(requested_by(&conn, "rina@example.test", now - day, 50).unwrap()),
            vec![b, a]
        );
        assert!(
            requested_by(&conn, "rina@example.test", now + day, 50)
                .unwrap()
                .is_empty()
        );
    }

    /// The walk back along `requester_prev` stops at the window and at the limit, skips
    /// nobody's tickets but the requester's, and the latest ticket gives the language.
    #[test]
    fn a_requesters_list_is_their_newest_tickets_in_the_window() {
        let conn = crate::store::open_in_memory().unwrap();
        let t0 = fixtures::new_ticket().now;
        let day = chrono::Duration::days(1);
        let add = |requester, language, at| {
            insert(
                &conn,
                &NewTicket {
                    requester_email: requester,
                    language,
                    now: at,
                    ..fixtures::new_ticket()
                },
            )
            .unwrap()
        };
        let old = add("rina@example.test", "id", t0);
        let a = add("rina@example.test", "id", t0 + day * 100);
        add("budi@example.test", "id", t0 + day * 101);
        let b = add("rina@example.test", "en", t0 + day * 102);
        let ids = |l: Vec<Listed>| l.into_iter().map(|l| l.ticket.id).collect::<Vec<_>>();
        let rina = "rina@example.test";
        assert_eq!(
            ids(requested_by(&conn, rina, t0 + day * 10, 50).unwrap()),
            vec![b, a]
        );
        assert_eq!(
            ids(requested_by(&conn, rina, t0, 50).unwrap()),
            vec![b, a, old]
        );
        assert_eq!(ids(requested_by(&conn, rina, t0, 1).unwrap()), vec![b]);
        assert!(
            requested_by(&conn, "nobody@example.test", t0, 50)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            requester_language(&conn, rina).unwrap().as_deref(),
            Some("en")
        );
        assert_eq!(
            requester_language(&conn, "nobody@example.test").unwrap(),
            None
        );
    }
}
