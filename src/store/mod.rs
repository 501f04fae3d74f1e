//! The one place that speaks SQL. Plain functions over `&Connection` (a `Transaction` derefs to
//! one), grouped by table family; callers decide where transactions begin and end. The schema
//! changes only through numbered files in `migrations/`, applied in order at open.

pub mod approvals;
pub mod db;
pub mod events;
pub mod mailbox;
pub mod messages;
pub mod outbox;
pub mod quarantine;
pub mod queries;
pub mod reports;
pub mod search;
pub mod service;
pub mod similar;
pub mod stats;
pub mod tickets;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

pub use crate::model::Ticket;
pub use db::{Db, Turn, blocking_turn, per_ticket, turn, write};

/// Migrations in order; the position (1-based) is the schema version kept in `user_version`.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../migrations/0001_init.sql")),
    (
        "0002_sla_and_jobs",
        include_str!("../../migrations/0002_sla_and_jobs.sql"),
    ),
    (
        "0003_approvals",
        include_str!("../../migrations/0003_approvals.sql"),
    ),
    (
        "0004_search",
        include_str!("../../migrations/0004_search.sql"),
    ),
    (
        "0005_event_lookups",
        include_str!("../../migrations/0005_event_lookups.sql"),
    ),
    (
        "0006_mailboxes",
        include_str!("../../migrations/0006_mailboxes.sql"),
    ),
    (
        "0007_quarantine_release",
        include_str!("../../migrations/0007_quarantine_release.sql"),
    ),
    (
        "0008_search_queue",
        include_str!("../../migrations/0008_search_queue.sql"),
    ),
    (
        "0009_queries",
        include_str!("../../migrations/0009_queries.sql"),
    ),
    (
        "0010_service",
        include_str!("../../migrations/0010_service.sql"),
    ),
    (
        "0011_rate_window",
        include_str!("../../migrations/0011_rate_window.sql"),
    ),
    (
        "0012_requesters",
        include_str!("../../migrations/0012_requesters.sql"),
    ),
];

/// How long a statement waits for another writer before SQLITE_BUSY: short waits become
/// waits, long locks become an error the tasks back off from.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens (creating if needed) the database, sets the pragmas every connection needs and applies
/// pending migrations. Every task opens its own connection; WAL lets readers run beside the one
/// writer, and the busy timeout turns short lock waits into waits instead of errors.
pub fn open(path: &Path) -> Result<Connection> {
    let mut conn = open_unmigrated(path)?;
    migrate(&mut conn).with_context(|| format!("migrating database {}", path.display()))?;
    Ok(conn)
}

/// How many prepared statements a connection keeps. rusqlite's default is 16, and one new request
/// runs more different statements than that: the cache is least-recently-used, so with 16 every
/// statement was parsed and planned again for every message (`perf`: SQLite's parser and planner
/// were a tenth of Loket's CPU in the backlog; `callgrind`: 16 % of the pipeline's instructions).
const STATEMENT_CACHE: usize = 256;

/// Connection settings that are not stored in the database file.
fn tune(conn: &Connection) -> Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // SQLite plans some statements for the values bound to them: a bound `LIMIT ?` (the
    // backpressure count, the sender's batch) marks the statement to be parsed and planned
    // again whenever a value is bound to it, the same value or not, so for every call (`perf`:
    // 3 % of Loket's CPU in a backlog, for the backpressure count alone). The query planner
    // stability guarantee keeps one plan per statement whatever is bound; the planner here has
    // no statistics (ANALYZE is never run) that bound values could weigh against anyway.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .context("enabling the query planner stability guarantee")?;
    Ok(())
}

/// [`open`] for `loket ingest`, one process per delivered mail: the MTA drops its copy as soon
/// as the process exits 0, so each commit is made durable (`synchronous = FULL`: the WAL is
/// synced at commit, not only at a checkpoint). In exchange the process skips the checkpoint
/// SQLite runs when the last connection closes (four syncs of the WAL, the folder and the
/// database, for every delivery when no daemon holds the database open): the WAL it leaves is
/// durable and is read by every later connection, and the daemon checkpoints it.
///
/// Only while the WAL is small ([`DELIVERY_WAL_LIMIT`]), though. Without a daemon beside it
/// (MDA only, or the daemon stopped), nothing else would ever reset the WAL: every process
/// opens the database alone, rebuilds the WAL's index by reading all of it, and SQLite's
/// automatic checkpoint, with that index rebuilt, copies all of it into the database again
/// at every commit past 1000 pages. The benchmark's MDA phase measured that: a 41 MB WAL after
/// 300 mails, and 14 ms for a duplicate that costs 3 ms on a small WAL. Past the limit the
/// process closes as SQLite does by default, so the last connection to close checkpoints the
/// WAL and removes it; under a daemon the close finds other connections and does nothing.
pub fn open_for_delivery(path: &Path) -> Result<Connection> {
    let conn = open(path)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .context("making each commit durable (synchronous = FULL)")?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        wal_len < DELIVERY_WAL_LIMIT,
    )
    .context("leaving the checkpoint to the daemon")?;
    Ok(conn)
}

