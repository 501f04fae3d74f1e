//! `loket backup`: a consistent copy of the database while the daemon keeps working, with
//! SQLite's online backup API.
//!
//! The copy is taken inside one read transaction on the source. In WAL mode that transaction
//! sees one snapshot and blocks no writer, so the daemon goes on storing mail, and the backup
//! never restarts because of it (without the transaction, every write by another connection
//! between two steps would start the copy over, and a busy helpdesk might never finish one).
//! The copy is written next to the target and renamed into place once checked, so a target
//! file is never half written.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

/// Pages copied per step: 4 MiB at the default page size, then progress is reported.
const PAGES_PER_STEP: i32 = 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub pages: u64,
    pub bytes: u64,
    pub schema_version: i64,
    pub elapsed: Duration,
}

/// Copies the database at `source` to `target`. An existing `target` is replaced only with
/// `force`. `progress(done, total)` is called in pages.
pub fn run(
    source: &Path,
    target: &Path,
    force: bool,
    progress: impl FnMut(u64, u64),
) -> Result<Report> {
    backup_with(source, target, force, PAGES_PER_STEP, progress, || {})
}

fn backup_with(
    source: &Path,
    target: &Path,
    force: bool,
    pages_per_step: i32,
    mut progress: impl FnMut(u64, u64),
    mut between_steps: impl FnMut(),
) -> Result<Report> {
    let started = Instant::now();
    if !source.exists() {
        bail!(
            "no database at {} (database.path in the config)",
            source.display()
        );
    }
    if target.exists() && !force {
        bail!(
            "{} already exists; give another file or --force to replace it",
            target.display()
        );
    }
    if let (Ok(a), Ok(b)) = (source.canonicalize(), target.canonicalize())
        && a == b
    {
        bail!("the backup cannot replace the database itself");
    }
    // Read-write without create: a missing file is an error above, and opening must not make
    // an empty database; nothing is written through this connection.
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening database {}", source.display()))?;
    src.busy_timeout(Duration::from_secs(10))?;
    // One snapshot for the whole copy (see the module comment).
    src.execute_batch("BEGIN")?;
    let schema_version: i64 = src
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .with_context(|| format!("{} is not a SQLite database", source.display()))?;
    src.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })?;

    let partial = partial_path(target);
    let result = copy(
        &src,
        &partial,
        pages_per_step,
        &mut progress,
        &mut between_steps,
    );
    // Ends the read transaction; the copy holds no lock on the source after this.
    let _ = src.execute_batch("COMMIT");
    let pages = match result {
        Ok(pages) => pages,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, target).with_context(|| {
        format!(
            "moving the finished copy {} to {}",
            partial.display(),
            target.display()
        )
    })?;
    let bytes = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    Ok(Report {
        pages,
        bytes,
        schema_version,
        elapsed: started.elapsed(),
    })
}

/// `loket.db.bak` -> `loket.db.bak.partial`, in the same folder so the rename is atomic.
fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn copy(
    src: &Connection,
    partial: &Path,
    pages_per_step: i32,
    progress: &mut impl FnMut(u64, u64),
    between_steps: &mut impl FnMut(),
) -> Result<u64> {
    // A leftover from an interrupted run is ours to replace.
    match std::fs::remove_file(partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", partial.display()));
        }
        _ => {}
    }
    // The copy holds the same mail as the database: only its owner may read it.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut dst =
        Connection::open(partial).with_context(|| format!("opening {}", partial.display()))?;
    let pages = {
        let backup = Backup::new(src, &mut dst).context("starting the backup")?;
        loop {
            let step = backup.step(pages_per_step).context("copying pages")?;
            let p = backup.progress();
            let total = u64::try_from(p.pagecount).unwrap_or(0);
            let left = u64::try_from(p.remaining).unwrap_or(0);
            progress(total.saturating_sub(left), total);
            match step {
                StepResult::Done => break total,
                StepResult::More => between_steps(),
                // The source is locked for a moment (a checkpoint): wait and try again.
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    };
    // The source's header says WAL; a backup file should stand alone (no -wal beside it) and
    // be checked before it replaces anything.
    dst.pragma_update(None, "journal_mode", "DELETE")
        .context("finishing the copy")?;
    let check: String = dst
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .context("checking the copy")?;
    if check != "ok" {
        bail!("the copy failed its check: {check}");
    }
    drop(dst);
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", partial.display()))?;
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    fn seed(path: &Path, rows: usize) {
        let conn = store::open(path).unwrap();
        conn.execute_batch("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
            .unwrap();
        let mut stmt = conn
            .prepare("INSERT INTO filler (data) VALUES (zeroblob(3000))")
            .unwrap();
        for _ in 0..rows {
            stmt.execute([]).unwrap();
        }
    }

    fn count(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM filler", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn copy_is_a_snapshot_while_another_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("loket.db");
        let out = dir.path().join("copy.db");
        seed(&db, 400);
        let writer = store::open(&db).unwrap();
        let mut seen = vec![];
        let mut steps = 0;
        let report = backup_with(
            &db,
            &out,
            false,
            16,
            |done, total| seen.push((done, total)),
            || {
                // A backup that restarts after every write would never end: fail instead.
                steps += 1;
                assert!(steps < 1000, "the backup keeps restarting");
                writer
                    .execute("INSERT INTO filler (data) VALUES (zeroblob(3000))", [])
                    .unwrap();
            },
        )
        .unwrap();
        // Many steps, each further than the last: the writes in between restarted nothing.
        assert!(seen.len() > 10, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
        assert_eq!(report.schema_version, store::SCHEMA_VERSION);
        assert!(report.bytes > 400 * 3000);
        // The copy is the database as it was when the backup began.
        assert_eq!(count(&out), 400);
        assert!(count(&db) > 400);
        assert!(!partial_path(&out).exists());
        let copy = Connection::open(&out).unwrap();
        let mode: String = copy
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(m & 0o077, 0, "{m:o}");
        }
    }

    #[test]
    fn existing_target_needs_force_and_missing_source_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("loket.db");
        let out = dir.path().join("copy.db");
        seed(&db, 3);
        std::fs::write(&out, b"old").unwrap();
        let err = run(&db, &out, false, |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        run(&db, &out, true, |_, _| {}).unwrap();
        assert_eq!(count(&out), 3);

        let err = run(&dir.path().join("none.db"), &out, true, |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("no database at"), "{err}");
        assert!(!dir.path().join("none.db").exists());
        let err = run(&db, &db, true, |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("itself"), "{err}");
    }
}
