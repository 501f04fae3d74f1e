//! Messages kept aside with their raw bytes, each with the reason, for an administrator to read.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::to_ms;

/// Keeps the raw message. The same content quarantined twice (a redelivery, a UIDVALIDITY reset)
/// is kept once; returns false then.
pub fn add(
    conn: &Connection,
    now: DateTime<Utc>,
    source: &str,
    reason: &str,
    message_id: Option<&str>,
    content_hash: &str,
    raw: &[u8],
) -> Result<bool> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM quarantine WHERE content_hash = ?1")?
        .query_row([content_hash], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO quarantine (created_at, source, reason, message_id, content_hash, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![to_ms(now), source, reason, message_id, content_hash, raw])?;
    Ok(true)
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COUNT(*) FROM quarantine", [], |r| r.get(0))?)
}

/// (id, reason, message_id) of every quarantined message, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<(i64, String, Option<String>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, reason, message_id FROM quarantine ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
