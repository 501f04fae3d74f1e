//! The administrator's commands beside the mail flow: a starter config, looking into the store
//! (tickets, search, stats, quarantine), backups and migrations. Each command's work is a function here that
//! returns what to print, so it is tested without running the binary; `main.rs` only parses the
//! command line and prints. Nothing here sends mail or changes a ticket (releasing a quarantined
//! message is the pipeline's work: `pipeline::release`).

pub mod backup;
pub mod init;
pub mod progress;
pub mod quarantine;
pub mod tickets;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::config::Config;
use crate::store;

/// `loket search`: one block per ticket, best match first. `mark` surrounds the matched words.
pub fn render_search(
    conn: &Connection,
    cfg: &Config,
    query: &str,
    raw: bool,
    limit: i64,
    mark: (&str, &str),
) -> Result<String> {
    let fts = if raw {
        query.trim().to_string()
    } else {
        store::search::fts_query(query)
            .with_context(|| format!("nothing to search for in `{query}`"))?
    };
    let hits = store::search::search(conn, &fts, limit, mark).map_err(|e| {
        if raw {
            e.context("--raw takes SQLite FTS5 query syntax (https://sqlite.org/fts5.html)")
        } else {
            e
        }
    })?;
    let mut out = String::new();
    for h in &hits {
        let _ = writeln!(
            out,
            "{:<10} {:<17} {}  {}",
            format!("{}-{}", cfg.helpdesk.tag_prefix, h.ticket_id),
            h.status,
            tickets::local(cfg, h.created_at),
            h.subject
        );
        if !h.snippet.is_empty() {
            let _ = writeln!(out, "           {}", h.snippet);
        }
    }
    Ok(out)
}

/// `loket stats`: the store in figures. `files` is the on-disk size of the database and its
/// WAL file, when known.
pub fn render_stats(
    s: &store::stats::Stats,
    cfg: &Config,
    files: Option<(u64, u64)>,
    stored: Option<(i64, i64)>,
    now: DateTime<Utc>,
) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "tickets: {}", s.tickets);
    let _ = writeln!(w, "  by status:");
    for (status, n) in &s.by_status {
        let _ = writeln!(w, "    {status:<20} {n:>7}");
    }
    let _ = writeln!(w, "  by priority:");
    for (p, n) in &s.by_priority {
        let _ = writeln!(w, "    {:<20} {n:>7}", p.as_deref().unwrap_or("(none)"));
    }
    let _ = writeln!(w, "  by category:");
    for (c, n) in &s.by_category {
        let _ = writeln!(w, "    {:<20} {n:>7}", c.as_deref().unwrap_or("(none)"));
    }
    let _ = writeln!(w, "messages: {} in, {} out", s.messages_in, s.messages_out);
    let _ = write!(
        w,
        "outbox: {} waiting, {} sent, {} failed",
        s.outbox_waiting, s.outbox_sent, s.outbox_failed
    );
    match s.outbox_oldest_waiting {
        Some(t) => {
            let _ = writeln!(
                w,
                " (oldest waiting since {}, {} ago)",
                tickets::local(cfg, t),
                tickets::span(now - t)
            );
        }
        None => {
            let _ = writeln!(w);
        }
    }
    if let Some((raw, files)) = stored {
        let bytes = |n: i64| human_bytes(u64::try_from(n).unwrap_or(0));
        let _ = writeln!(
            w,
            "stored mail: {} raw copies, {} attachment files (within [limits])",
            bytes(raw),
            bytes(files)
        );
    }
    let _ = writeln!(w, "quarantine: {}", s.quarantine);
    let _ = writeln!(w, "approvals waiting: {}", s.approvals_pending);
    if !s.sla_steps.is_empty() {
        let steps: Vec<String> = s
            .sla_steps
            .iter()
            .map(|(step, n)| format!("{step} {n}"))
            .collect();
        let _ = writeln!(w, "SLA steps: {}", steps.join(", "));
    }
    match files {
        Some((db, wal)) => {
            let _ = writeln!(
                w,
                "database: {} on disk ({} file + {} WAL; {} free inside)",
                human_bytes(db + wal),
                human_bytes(db),
                human_bytes(wal),
                human_bytes(u64::try_from(s.db_free_bytes).unwrap_or(0))
            );
        }
        None => {
            let _ = writeln!(
                w,
                "database: {}",
                human_bytes(u64::try_from(s.db_bytes).unwrap_or(0))
            );
        }
    }
    out
}

/// The database file's and its WAL file's sizes on disk.
pub fn file_sizes(path: &Path) -> Option<(u64, u64)> {
    let db = std::fs::metadata(path).ok()?.len();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    Some((db, wal))
}

/// "12.3 MiB"
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `loket migrate`: applies what is pending and says so.
pub fn migrate(path: &Path) -> Result<String> {
    let mut conn = store::open_unmigrated(path)?;
    let before = store::schema_version(&conn)?;
    let applied = store::migrate(&mut conn)
        .with_context(|| format!("migrating database {}", path.display()))?;
    let after = store::schema_version(&conn)?;
    let mut out = String::new();
    if applied.is_empty() {
        let _ = writeln!(
            out,
            "{}: schema version {after}, up to date (this binary knows {})",
            path.display(),
            store::SCHEMA_VERSION
        );
    } else {
        for name in &applied {
            let _ = writeln!(out, "applied {name}");
        }
        let _ = writeln!(
            out,
            "{}: schema version {before} -> {after}",
            path.display()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_humanly() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn migrate_reports_what_it_applied_and_refuses_a_newer_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("loket.db");
        let first = migrate(&db).unwrap();
        assert!(first.contains("applied 0001_init"), "{first}");
        assert!(
            first.contains(&format!("schema version 0 -> {}", store::SCHEMA_VERSION)),
            "{first}"
        );
        let again = migrate(&db).unwrap();
        assert!(again.contains("up to date"), "{again}");

        let conn = Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", store::SCHEMA_VERSION + 1)
            .unwrap();
        let err = format!("{:#}", migrate(&db).unwrap_err());
        assert!(err.contains("newer than this binary"), "{err}");
    }
}
