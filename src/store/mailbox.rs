//! IMAP progress per mailbox: UIDVALIDITY, the last committed UID, and UIDs whose \Seen flag
//! (or move) is still owed to the server.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub uid_validity: u32,
    pub last_uid: u32,
}

pub fn state(conn: &Connection, mailbox: &str) -> Result<Option<State>> {
    Ok(conn
        .prepare_cached("SELECT uid_validity, last_uid FROM mailbox_state WHERE mailbox = ?1")?
        .query_row([mailbox], |r| {
            Ok(State {
                uid_validity: r.get(0)?,
                last_uid: r.get(1)?,
            })
        })
        .optional()?)
}

pub fn set_state(conn: &Connection, mailbox: &str, s: State) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO mailbox_state (mailbox, uid_validity, last_uid) VALUES (?1, ?2, ?3)
         ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid",
    )?
    .execute(params![mailbox, s.uid_validity, s.last_uid])?;
    Ok(())
}

pub fn add_pending_flag(
    conn: &Connection,
    mailbox: &str,
    uid_validity: u32,
    uid: u32,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO imap_pending_flags (mailbox, uid_validity, uid) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![mailbox, uid_validity, uid])?;
    Ok(())
}

pub fn pending_flags(conn: &Connection, mailbox: &str, uid_validity: u32) -> Result<Vec<u32>> {
    let mut stmt = conn.prepare_cached(
        "SELECT uid FROM imap_pending_flags WHERE mailbox = ?1 AND uid_validity = ?2 ORDER BY uid",
    )?;
    let rows = stmt.query_map(params![mailbox, uid_validity], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Forgets owed flags: those done, and all of an older UIDVALIDITY (those UIDs mean nothing now).
pub fn clear_pending_flags(
    conn: &Connection,
    mailbox: &str,
    uid_validity: u32,
    uids: &[u32],
) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM imap_pending_flags WHERE mailbox = ?1 AND uid_validity <> ?2",
    )?
    .execute(params![mailbox, uid_validity])?;
    let mut stmt = conn.prepare_cached(
        "DELETE FROM imap_pending_flags WHERE mailbox = ?1 AND uid_validity = ?2 AND uid = ?3",
    )?;
    for uid in uids {
        stmt.execute(params![mailbox, uid_validity, uid])?;
    }
    Ok(())
}
