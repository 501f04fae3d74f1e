//! Database faults and stops against the real mail stack: the database locked by another
//! process, the disk under it full, and SIGTERM in the middle of a backlog. In each case a
//! message is either stored whole (ticket, message, acknowledgement in the outbox, mailbox
//! progress) or not at all and left unseen on the server, and it is stored exactly once when the
//! fault passes. The figures in RELIABILITY.md are printed here (`-- --nocapture`).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Loket, Options, header, stack, unique};

const WAIT: Duration = Duration::from_secs(30);
/// How long to keep watching for a second acknowledgement that must not come.
const QUIET: Duration = Duration::from_secs(5);
/// Longer than the daemon's busy timeout (10 s in `store::open`), so Loket gives up waiting at
/// least once and its error path runs, not only SQLite's busy handler.
const LOCK_HELD: Duration = Duration::from_secs(14);

/// The \Seen flag of every message in `address`'s inbox, as Dovecot keeps it in the Maildir
/// file names (`...:2,S`); messages still in `new/` are unseen.
fn seen_flags(address: &str) -> Vec<bool> {
    let base = stack().dir.join("mail").join(address).join("Maildir");
    let mut flags = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(base.join(sub)) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let seen = name
                    .rsplit_once(":2,")
                    .is_some_and(|(_, f)| f.contains('S'));
                flags.push(seen);
            }
        }
    }
    flags
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).expect("open db");
    c.busy_timeout(Duration::from_secs(10)).ok();
    c.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// Every stored message is whole: an incoming message belongs to a ticket, every ticket has its
/// acknowledgement row, and the mailbox progress covers exactly the stored messages.
fn assert_consistent(db: &Path, what: &str) {
    let orphans = count(
        db,
        "SELECT COUNT(*) FROM messages m WHERE direction = 'in' \
         AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = m.ticket_id)",
    );
    let unacked = count(
        db,
        "SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS \
         (SELECT 1 FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'ack')",
    );
    let empty = count(
        db,
        "SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS \
         (SELECT 1 FROM messages m WHERE m.ticket_id = t.id AND m.direction = 'in')",
    );
    assert_eq!(orphans, 0, "{what}: a message without its ticket");
    assert_eq!(
        unacked, 0,
        "{what}: a ticket without its acknowledgement row"
    );
    assert_eq!(empty, 0, "{what}: a ticket without its message");
    let stored = count(db, "SELECT COUNT(*) FROM messages WHERE direction = 'in'");
    let progress = count(db, "SELECT COALESCE(MAX(last_uid), 0) FROM mailbox_state");
    assert_eq!(
        progress, stored,
        "{what}: mailbox progress (last UID) must cover exactly the stored messages"
    );
}

fn acks_to(user: &str) -> usize {
    stack()
        .mailbox(user)
        .iter()
        .filter(|m| header(m, "X-Loket-Ticket").is_some())
        .count()
}

#[test]
fn locked_database_delays_mail_without_losing_or_doubling_it() {
    let s = stack();
    let loket = Loket::start(Options::default());
    let db = loket.dir.path().join("loket.db");
    loket.wait_log("IMAP session ready", 1, WAIT);

    // Another process (a backup tool, an administrator's sqlite3 shell) takes the write lock.
    let holder = loket.db();
    holder
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("exclusive lock");
    let locked_at = Instant::now();
    let user = unique("locked");
    s.send(
        &user,
        &loket.address,
        "Laptop mati",
        "Tidak mau menyala.",
        "",
    );
    s.wait_mail(&loket.address, 1, WAIT);

    let log = loket.wait_log("SQLITE_BUSY", 1, LOCK_HELD + WAIT);
    let line = log
        .lines()
        .find(|l| l.contains("SQLITE_BUSY"))
        .unwrap_or_default();
    assert!(
        line.contains(&db.display().to_string()) && line.contains("locked"),
        "the error names the database and the lock: {line}"
    );
    println!("locked database, logged: {line}");
    std::thread::sleep(LOCK_HELD.saturating_sub(locked_at.elapsed()));
    assert_eq!(
        seen_flags(&loket.address),
        vec![false],
        "not \\Seen while it is not stored"
    );
    assert_eq!(acks_to(&user), 0);
    holder.execute_batch("COMMIT").expect("release the lock");
    let released = Instant::now();
    drop(holder);

    loket.wait_count("SELECT COUNT(*) FROM tickets", 1, WAIT);
    let stored_after = released.elapsed();
    s.wait_mail(&user, 1, WAIT);
    let acked_after = released.elapsed();
    std::thread::sleep(QUIET);
    println!(
        "locked database: held {:?}; after release: stored in {stored_after:.1?}, acknowledgement delivered in {acked_after:.1?}; busy errors logged: {}",
        LOCK_HELD,
        loket
            .log()
            .lines()
            .filter(|l| l.contains("SQLITE_BUSY"))
            .count()
    );
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 1);
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM outbox WHERE kind = 'ack'"),
        1
    );
    assert_eq!(acks_to(&user), 1, "exactly one acknowledgement");
    assert_eq!(seen_flags(&loket.address), vec![true]);
    assert_consistent(&db, "after the lock");
    let log = loket.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("shutting down"), "{log}");
}