/// The WAL size from which `loket ingest` checkpoints at close (see [`open_for_delivery`]):
/// a process reads the whole WAL when it opens the database alone, so this bounds that read;
/// a new request with an attachment adds about 150 KB to it.
pub const DELIVERY_WAL_LIMIT: u64 = 1 << 20;

/// The config key the database's location comes from: errors about the file name it, since
/// that is where the administrator fixes them.
const PATH_KEY: &str = "database.path";

/// [`open`] for the daemon: also refuses a database this process may only read. SQLite opens
/// a file it cannot write read-only without a word, and every write then fails; the daemon
/// would take that for a passing fault and reconnect and retry forever.
pub fn open_for_writing(path: &Path) -> Result<Connection> {
    let conn = open(path).with_context(|| format!("{PATH_KEY} = {}", path.display()))?;
    ensure_writable(&conn, path)?;
    Ok(conn)
}

/// For `loket check`: whether the daemon will be able to write `path`, changing nothing an
/// administrator would notice (no migration, and a missing database is not created: check may
/// run as another user than the daemon, and a database it created would be that user's).
pub fn check_writable(path: &Path) -> Result<&'static str> {
    if path.is_dir() {
        return Err(directory_error(path));
    }
    if path.exists() {
        let conn =
            open_unmigrated(path).with_context(|| format!("{PATH_KEY} = {}", path.display()))?;
        ensure_writable(&conn, path)?;
        return Ok("writable");
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        return Ok("not there yet; `loket run` creates it and its folder");
    }
    // The folder must take the file and its -wal and -shm: try a file of our own in it.
    let probe = dir.join(format!(".loket-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| {
            format!(
                "{PATH_KEY} = {}: the folder {} is not writable for this user; the database \
                 cannot be created there",
                path.display(),
                dir.display()
            )
        })?;
    // Best effort: a leftover empty probe file harms nothing.
    let _ = std::fs::remove_file(&probe);
    Ok("not there yet; `loket run` creates it")
}

fn directory_error(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{PATH_KEY} = {}: is a directory; name the database file, for example {}",
        path.display(),
        path.join("loket.db").display()
    )
}

/// Fails, naming [`PATH_KEY`], unless `conn` can write its database.
fn ensure_writable(conn: &Connection, path: &Path) -> Result<()> {
    let readonly = || {
        anyhow::anyhow!(
            "{PATH_KEY} = {}: the database is read-only for this user; Loket writes every \
             message it takes, so give the user it runs as write access to the file and to its \
             folder (SQLite keeps its -wal and -shm files beside it)",
            path.display()
        )
    };
    if conn.is_readonly("main").unwrap_or(false) {
        return Err(readonly());
    }
    // A real write, rolled back: it also needs the journal (-wal, -shm) beside the file, so a
    // folder that cannot take them fails here and not at the first message.
    let probe = || -> rusqlite::Result<()> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let wrote = conn.execute_batch("CREATE TABLE main.loket_write_probe (x)");
        conn.execute_batch("ROLLBACK")?;
        wrote
    };
    // Without waiting: another process holding the write lock (a backup, an administrator's
    // sqlite3) is no reason to refuse to start; the tasks wait such a lock out with backoff.
    conn.busy_timeout(Duration::ZERO)?;
    let probed = probe();
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if let Err(e) = probed {
        use rusqlite::ErrorCode;
        if matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        ) {
            tracing::warn!(db = %path.display(), "database locked by another process at start; not checked for writing, the tasks will wait for the lock");
            return Ok(());
        }
        if matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied)
        ) {
            return Err(readonly());
        }
        // Busy, full, I/O: say what SQLite said, not "read-only".
        return Err(e)
            .with_context(|| format!("{PATH_KEY} = {}: a test write failed", path.display()));
    }
    Ok(())
}

