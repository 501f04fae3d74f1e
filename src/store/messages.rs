//! Messages on tickets (both directions), their raw bytes and attachments.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{from_ms, to_ms};

/// One message row to write. Lists of addresses are stored comma-separated: they are shown,
/// never queried.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub ticket_id: i64,
    pub direction: &'a str,
    pub kind: &'a str,
    pub message_id: &'a str,
    pub content_hash: Option<&'a str>,
    pub from_email: Option<&'a str>,
    pub from_name: Option<&'a str>,
    pub to_list: String,
    pub cc_list: String,
    pub subject: &'a str,
    pub body: &'a str,
    pub date: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    pub raw: Option<&'a [u8]>,
}

pub fn insert(conn: &Connection, m: &NewMessage<'_>) -> Result<i64> {
    let raw_id = match m.raw {
        Some(raw) => {
            conn.prepare_cached("INSERT INTO raw_messages (data) VALUES (?1)")?
                .execute([raw])?;
            Some(conn.last_insert_rowid())
        }
        None => None,
    };
    conn.prepare_cached(
        "INSERT INTO messages (ticket_id, direction, kind, message_id, content_hash, from_email, from_name, \
         to_list, cc_list, subject, body, date, created_at, raw_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        m.ticket_id,
        m.direction,
        m.kind,
        m.message_id,
        m.content_hash,
        m.from_email,
        m.from_name,
        m.to_list,
        m.cc_list,
        m.subject,
        m.body,
        m.date.map(to_ms),
        to_ms(m.now),
        raw_id
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Stores an attachment's bytes once per content and links it to the message. `dropped` says
/// why the bytes were not kept (too large), in which case only name and size are recorded.
pub fn add_attachment(
    conn: &Connection,
    message: i64,
    name: &str,
    content_type: &str,
    data: &[u8],
    dropped: Option<&str>,
) -> Result<()> {
    let sha = match dropped {
        None => {
            let sha = hex::encode(Sha256::digest(data));
            conn.prepare_cached("INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?1, ?2)")?
                .execute(params![sha, data])?;
            Some(sha)
        }
        Some(_) => None,
    };
    conn.prepare_cached(
        "INSERT INTO attachments (message_id, name, content_type, size, sha256, dropped) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![message, name, content_type, data.len() as i64, sha, dropped])?;
    Ok(())
}

/// The ticket of the newest stored message (in or out) with any of these Message-IDs.
/// The tickets holding a message with Message-ID `id`, newest first, at most `limit`: a
/// Message-ID is supposed to be unique, yet some clients reuse one (for every mail, or for a
/// mail sent again), so one ID can stand on the tickets of several senders.
pub fn tickets_for_message_id(conn: &Connection, id: &str, limit: usize) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ticket_id FROM messages WHERE message_id = ?1 GROUP BY ticket_id \
         ORDER BY MAX(id) DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![id, limit as i64], |r| r.get::<_, i64>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn ticket_for_message_ids(conn: &Connection, ids: &[String]) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ticket_id FROM messages WHERE message_id = ?1 ORDER BY id DESC LIMIT 1",
    )?;
    // References lists oldest first; the newest reference is the best guess of the thread.
    for id in ids.iter().rev() {
        if let Some(t) = stmt.query_row([id], |r| r.get::<_, i64>(0)).optional()? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Whether `message_id` is one Loket sent: our own mail came back.
pub fn is_ours(conn: &Connection, message_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE message_id = ?1 AND direction = 'out')",
        )?
        .query_row([message_id], |r| r.get(0))?)
}

/// Whether this exact message (same Message-ID and same content apart from trace headers) is
/// already stored: the test for a second delivery of one mail.
pub fn is_duplicate(conn: &Connection, message_id: &str, content_hash: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM messages WHERE message_id = ?1 AND content_hash = ?2 AND direction = 'in' LIMIT 1")?
        .query_row(params![message_id, content_hash], |_| Ok(()))
        .optional()?
        .is_some())
}

#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: i64,
    pub direction: String,
    pub kind: String,
    pub message_id: String,
    pub from_email: Option<String>,
    pub to_list: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attachments: Vec<(String, i64, Option<String>)>,
}

/// The Message-ID that opened the ticket's conversation (its first inbound message): what every
/// later mail about the ticket refers to, so clients keep one thread.
pub fn thread_root(conn: &Connection, ticket: i64) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT message_id FROM messages WHERE ticket_id = ?1 AND direction = 'in' \
             ORDER BY id LIMIT 1",
        )?
        .query_row([ticket], |r| r.get(0))
        .optional()?)
}

pub fn for_ticket(conn: &Connection, ticket: i64) -> Result<Vec<StoredMessage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, direction, kind, message_id, from_email, to_list, subject, body, created_at \
         FROM messages WHERE ticket_id = ?1 ORDER BY id",
    )?;
    let mut out: Vec<StoredMessage> = stmt
        .query_map([ticket], |r| {
            Ok(StoredMessage {
                id: r.get(0)?,
                direction: r.get(1)?,
                kind: r.get(2)?,
                message_id: r.get(3)?,
                from_email: r.get(4)?,
                to_list: r.get(5)?,
                subject: r.get(6)?,
                body: r.get(7)?,
                created_at: from_ms(r.get(8)?),
                attachments: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut att = conn.prepare_cached(
        "SELECT name, size, dropped FROM attachments WHERE message_id = ?1 ORDER BY id",
    )?;
    for m in &mut out {
        m.attachments = att
            .query_map([m.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(out)
}

pub fn count_inbound(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM messages WHERE direction = 'in'",
        [],
        |r| r.get(0),
    )?)
}