#[test]
fn ingest_exits_75_while_the_database_is_locked() {
    let loket = Loket::configure(Options::default());
    let user = unique("mta");
    let raw = |n: u32| {
        format!(
            "From: <{user}>\r\nTo: <{}>\r\nSubject: Mouse {n}\r\nMessage-ID: <mta-{n}-{}@client.example.test>\r\n\
             Date: Mon, 23 Nov 2026 09:00:00 +0700\r\n\r\nMouse rusak.\r\n",
            loket.address,
            std::process::id()
        )
    };
    let (code, out, err) = loket.cli(&["ingest"], Some(raw(1).as_bytes()));
    assert_eq!(code, 0, "{out}{err}");

    let holder = loket.db();
    holder
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("exclusive lock");
    let (code, out, err) = loket.cli(&["ingest"], Some(raw(2).as_bytes()));
    assert_eq!(code, 75, "temporary failure for the MTA: {out}{err}");
    let db = loket.dir.path().join("loket.db");
    assert!(
        err.contains("locked") && err.contains(&db.display().to_string()),
        "the message names the database and the lock: {err}"
    );
    println!("ingest on a locked database: exit {code}: {}", err.trim());
    holder.execute_batch("COMMIT").expect("release the lock");
    drop(holder);

    // The MTA's retry.
    let (code, out, err) = loket.cli(&["ingest"], Some(raw(2).as_bytes()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created ticket 2"), "{out}");
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 2);
}

/// A small tmpfs mounted for one test, unmounted when dropped (after the Loket using it, which
/// is declared later and so dropped first).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "this test needs root to mount a small tmpfs (mount -t tmpfs -o size={size} tmpfs {}): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still has a file open: detach it now, it goes when that is closed.
            Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status()
                .ok();
        }
    }
}

/// Writes `path` until the file system is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler file");
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // Also the last partial pages.
    let small = [0u8; 512];
    while let Ok(n) = f.write(&small) {
        if n == 0 {
            break;
        }
        written += n as u64;
    }
    f.sync_all().ok();
    written
}