/// [`open`] without the migrations: for `loket migrate`, which reports what it applies, and
/// `loket backup`, which copies the database as it is (also one that a newer Loket wrote).
pub fn open_unmigrated(path: &Path) -> Result<Connection> {
    if path.is_dir() {
        return Err(directory_error(path));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)
            .with_context(|| format!("creating database folder {}", dir.display()))?;
    }
    create_private_file(path).with_context(|| format!("creating database {}", path.display()))?;
    let conn =
        Connection::open(path).with_context(|| format!("opening database {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    tune(&conn)?;
    // SQLite gives the -wal and -shm files the database file's own permissions.
    //
    // `temp_store = MEMORY`: the statement journal (the pages a batch's savepoint may have to
    // restore, `pipeline::process_batch`) stays in memory instead of going to a temporary file.
    // The benchmark's scale phase measured 78 KiB of writes to such files per message, more than
    // the WAL and the checkpoint together (56 KiB), each a system call. It also keeps sorts in
    // memory: Loket's are of a report's rows, it runs no VACUUM and makes no temporary tables;
    // a future migration that builds an index over a large table sorts it in memory too.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )
    .with_context(|| format!("setting database pragmas on {}", path.display()))?;
    Ok(conn)
}

/// What is wrong with the database when `e` is a failure that passes by itself: another
/// process holds the lock longer than the busy timeout, or the disk is full. The caller keeps
/// the message where it is (unseen on the server, with the MTA for `loket ingest`) and tries
/// again later; anything else is `None`.
pub fn temporary_failure(e: &anyhow::Error) -> Option<&'static str> {
    use rusqlite::ErrorCode;
    e.chain().find_map(|cause| {
        let rusqlite::Error::SqliteFailure(f, _) = cause.downcast_ref::<rusqlite::Error>()? else {
            return None;
        };
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                Some("locked by another process (SQLITE_BUSY)")
            }
            ErrorCode::DiskFull => Some("disk full (SQLITE_FULL)"),
            ErrorCode::SystemIoFailure => Some("I/O error (SQLITE_IOERR)"),
            // An owner or mode an administrator can put right: the MTA keeps the mail meanwhile.
            ErrorCode::ReadOnly => Some("not writable (SQLITE_READONLY: check its owner and mode)"),
            ErrorCode::CannotOpen => Some("cannot be opened (SQLITE_CANTOPEN)"),
            _ => None,
        }
    })
}

/// The database holds mail of the whole company: a new database file is created readable by its
/// owner only (0600) from the first byte, not made so after the fact. An existing file is left
/// as the administrator set it.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to `path` for its owner only: a report or digest preview holds the
/// company's mail too. A new file is created 0600 from the first byte; an existing file is
/// truncated and keeps the mode its administrator gave it, as the database file does.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Folders Loket creates for its database are its owner's only (0700); existing ones are left
/// as they are (a shared parent like /var/lib must stay readable for others).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// The schema version of an open database (`user_version`): how many migrations it has.
pub fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Applies the migrations the database does not have yet, each in its own transaction, and
/// returns their names. A database newer than this binary is refused, never touched.
///
/// The version is read again inside each write transaction: several processes may open an old
/// database at once after an upgrade (the daemon and `loket ingest` from the MTA), and only one
/// of them may apply a given migration.
pub fn migrate(conn: &mut Connection) -> Result<Vec<&'static str>> {
    let mut applied = Vec::new();
    loop {
        let current = schema_version(conn)?;
        if current > SCHEMA_VERSION {
            bail!(
                "the database has schema version {current}, newer than this binary knows ({SCHEMA_VERSION}); \
                 use the Loket release that wrote it"
            );
        }
        if current == SCHEMA_VERSION {
            return Ok(applied);
        }
        if current < 0 {
            bail!("the database has schema version {current}: not a Loket database");
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current = schema_version(&tx)?;
        let Some((name, sql)) = usize::try_from(current)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
        else {
            // Another process got there first (or went further): check again from the top.
            continue;
        };
        tx.execute_batch(sql)
            .with_context(|| format!("applying migration {name}"))?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
        tracing::info!(migration = name, "applied migration");
        applied.push(*name);
    }
}

/// The name of every migration this binary knows, in order (version = position + 1).
pub fn migration_names() -> impl Iterator<Item = &'static str> {
    MIGRATIONS.iter().map(|(name, _)| *name)
}

pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A migrated in-memory database: for tests, and for dry runs that must not touch a file.
pub fn open_in_memory() -> Result<Connection> {
    let mut conn = Connection::open_in_memory().context("opening an in-memory database")?;
    tune(&conn)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    migrate(&mut conn)?;
    Ok(conn)
}

