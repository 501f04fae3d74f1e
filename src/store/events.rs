//! The events table: every change to a ticket, and every refusal worth an administrator's look.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{from_ms, to_ms};
use crate::model::EventKind;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub detail: String,
}

pub fn add(
    conn: &Connection,
    ticket: Option<i64>,
    at: DateTime<Utc>,
    actor: &str,
    kind: EventKind,
    detail: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (ticket_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![ticket, to_ms(at), actor, kind.as_str(), detail])?;
    Ok(())
}

pub fn for_ticket(conn: &Connection, ticket: i64) -> Result<Vec<Event>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, ticket_id, at, actor, kind, detail FROM events WHERE ticket_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([ticket], |r| {
        Ok(Event {
            id: r.get(0)?,
            ticket_id: r.get(1)?,
            at: from_ms(r.get(2)?),
            actor: r.get(3)?,
            kind: r.get(4)?,
            detail: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
