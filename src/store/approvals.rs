//! Approvals: who must agree to a ticket, with the single-use token their decision must carry.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{from_ms, to_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: i64,
    pub ticket_id: i64,
    pub approver: String,
    pub token: String,
    pub requested_at: DateTime<Utc>,
    pub reminded_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision: Option<String>,
    pub reason: Option<String>,
}

const COLUMNS: &str = "id, ticket_id, approver, token, requested_at, reminded_at, escalated_at, \
                       decided_at, decision, reason";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Approval> {
    Ok(Approval {
        id: r.get(0)?,
        ticket_id: r.get(1)?,
        approver: r.get(2)?,
        token: r.get(3)?,
        requested_at: from_ms(r.get(4)?),
        reminded_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
        escalated_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
        decided_at: r.get::<_, Option<i64>>(7)?.map(from_ms),
        decision: r.get(8)?,
        reason: r.get(9)?,
    })
}

pub fn insert(
    conn: &Connection,
    ticket: i64,
    approver: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO approvals (ticket_id, approver, token, requested_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![ticket, approver, token, to_ms(now)])?;
    Ok(conn.last_insert_rowid())
}

pub fn by_token(conn: &Connection, token: &str) -> Result<Option<Approval>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM approvals WHERE token = ?1"))?
        .query_row([token], from_row)
        .optional()?)
}

/// The approval of `ticket` still waiting for a decision, if any.
pub fn pending_for(conn: &Connection, ticket: i64) -> Result<Option<Approval>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM approvals WHERE ticket_id = ?1 AND decided_at IS NULL \
             ORDER BY id DESC LIMIT 1"
        ))?
        .query_row([ticket], from_row)
        .optional()?)
}

/// Every approval asked for on `ticket`, oldest first.
pub fn for_ticket(conn: &Connection, ticket: i64) -> Result<Vec<Approval>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE ticket_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([ticket], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether `email` is (or was) asked to approve `ticket`: such a sender may write to it.
pub fn is_approver(conn: &Connection, ticket: i64, email: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM approvals WHERE ticket_id = ?1 AND approver = ?2)",
        )?
        .query_row(params![ticket, email], |r| r.get(0))?)
}

pub fn decide(
    conn: &Connection,
    id: i64,
    decision: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE approvals SET decided_at = ?2, decision = ?3, reason = ?4 WHERE id = ?1 AND decided_at IS NULL",
    )?
    .execute(params![id, to_ms(now), decision, reason])?;
    Ok(())
}

/// Undecided approvals requested at or before `before`: candidates for a reminder or for
/// telling the managers.
pub fn waiting_since(conn: &Connection, before: DateTime<Utc>) -> Result<Vec<Approval>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE decided_at IS NULL AND requested_at <= ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([to_ms(before)], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn mark_reminded(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE approvals SET reminded_at = ?2 WHERE id = ?1 AND reminded_at IS NULL",
        )?
        .execute(params![id, to_ms(now)])?
        == 1)
}

pub fn mark_escalated(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE approvals SET escalated_at = ?2 WHERE id = ?1 AND escalated_at IS NULL",
        )?
        .execute(params![id, to_ms(now)])?
        == 1)
}