#[cfg(test)]
pub(crate) fn memory() -> Connection {
    open_in_memory().expect("in-memory database")
}

#[cfg(test)]
mod tests {
    /// Issue 19: with no daemon beside it, `loket ingest` left every WAL frame behind (no
    /// checkpoint on close), and the WAL grew by every delivery: 41 MB after 300 mails, each
    /// process reading all of it. Deliveries one process each, here one connection each, with
    /// a 200 KB blob apiece: the WAL stays within the limit and one delivery.
    #[test]
    fn deliveries_without_a_daemon_keep_the_wal_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loket.db");
        drop(super::open(&path).unwrap());
        let wal = dir.path().join("loket.db-wal");
        let blob = vec![0x5au8; 200 * 1024];
        let mut largest = 0;
        for _ in 0..40 {
            let conn = super::open_for_delivery(&path).unwrap();
            conn.execute("INSERT INTO raw_messages (data) VALUES (?1)", [&blob])
                .unwrap();
            drop(conn);
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        // 40 deliveries of 200 KB would leave a WAL of 8 MB without a checkpoint.
        assert!(
            largest < super::DELIVERY_WAL_LIMIT + 512 * 1024,
            "the WAL reached {largest} bytes"
        );
        let conn = super::open(&path).unwrap();
        let n = crate::fixtures::count(&conn, "SELECT COUNT(*) FROM raw_messages");
        assert_eq!(n, 40, "every delivery is kept");
    }