#[test]
fn full_disk_delays_mail_without_half_writing_it() {
    let s = stack();
    let fs = Tmpfs::mount("4m");
    let mut loket = Loket::configure(Options::default());
    // The database goes to the small file system; config, log and everything else stay put.
    let db: PathBuf = fs.path().join("loket.db");
    let config = std::fs::read_to_string(&loket.config).expect("config");
    let default_db = loket.dir.path().join("loket.db").display().to_string();
    assert!(config.contains(&default_db));
    std::fs::write(
        &loket.config,
        config.replace(&default_db, &db.display().to_string()),
    )
    .expect("config");
    loket.spawn();
    loket.wait_log("IMAP session ready", 1, WAIT);

    // An empty WAL, so the next write has to grow a file; then nothing left to grow into.
    {
        let c = rusqlite::Connection::open(&db).expect("open db");
        c.busy_timeout(Duration::from_secs(10)).ok();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
    }
    let filler = fs.path().join("filler");
    let filled = fill(&filler);
    let user = unique("full");
    s.send(
        &user,
        &loket.address,
        "Disk penuh",
        "Server file penuh.",
        "",
    );
    s.wait_mail(&loket.address, 1, WAIT);

    let log = loket.wait_log("SQLITE_FULL", 1, WAIT);
    let line = log
        .lines()
        .find(|l| l.contains("SQLITE_FULL"))
        .unwrap_or_default();
    assert!(
        line.contains(&db.display().to_string()) && line.contains("disk full"),
        "the error names the database and the full disk: {line}"
    );
    println!("full disk, logged: {line}");
    // A few more attempts against the full disk.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM tickets"), 0);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM messages WHERE direction = 'in'"),
        0
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox"), 0);
    assert_consistent(&db, "while the disk is full");
    assert_eq!(
        seen_flags(&loket.address),
        vec![false],
        "not \\Seen while it is not stored"
    );

    std::fs::remove_file(&filler).expect("remove filler");
    let freed = Instant::now();
    let start = Instant::now();
    while count(&db, "SELECT COUNT(*) FROM tickets") < 1 {
        assert!(
            start.elapsed() < WAIT,
            "no ticket after the disk was freed:\n{}",
            loket.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let stored_after = freed.elapsed();
    s.wait_mail(&user, 1, WAIT);
    let acked_after = freed.elapsed();
    std::thread::sleep(QUIET);
    println!(
        "full disk: tmpfs 4 MiB, filler {} KiB; after freeing: stored in {stored_after:.1?}, acknowledgement delivered in {acked_after:.1?}; full-disk errors logged: {}",
        filled / 1024,
        loket
            .log()
            .lines()
            .filter(|l| l.contains("SQLITE_FULL"))
            .count()
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM tickets"), 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'ack'"),
        1
    );
    assert_eq!(acks_to(&user), 1, "exactly one acknowledgement");
    assert_eq!(seen_flags(&loket.address), vec![true]);
    assert_consistent(&db, "after the disk was freed");
    let log = loket.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("shutting down"), "{log}");
    loket.kill();
}

#[test]
fn sigterm_during_a_backlog_leaves_nothing_half_done() {
    let s = stack();
    let mut loket = Loket::configure(Options {
        // One acknowledgement per ticket, so "every ticket has its ack" is checkable.
        ack_rate_limit: Some(1_000_000),
        ..Options::default()
    });
    const N: usize = 200;
    let users: Vec<String> = (0..10).map(|_| unique("backlog")).collect();
    for i in 0..N {
        s.send(
            &users[i % users.len()],
            &loket.address,
            &format!("Permintaan {i}"),
            "Tolong dibantu.",
            "",
        );
    }
    s.wait_mail(&loket.address, N, WAIT);
    let db = loket.dir.path().join("loket.db");
    loket.spawn();
    loket.wait_count("SELECT COUNT(*) FROM tickets", 1, WAIT);
    let (status, took) = loket.terminate().expect("was running");
    let mid = loket.count("SELECT COUNT(*) FROM tickets");
    let seen = seen_flags(&loket.address).iter().filter(|s| **s).count();
    let sent = loket.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL");
    println!(
        "SIGTERM mid-backlog: exit {status:?} after {took:.1?}; {mid} of {N} stored, {seen} flagged \\Seen, {sent} acknowledgements sent"
    );
    assert!(status.success(), "{status:?}\n{}", loket.log());
    assert!(took < Duration::from_secs(5), "stopped in {took:?}");
    assert!(mid < N as i64, "the stop came mid-backlog ({mid} of {N})");
    assert_consistent(&db, "after SIGTERM");
    assert!(
        seen as i64 <= mid,
        "only stored messages are flagged \\Seen ({seen} seen, {mid} stored)"
    );
    let delivered: usize = users.iter().map(|u| acks_to(u)).sum();
    assert!(
        delivered as i64 <= sent,
        "every delivered acknowledgement was recorded as sent ({delivered} delivered, {sent} recorded)"
    );

    loket.spawn();
    loket.wait_processed(N, Duration::from_secs(90));
    let start = Instant::now();
    while users.iter().map(|u| acks_to(u)).sum::<usize>() < N {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "acknowledgements missing after the restart"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(QUIET);
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), N as i64);
    assert_consistent(&db, "after the restart");
    let delivered: usize = users.iter().map(|u| acks_to(u)).sum();
    assert_eq!(delivered, N, "one acknowledgement per ticket, none twice");
}

