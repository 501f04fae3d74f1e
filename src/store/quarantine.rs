//! Messages kept aside with their raw bytes, each with the reason, for an administrator to read.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{from_ms, to_ms};

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

/// One quarantined message as `loket quarantine` shows it: everything but the bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// Where it came from: `ingest`, `ingest:<address>`, `imap:<mailbox>:<uid>`, `release:<id>`.
    pub source: String,
    pub reason: String,
    pub message_id: Option<String>,
    pub content_hash: Option<String>,
    /// The stored bytes' length.
    pub size: i64,
    /// When `loket quarantine release` got it through the pipeline, and what it became.
    pub released: Option<(DateTime<Utc>, String)>,
}

// length() of a BLOB does not read its pages: listing does not load the messages.
const HELD_COLUMNS: &str = "id, created_at, source, reason, message_id, content_hash, length(raw), released_at, released_as";

fn held(r: &rusqlite::Row<'_>) -> rusqlite::Result<Held> {
    let released_at: Option<i64> = r.get(7)?;
    let released_as: Option<String> = r.get(8)?;
    Ok(Held {
        id: r.get(0)?,
        created_at: from_ms(r.get(1)?),
        source: r.get(2)?,
        reason: r.get(3)?,
        message_id: r.get(4)?,
        content_hash: r.get(5)?,
        size: r.get(6)?,
        released: released_at.map(|at| (from_ms(at), released_as.unwrap_or_default())),
    })
}

/// The newest `limit` quarantined messages, newest first; released ones only with
/// `include_released`.
pub fn recent(conn: &Connection, limit: i64, include_released: bool) -> Result<Vec<Held>> {
    let sql = format!(
        "SELECT {HELD_COLUMNS} FROM quarantine WHERE ?1 OR released_at IS NULL ORDER BY id DESC LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![include_released, limit], held)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Messages quarantined from `since` on and still held, oldest first: the digest lists them so
/// a request that landed there is seen by someone.
pub fn held_since(conn: &Connection, since: DateTime<Utc>) -> Result<Vec<Held>> {
    let sql = format!(
        "SELECT {HELD_COLUMNS} FROM quarantine WHERE created_at >= ?1 AND released_at IS NULL \
         ORDER BY id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([to_ms(since)], held)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many quarantined messages have been released (`loket quarantine list` hides them).
pub fn released_count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM quarantine WHERE released_at IS NOT NULL",
        [],
        |r| r.get(0),
    )?)
}

/// One quarantined message's details, without its bytes.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Held>> {
    let sql = format!("SELECT {HELD_COLUMNS} FROM quarantine WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], held)
        .optional()?)
}

/// The exact bytes as they were quarantined.
pub fn raw(conn: &Connection, id: i64) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT raw FROM quarantine WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// Records that the message left quarantine as `released_as`. False if it had already been
/// released (or does not exist): a release is recorded once.
pub fn mark_released(
    conn: &Connection,
    id: i64,
    now: DateTime<Utc>,
    released_as: &str,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE quarantine SET released_at = ?2, released_as = ?3 WHERE id = ?1 AND released_at IS NULL",
        )?
        .execute(params![id, to_ms(now), released_as])?;
    Ok(n == 1)
}

/// (id, reason, message_id) of every quarantined message, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<(i64, String, Option<String>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, reason, message_id FROM quarantine ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;
    use chrono::TimeZone;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = store::open(&dir.path().join("q.db")).unwrap();
        (dir, conn)
    }

    #[test]
    fn recent_is_newest_first_with_sizes_and_hides_released_unless_asked() {
        let (_dir, conn) = db();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let t1 = t0 + chrono::Duration::minutes(5);
        assert!(add(&conn, t0, "ingest", "not an e-mail", None, "h1", b"junk").unwrap());
        assert!(
            add(
                &conn,
                t1,
                "imap:helpdesk:7",
                "message too large",
                Some("m@x"),
                "h2",
                &[b'a'; 3000]
            )
            .unwrap()
        );
        // The same content again is kept once.
        assert!(!add(&conn, t1, "ingest", "again", None, "h1", b"junk").unwrap());

        let all = recent(&conn, 10, false).unwrap();
        assert_eq!(all.iter().map(|h| h.id).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(all[0].size, 3000);
        assert_eq!(all[0].source, "imap:helpdesk:7");
        assert_eq!(all[0].message_id.as_deref(), Some("m@x"));
        assert_eq!(all[0].created_at, t1);
        assert_eq!(all[1].size, 4);
        assert_eq!(all[1].released, None);
        assert_eq!(recent(&conn, 1, false).unwrap().len(), 1);

        let t2 = t1 + chrono::Duration::hours(1);
        assert!(mark_released(&conn, 2, t2, "HD-5").unwrap());
        // Once only: the first release's record stands.
        assert!(!mark_released(&conn, 2, t2 + chrono::Duration::hours(1), "HD-6").unwrap());
        assert!(!mark_released(&conn, 99, t2, "HD-6").unwrap());
        assert_eq!(released_count(&conn).unwrap(), 1);

        let held = recent(&conn, 10, false).unwrap();
        assert_eq!(held.iter().map(|h| h.id).collect::<Vec<_>>(), vec![1]);
        let all = recent(&conn, 10, true).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].released, Some((t2, "HD-5".to_string())));
    }

    #[test]
    fn get_and_raw_return_the_row_and_its_exact_bytes() {
        let (_dir, conn) = db();
        let bytes = b"From: a\r\n\x1b[2J\xff\x00\r\n\r\nbody";
        add(&conn, Utc::now(), "ingest", "why", None, "h", bytes).unwrap();
        let h = get(&conn, 1).unwrap().unwrap();
        assert_eq!(h.reason, "why");
        assert_eq!(h.content_hash.as_deref(), Some("h"));
        assert_eq!(h.size, bytes.len() as i64);
        assert_eq!(raw(&conn, 1).unwrap().unwrap(), bytes.to_vec());
        assert!(get(&conn, 2).unwrap().is_none());
        assert!(raw(&conn, 2).unwrap().is_none());
    }
}