    /// Issue 21, item 8: a directory used to pass `loket check` and fail `loket run` with
    /// "unable to open database file", naming no key.
    #[test]
    fn a_directory_as_database_path_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        for e in [
            super::open(dir.path()).unwrap_err(),
            super::open_for_writing(dir.path()).unwrap_err(),
            super::check_writable(dir.path()).unwrap_err(),
        ] {
            let e = format!("{e:#}");
            assert!(
                e.contains("database.path") && e.contains("is a directory"),
                "{e}"
            );
        }
    }

    /// Item 8: SQLite opens a file it cannot write read-only without a word; the daemon then
    /// failed every write and reconnected forever.
    #[test]
    fn a_read_only_database_is_refused_naming_database_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loket.db");
        drop(super::open(&path).unwrap());
        let ro = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let e = format!("{:#}", super::ensure_writable(&ro, &path).unwrap_err());
        assert!(
            e.contains("database.path") && e.contains("read-only"),
            "{e}"
        );
        let rw = super::open(&path).unwrap();
        super::ensure_writable(&rw, &path).unwrap();
        // The probe leaves nothing behind.
        let probes = crate::fixtures::count(
            &rw,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'loket_write_probe'",
        );
        assert_eq!(probes, 0);
    }

    #[test]
    fn check_creates_no_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/loket.db");
        assert!(
            super::check_writable(&path)
                .unwrap()
                .contains("not there yet")
        );
        assert!(!dir.path().join("sub").exists());
        let path = dir.path().join("loket.db");
        assert!(
            super::check_writable(&path)
                .unwrap()
                .contains("not there yet")
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    #[test]
    fn a_cached_statement_is_not_planned_again_for_every_call() {
        // Without the query planner stability guarantee (`tune`), the bound `LIMIT ?2` makes
        // this statement be planned again at every call: 5 here.
        use rusqlite::StatementStatus;
        let conn = super::open_in_memory().unwrap();
        for i in 0..5 {
            super::outbox::due_count(&conn, super::from_ms(1_000 * i), 51 + i).unwrap();
        }
        let stmt = conn.prepare_cached(super::outbox::DUE_COUNT).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }

    use super::*;
    use std::path::PathBuf;

    /// Migration 0011 moves the rate limits to a table of their own: what the outbox held in
    /// the week before its newest mail is counted there, and the old index over the whole
    /// outbox is gone.
    #[test]
    fn the_rate_window_migration_keeps_what_was_sent_before() {
        let conn = memory_at(10);
        let day = 86_400_000i64;
        for (n, at) in [(1, 1_000), (2, 2 * day), (3, 9 * day)] {
            conn.execute(
                "INSERT INTO outbox (ticket_id, kind, message_id, envelope_from, rcpt, raw, created_at, next_attempt_at) \
                 VALUES (NULL, 'ack', ?1, 'helpdesk@example.test', 'dewi@example.test', x'00', ?2, ?2)",
                rusqlite::params![format!("<a{n}@x>"), at],
            )
            .unwrap();
        }
        conn.execute_batch(MIGRATIONS[10].1).unwrap();
        let count = |since| outbox::count_recent(&conn, "dewi@example.test", "ack", from_ms(since));
        // The first is more than seven days older than the newest.
        assert_eq!(count(0).unwrap(), 2);
        assert_eq!(count(3 * day).unwrap(), 1);
        let old_index = crate::fixtures::count(
            &conn,
            "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'outbox_rate'",
        );
        assert_eq!(old_index, 0);
    }

    /// Migration 0012 links the tickets stored before it, requester by requester, so that a
    /// `#status` after the upgrade lists them, and later tickets carry on the chain.
    #[test]
    fn the_requesters_migration_links_the_tickets_stored_before() {
        let conn = memory_at(11);
        for (id, who) in [(1, "rina"), (2, "budi"), (3, "rina"), (4, "rina")] {
            conn.execute(
                "INSERT INTO tickets (id, subject, requester_email, status, level, language, created_at, updated_at) \
                 VALUES (?1, 's', ?2, 'open', 1, 'id', ?1, ?1)",
                rusqlite::params![id, format!("{who}@example.test")],
            )
            .unwrap();
        }
        conn.execute_batch(MIGRATIONS[11].1).unwrap();
        conn.execute(
            "INSERT INTO tickets (id, subject, requester_email, status, level, language, created_at, updated_at) \
             VALUES (5, 's', 'rina@example.test', 'open', 1, 'en', 5, 5)",
            [],
        )
        .unwrap();
        let ids = |who: &str| -> Vec<i64> {
            queries::requested_by(&conn, who, from_ms(0), 50)
                .unwrap()
                .into_iter()
                .map(|l| l.ticket.id)
                .collect()
        };
        assert_eq!(ids("rina@example.test"), vec![5, 4, 3, 1]);
        assert_eq!(ids("budi@example.test"), vec![2]);
    }

    /// A new in-memory database with the first `n` migrations only.
    fn memory_at(n: usize) -> Connection {
        assert_eq!(MIGRATIONS[10].0, "0011_rate_window");
        assert_eq!(MIGRATIONS[11].0, "0012_requesters");
        let conn = Connection::open_in_memory().unwrap();
        for (_, sql) in &MIGRATIONS[..n] {
            conn.execute_batch(sql).unwrap();
        }
        conn
    }

    #[test]
    fn migrations_apply_once_and_record_version() {
        let mut conn = memory();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[cfg(unix)]
    #[test]
    fn database_files_and_folder_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state/loket");
        let db = dir.join("loket.db");
        let conn = open(&db).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", db.display()));
            assert!(p.exists(), "{} missing", p.display());
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("state")), 0o700);
        // Opening again keeps the data and changes nothing.
        drop(conn);
        let conn = open(&db).unwrap();
        assert_eq!(crate::fixtures::count(&conn, "SELECT COUNT(*) FROM t"), 1);
        assert_eq!(mode(&db), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_created_0600_and_overwritten_whole() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("report.csv");
        write_private_file(&path, b"a much longer first version").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write_private_file(&path, b"short").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }

    #[test]
    fn newer_database_is_refused() {
        let mut conn = memory();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }

    #[test]
    fn locked_and_full_are_temporary_failures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let holder = open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let mut other = open(&path).unwrap();
        other.busy_timeout(Duration::from_millis(10)).unwrap();
        let err = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map(|_| ())
            .context("starting a transaction")
            .unwrap_err();
        assert_eq!(
            temporary_failure(&err),
            Some("locked by another process (SQLITE_BUSY)")
        );
        let full = anyhow::Error::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        ))
        .context("committing the messages");
        assert_eq!(temporary_failure(&full), Some("disk full (SQLITE_FULL)"));
        let other_error = anyhow::Error::from(rusqlite::Error::QueryReturnedNoRows);
        assert_eq!(temporary_failure(&other_error), None);
    }

    #[test]
    fn a_database_opened_read_only_is_a_temporary_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        // What an unwritable file (wrong owner or mode) gives: SQLITE_READONLY on the first write.
        let ro =
            Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let err = ro
            .execute("INSERT INTO t VALUES (1)", [])
            .context("storing the message")
            .unwrap_err();
        assert_eq!(
            temporary_failure(&err),
            Some("not writable (SQLITE_READONLY: check its owner and mode)")
        );
    }
}