#[test]
fn sent_mail_is_not_sent_again_when_the_database_is_locked() {
    let s = stack();
    let mut loket = Loket::configure(Options::default());
    let user = unique("sentlock");
    // A ticket whose acknowledgement waits in the outbox (delivered by the MTA, daemon down).
    let raw = format!(
        "From: <{user}>\r\nTo: <{}>\r\nSubject: Kursi rusak\r\nMessage-ID: <sentlock-{}@client.example.test>\r\n\
         Date: Mon, 23 Nov 2026 09:00:00 +0700\r\n\r\nKursi patah.\r\n",
        loket.address,
        std::process::id()
    );
    let (code, out, err) = loket.cli(&["ingest"], Some(raw.as_bytes()));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"),
        1
    );

    // The daemon starts while another process holds the write lock: it can read the outbox and
    // send the mail, but not record that it did.
    let holder = loket.db();
    holder
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("exclusive lock");
    loket.spawn();
    s.wait_mail(&user, 1, WAIT);
    // Long enough for the sender's busy timeout to run out after it waited its turn at the write
    // gate behind the scheduler (whose busy timeout runs out first).
    let held = Duration::from_secs(25);
    std::thread::sleep(held);
    let during = acks_to(&user);
    holder.execute_batch("COMMIT").expect("release the lock");
    drop(holder);
    loket.wait_count(
        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL",
        1,
        WAIT,
    );
    std::thread::sleep(QUIET);
    let after = acks_to(&user);
    println!(
        "outbox under a held lock ({held:?}): acknowledgement delivered {during} time(s) during the lock, {after} in all"
    );
    assert_eq!(after, 1, "sent once, recorded once\n{}", loket.log());
}

#[test]
fn a_message_that_always_fails_is_quarantined_and_the_mail_behind_it_flows() {
    let s = stack();
    let loket = Loket::start(Options::default());
    // A stand-in for a bug that one message always hits: a trigger that refuses its ticket.
    // The error is a constraint failure, not a lock or a full disk, so retrying cannot help.
    loket.wait_count(
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'tickets'",
        1,
        WAIT,
    );
    loket
        .db()
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON tickets WHEN NEW.subject LIKE '%RACUN%' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END;",
        )
        .expect("trigger");
    let (bad, good) = (unique("racun"), unique("sehat"));
    s.send(
        &bad,
        &loket.address,
        "RACUN di lampiran",
        "pesan yang selalu gagal",
        "",
    );
    s.send(
        &good,
        &loket.address,
        "Printer macet",
        "pesan sesudahnya",
        "",
    );

    // The message behind it gets its ticket and acknowledgement.
    s.wait_mail(&good, 1, Duration::from_secs(60));
    loket.wait_count(
        "SELECT COUNT(*) FROM quarantine WHERE reason LIKE 'could not be processed:%refused by the test trigger%'",
        1,
        WAIT,
    );
    let log = loket.wait_log("message fails every time; quarantined", 1, WAIT);
    assert!(
        log.contains("tries=3"),
        "quarantined after the third try:\n{log}"
    );
    // Kept whole, and the failing one answered by nobody.
    let raw: Vec<u8> = loket
        .db()
        .query_row("SELECT raw FROM quarantine", [], |r| r.get(0))
        .expect("raw kept");
    assert!(String::from_utf8_lossy(&raw).contains("pesan yang selalu gagal"));
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 1);
    assert!(
        s.mailbox(&bad).is_empty(),
        "no answer to the failing message"
    );
    // `loket ingest` does the same at once: the MTA would only retry it for days, then bounce it.
    let raw = format!(
        "From: <{bad}>\r\nTo: <{}>\r\nSubject: RACUN lagi\r\nMessage-ID: <racun-{bad}>\r\n\r\nlagi\r\n",
        loket.address
    );
    let (code, out, err) = loket.cli(&["ingest"], Some(raw.as_bytes()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("quarantined: could not be processed"), "{out}");
    assert_eq!(loket.count("SELECT COUNT(*) FROM quarantine"), 2);
    // Both are flagged: the mailbox moved past the bad one.
    let start = Instant::now();
    while seen_flags(&loket.address).iter().any(|seen| !seen) {
        assert!(start.elapsed() < WAIT, "a message stayed unseen");
        std::thread::sleep(Duration::from_millis(200));
    }
}
