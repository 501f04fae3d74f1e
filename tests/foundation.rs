//! Mail in, ticket out: end to end against the real Dovecot and Postfix on loopback.

mod common;

use std::time::Duration;

use common::{Loket, Options, body_text, header, run_loket, stack, unique};

const WAIT: Duration = Duration::from_secs(30);
/// How long to keep watching a mailbox that must stay empty (several poll intervals).
const QUIET: Duration = Duration::from_secs(5);

fn acks_in(mailbox: &[String]) -> Vec<&String> {
    mailbox
        .iter()
        .filter(|m| header(m, "X-Loket-Ticket").is_some())
        .collect()
}

#[test]
fn new_mail_gets_exactly_one_acknowledgement_with_tag() {
    let s = stack();
    let loket = Loket::start(Options::default());
    let user = unique("rina");
    let id = s.send(
        &user,
        &loket.address,
        "Printer lantai 3 rusak",
        "Printer tidak bisa mencetak.",
        "",
    );

    let mails = s.wait_mail(&user, 1, WAIT);
    let ack = &mails[0];
    let subject = header(ack, "Subject").unwrap();
    assert!(
        subject.starts_with("[HD-1] Printer lantai 3 rusak"),
        "{subject}"
    );
    assert_eq!(
        header(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(header(ack, "In-Reply-To"), Some(format!("<{id}>")));
    assert!(header(ack, "References").unwrap().contains(&id));
    assert!(
        header(ack, "Content-Type")
            .unwrap()
            .contains("multipart/alternative")
    );
    assert!(header(ack, "From").unwrap().contains(&loket.address));
    assert!(ack.contains("HD-1"), "the body names the ticket");

    std::thread::sleep(QUIET);
    assert_eq!(s.mailbox(&user).len(), 1, "exactly one acknowledgement");
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 1);
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL"),
        1
    );
    // Processed messages are flagged \Seen only after commit; progress is by UID.
    assert_eq!(loket.count("SELECT COUNT(*) FROM imap_pending_flags"), 0);
}

#[test]
fn english_helpdesk_acknowledges_in_english() {
    let s = stack();
    let loket = Loket::start(Options {
        language: "en",
        ..Options::default()
    });
    let user = unique("john");
    s.send(&user, &loket.address, "VPN down", "Cannot connect.", "");
    let ack = &s.wait_mail(&user, 1, WAIT)[0];
    let text = body_text(ack);
    assert!(text.contains("logged it as ticket HD-1"), "{text}");
}

#[test]
fn replies_by_tag_and_by_in_reply_to_land_on_the_ticket() {
    let s = stack();
    let loket = Loket::start(Options::default());
    let user = unique("budi");
    s.send(
        &user,
        &loket.address,
        "Email penuh",
        "Mailbox saya penuh.",
        "",
    );
    let ack = s.wait_mail(&user, 1, WAIT).remove(0);
    let ack_id = header(&ack, "Message-ID").unwrap();

    // A reply that keeps the tag.
    s.send(
        &user,
        &loket.address,
        "RE: [HD-1] Email penuh",
        "Masih penuh.",
        "",
    );
    // A reply whose client dropped the tag, threaded only by In-Reply-To.
    s.send(
        &user,
        &loket.address,
        "Balasan tanpa tag",
        "Sudah saya hapus beberapa email.",
        &format!("In-Reply-To: {ack_id}\r\nReferences: {ack_id}\r\n"),
    );
    loket.wait_count(
        "SELECT COUNT(*) FROM messages WHERE direction = 'in'",
        3,
        WAIT,
    );
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 1);
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM messages WHERE ticket_id = 1 AND direction = 'in' AND kind = 'reply'"),
        2
    );
    std::thread::sleep(QUIET);
    assert_eq!(
        s.mailbox(&user).len(),
        1,
        "replies are not acknowledged again"
    );
}

#[test]
fn tag_from_an_outsider_makes_a_new_ticket() {
    let s = stack();
    let loket = Loket::start(Options::default());
    let owner = unique("owner");
    let outsider = unique("outsider");
    s.send(
        &owner,
        &loket.address,
        "Laptop mati",
        "Tidak mau menyala.",
        "",
    );
    s.wait_mail(&owner, 1, WAIT);
    s.send(
        &outsider,
        &loket.address,
        "Re: [HD-1] Laptop mati",
        "Saya ikut menambahkan.",
        "",
    );
    loket.wait_count("SELECT COUNT(*) FROM tickets", 2, WAIT);
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM messages WHERE ticket_id = 1 AND direction = 'in'"),
        1
    );
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM events WHERE ticket_id = 2 AND kind = 'threading'"),
        1,
        "the refusal is logged"
    );
    let ack = &s.wait_mail(&outsider, 1, WAIT)[0];
    let subject = header(ack, "Subject").unwrap();
    assert!(subject.starts_with("[HD-2] "), "{subject}");
    assert!(
        !subject.contains("HD-1"),
        "the foreign tag is dropped: {subject}"
    );
}

#[test]
fn out_of_office_bounce_and_own_address_get_no_answer() {
    let s = stack();
    let loket = Loket::start(Options::default());
    let user = unique("cuti");
    // An out-of-office reply.
    s.send(
        &user,
        &loket.address,
        "Automatic reply: Sedang cuti",
        "Saya sedang cuti sampai 30 November.",
        "Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n",
    );
    // A bounce from the mailer daemon.
    let bounce = std::fs::read_to_string(common::corpus().join("helpdesk/bounce-postfix.eml"))
        .expect("corpus bounce");
    let daemon = unique("MAILER-DAEMON");
    s.send_raw(&daemon, &[&loket.address], bounce.as_bytes());
    // A mail claiming to be from the helpdesk itself.
    s.send(
        &loket.address,
        &loket.address,
        "Loop?",
        "Dari alamat sendiri.",
        "",
    );
    // A list mail.
    let list = unique("newsletter");
    s.send(
        &list,
        &loket.address,
        "Promo",
        "Diskon!",
        "Precedence: bulk\r\nList-Id: <promo.example.test>\r\n",
    );

    loket.wait_processed(4, WAIT);
    std::thread::sleep(QUIET);
    assert!(s.mailbox(&user).is_empty(), "out-of-office answered");
    assert!(s.mailbox(&daemon).is_empty(), "bounce answered");
    assert!(
        acks_in(&s.mailbox(&loket.address)).is_empty(),
        "own address answered"
    );
    assert!(s.mailbox(&list).is_empty(), "list mail answered");
    assert_eq!(loket.count("SELECT COUNT(*) FROM outbox"), 0);
    assert!(
        loket.count("SELECT COUNT(*) FROM quarantine") >= 2,
        "the unmatched bounce and own mail are kept"
    );
}

#[test]
fn bounce_of_an_acknowledgement_is_recorded_on_its_ticket() {
    let s = stack();
    let loket = Loket::start(Options::default());
    let user = unique("budi");
    s.send(&user, &loket.address, "Akses VPN", "Mohon akses VPN.", "");
    let ack = &s.wait_mail(&user, 1, WAIT)[0];
    let ack_id = header(ack, "Message-ID").unwrap();
    // The DSN a remote MTA would send back, quoting the acknowledgement's headers.
    let dsn = format!(
        "From: MAILER-DAEMON@example.test (Mail Delivery System)\r\nTo: {helpdesk}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{pid}@example.test>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\n<{user}>: mailbox full\r\n\
         --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; example.test\r\n\r\n\
         Final-Recipient: rfc822; {user}\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n\
         --b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: <{helpdesk}>\r\nTo: <{user}>\r\n\
         Subject: [HD-1] Akses VPN\r\nMessage-ID: {ack_id}\r\n\r\n--b1--\r\n",
        helpdesk = loket.address,
        pid = std::process::id(),
    );
    s.send_raw(
        "mailer-daemon@example.test",
        &[&loket.address],
        dsn.as_bytes(),
    );
    loket.wait_count(
        "SELECT COUNT(*) FROM messages WHERE kind = 'bounce' AND ticket_id = 1",
        1,
        WAIT,
    );
    std::thread::sleep(QUIET);
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 1);
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM outbox"),
        1,
        "only the acknowledgement, never an answer to the bounce"
    );
}

#[test]
fn permanent_smtp_refusal_is_recorded_and_not_retried() {
    let s = stack();
    let loket = Loket::start(Options::default());
    // The test Postfix refuses (550) every recipient outside example.test.
    let gone = format!("nobody-{}@nowhere.invalid", std::process::id());
    s.send(&gone, &loket.address, "Akses VPN", "Mohon akses VPN.", "");
    loket.wait_count(
        "SELECT COUNT(*) FROM events WHERE kind = 'delivery_failed' AND ticket_id = 1",
        1,
        WAIT,
    );
    std::thread::sleep(QUIET);
    assert_eq!(
        loket.count(
            "SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL AND attempts = 1 \
             AND sent_at IS NULL AND last_error LIKE '%550%'"
        ),
        1,
        "refused once, kept with its error, never retried"
    );
}

#[test]
fn duplicate_delivery_gets_no_second_ticket() {
    let s = stack();
    let loket = Loket::start(Options::default());
    let user = unique("dup");
    let raw = format!(
        "From: <{user}>\r\nTo: <{}>\r\nSubject: Monitor berkedip\r\nMessage-ID: <dup-{}@client.example.test>\r\n\
         Date: Mon, 23 Nov 2026 09:00:00 +0700\r\n\r\nMonitor berkedip terus.\r\n",
        loket.address,
        std::process::id()
    );
    s.send_raw(&user, &[&loket.address], raw.as_bytes());
    s.send_raw(&user, &[&loket.address], raw.as_bytes());
    // Same Message-ID, different content: a sender reusing IDs must not be dropped.
    let reused = raw.replace("Monitor berkedip terus.", "Sekarang layar hitam.");
    s.send_raw(&user, &[&loket.address], reused.as_bytes());
    loket.wait_processed(3, WAIT);
    std::thread::sleep(QUIET);
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"),
        2
    );
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM tickets"),
        1,
        "the reused ID lands on the same ticket"
    );
    assert_eq!(s.mailbox(&user).len(), 1, "one acknowledgement");
}

#[test]
fn same_message_through_ingest_and_imap_is_stored_once() {
    let s = stack();
    let mut loket = Loket::configure(Options::default());
    let user = unique("pipe");
    let raw = format!(
        // Complete headers, as a mail client writes them: Postfix adds Date (or Message-ID) to
        // mail that lacks them, and then the IMAP copy would no longer be the same message.
        "From: <{user}>\r\nTo: <{}>\r\nSubject: Keyboard rusak\r\nMessage-ID: <pipe-{}@client.example.test>\r\n\
         Date: Mon, 23 Nov 2026 09:00:00 +0700\r\n\r\nTombol A macet.\r\n",
        loket.address,
        std::process::id()
    );
    let (code, out, err) = loket.cli(&["ingest"], Some(raw.as_bytes()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created ticket 1"), "{out}");
    let (code, out, _) = loket.cli(&["ingest"], Some(raw.as_bytes()));
    assert_eq!(code, 0);
    assert!(out.contains("duplicate"), "{out}");
    // And the copy that also arrives in the mailbox.
    s.send_raw(&user, &[&loket.address], raw.as_bytes());
    loket.spawn();
    loket.wait_processed(1, WAIT);
    s.wait_mail(&user, 1, WAIT);
    std::thread::sleep(QUIET);
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 1);
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"),
        1
    );
    assert_eq!(s.mailbox(&user).len(), 1);
}

#[test]
fn ingest_refuses_what_is_not_mail_and_keeps_it() {
    let loket = Loket::configure(Options::default());
    let (code, out, err) = loket.cli(&["ingest"], Some(b"\x00\x01\x02 this is not mail at all"));
    assert_eq!(code, 65, "{out}{err}");
    assert_eq!(loket.count("SELECT COUNT(*) FROM quarantine"), 1);
    let (code, _, err) = run_loket(
        &["ingest", "--config", "/nonexistent/loket.toml"],
        Some(b"From: a@b\r\n\r\nx"),
    );
    assert_eq!(
        code, 75,
        "a broken config is a temporary failure for the MTA: {err}"
    );
}

#[test]
fn restart_mid_backlog_loses_and_duplicates_nothing() {
    let s = stack();
    let mut loket = Loket::configure(Options::default());
    const N: usize = 150;
    let users: Vec<String> = (0..4).map(|_| unique("backlog")).collect();
    for i in 0..N {
        let from = &users[i % users.len()];
        s.send(
            from,
            &loket.address,
            &format!("Permintaan {i}"),
            &format!("Isi permintaan {i}"),
            "",
        );
    }
    s.wait_mail(&loket.address, N, WAIT);
    loket.spawn();
    loket.wait_count("SELECT COUNT(*) FROM tickets", 20, WAIT);
    loket.kill();
    let mid = loket.count("SELECT COUNT(*) FROM tickets");
    loket.spawn();
    loket.wait_processed(N, Duration::from_secs(90));
    loket.wait_count(
        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL",
        20,
        WAIT,
    );
    assert!(
        mid < N as i64,
        "the kill happened mid-backlog ({mid} of {N})"
    );
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM tickets"),
        N as i64,
        "every message on exactly one ticket"
    );
    assert_eq!(
        loket.count("SELECT COUNT(DISTINCT message_id) FROM messages WHERE direction = 'in'"),
        N as i64
    );
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"),
        N as i64
    );
    // No acknowledgement twice across the kill, and none held back without a record: every
    // ticket has exactly one, or an `ack_suppressed` event saying why (here the backstop, 30 an
    // hour, for senders of 37 or 38 requests each).
    let twice = loket.count(
        "SELECT COUNT(*) FROM tickets t WHERE \
         (SELECT COUNT(*) FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'ack') > 1",
    );
    assert_eq!(twice, 0, "an acknowledgement sent twice");
    let silent = loket.count(
        "SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS \
         (SELECT 1 FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'ack') AND NOT EXISTS \
         (SELECT 1 FROM events e WHERE e.ticket_id = t.id AND e.kind = 'ack_suppressed')",
    );
    assert_eq!(
        silent, 0,
        "a ticket with neither its acknowledgement nor why not"
    );
    let acks = loket.count("SELECT COUNT(*) FROM outbox WHERE kind = 'ack'");
    assert_eq!(acks, 30 * users.len() as i64, "the backstop, per sender");
}

#[test]
fn sigterm_stops_cleanly_and_quickly() {
    let s = stack();
    let mut loket = Loket::start(Options::default());
    let user = unique("term");
    s.send(&user, &loket.address, "Halo", "x", "");
    s.wait_mail(&user, 1, WAIT);
    let (status, took) = loket.terminate().expect("was running");
    assert!(status.success(), "{status:?}\n{}", loket.log());
    assert!(took < Duration::from_secs(5), "stopped in {took:?}");
}

#[test]
fn check_reports_idle_and_smtp() {
    let loket = Loket::configure(Options::default());
    let (code, out, err) = loket.cli(&["check"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("IDLE: offered"), "{out}");
    assert!(out.contains("smtp 127.0.0.1"), "{out}");
}

/// Issue 21: taking From addresses on trust is a choice that must be seen, at check and at start.
#[test]
fn check_and_start_warn_when_commands_need_no_authentication() {
    // The test config says require_authenticated_commands = false.
    let mut loket = Loket::configure(Options::default());
    let (code, out, err) = loket.cli(&["check"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("security: WARNING: security.require_authenticated_commands = false"),
        "{out}"
    );
    loket.spawn();
    loket.wait_log(
        "security.require_authenticated_commands = false",
        1,
        Duration::from_secs(20),
    );
    assert!(loket.log().contains("WARN"), "{}", loket.log());

    let on = Loket::configure(Options {
        extra: "[security]\nauthserv_id = \"mx.example.test\"\n".into(),
        ..Options::default()
    });
    let (code, out, err) = on.cli(&["check"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("WARNING"), "{out}");
    assert!(
        out.contains("security: commands need authentication by mx.example.test"),
        "{out}"
    );
}

#[test]
fn tls_imap_with_private_ca_works() {
    let s = stack();
    let loket = Loket::configure(Options::default());
    let text = std::fs::read_to_string(&loket.config).unwrap();
    let text = text
        .replace(
            &format!("port = {}\ntls = \"none\"", s.imap_port),
            &format!("port = {}\ntls = \"tls\"", s.imaps_port),
        )
        .replace(
            "[smtp]",
            &format!("ca_file = \"{}\"\n\n[smtp]", s.cert.display()),
        );
    std::fs::write(&loket.config, text).unwrap();
    let (code, out, err) = loket.cli(&["check"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("login ok"), "{out}");
}

#[test]
fn bad_config_names_the_key() {
    let loket = Loket::configure(Options::default());
    let text = std::fs::read_to_string(&loket.config)
        .unwrap()
        .replace("poll_interval = \"2s\"", "poll_interval = \"kadang\"");
    std::fs::write(&loket.config, text).unwrap();
    let (code, _, err) = loket.cli(&["tickets", "list"], None);
    assert_ne!(code, 0);
    assert!(
        err.contains("poll_interval") && err.contains("kadang"),
        "{err}"
    );
}

/// Runs `loket <args> --config <config>`, as a user the file permissions bind: root without its
/// power to override them (`setpriv`), so a read-only file is read-only in this test too.
/// Returns (exit code, stdout, stderr), or `None` if it still runs after `within` (then killed).
fn loket_bound_by_permissions(
    config: &std::path::Path,
    args: &[&str],
    within: Duration,
) -> Option<(i32, String, String)> {
    use std::os::unix::fs::MetadataExt;
    use std::process::{Command, Stdio};
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search",
            env!("CARGO_BIN_EXE_loket"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_loket"))
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("running loket");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for loket") {
            break Some(status);
        }
        if start.elapsed() > within {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    status.map(|s| (s.code().unwrap_or(-1), read(&out), read(&err)))
}

/// Issue 21, item 8: a directory as `database.path` passed `loket check` and failed `loket run`
/// without naming the key; a read-only database made `loket run` reconnect to IMAP every second,
/// forever. Both are refused at check and at start, naming `database.path`.
#[test]
fn database_path_that_cannot_be_written_is_named_at_check_and_at_start() {
    let loket = Loket::configure(Options::default());
    let db = loket.dir.path().join("loket.db");
    let good = std::fs::read_to_string(&loket.config).unwrap();
    let within = Duration::from_secs(20);

    // A directory.
    let folder = loket.dir.path().join("data");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        &loket.config,
        good.replace(&db.display().to_string(), &folder.display().to_string()),
    )
    .unwrap();
    let (code, out, err) = loket.cli(&["check"], None);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        out.contains("database: FAILED: database.path") && out.contains("is a directory"),
        "{out}{err}"
    );
    let (code, out, err) =
        loket_bound_by_permissions(&loket.config, &["run"], within).expect("run gives up");
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("database.path") && err.contains("is a directory"),
        "{err}"
    );

    // A database file this user may only read.
    std::fs::write(&loket.config, &good).unwrap();
    let (code, out, err) = loket.cli(&["migrate"], None);
    assert_eq!(code, 0, "{out}{err}");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let (code, out, err) =
        loket_bound_by_permissions(&loket.config, &["check"], within).expect("check ends");
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        out.contains("database: FAILED: database.path") && out.contains("read-only"),
        "{out}{err}"
    );
    let (code, out, err) = loket_bound_by_permissions(&loket.config, &["run"], within)
        .expect("run gives up instead of retrying forever");
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("database.path") && err.contains("read-only"),
        "{err}"
    );
}

/// Counts the files of a Maildir folder (`new` and `cur`).
fn maildir_files(dir: &std::path::Path) -> usize {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
        .map(|rd| rd.flatten().count())
        .sum()
}

#[test]
fn processed_folder_is_created_and_committed_messages_are_moved_into_it() {
    let s = stack();
    let mut loket = Loket::configure(Options::default());
    // The starter config names `Processed`, which a new mailbox does not have: Loket creates it
    // rather than failing every move and reconnecting.
    let text = std::fs::read_to_string(&loket.config).expect("config");
    let text = text.replacen(
        "timeout = \"10s\"\n",
        "timeout = \"10s\"\nprocessed_folder = \"Processed\"\n",
        1,
    );
    std::fs::write(&loket.config, text).expect("config");
    loket.spawn();
    let user = unique("rina");
    s.send(
        &user,
        &loket.address,
        "Monitor mati",
        "Monitor tidak menyala.",
        "",
    );
    s.wait_mail(&user, 1, WAIT);
    loket.wait_log("created the processed folder", 1, WAIT);

    let maildir = s.dir.join("mail").join(&loket.address).join("Maildir");
    let start = std::time::Instant::now();
    while !(maildir_files(&maildir) == 0 && maildir_files(&maildir.join(".Processed")) == 1) {
        assert!(
            start.elapsed() < WAIT,
            "INBOX holds {}, Processed {}: the message was not moved",
            maildir_files(&maildir),
            maildir_files(&maildir.join(".Processed"))
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 1);
    assert_eq!(loket.count("SELECT COUNT(*) FROM imap_pending_flags"), 0);
    assert!(
        !loket.log().contains("IMAP session ended"),
        "no reconnect: {}",
        loket.log()
    );
}

/// Rewrites the `[imap]` table of a configured (not yet started) helpdesk: `poll_interval` and
/// the lines given after it.
fn imap_waits(loket: &Loket, poll: &str, more: &str) {
    let text = std::fs::read_to_string(&loket.config).expect("config");
    let text = text.replacen(
        "poll_interval = \"2s\"\n",
        &format!("poll_interval = \"{poll}\"\n{more}"),
        1,
    );
    std::fs::write(&loket.config, text).expect("config");
}

#[test]
fn mail_announced_while_a_round_stores_is_fetched_without_further_news() {
    // Dovecot reports a message that arrives while Loket is storing the previous one in the
    // EXISTS at the end of Loket's next command, and counts it as told: the IDLE that follows
    // would not announce it again. With a poll every 30 s, only Loket reading that EXISTS
    // fetches it before the poll.
    let s = stack();
    let mut loket = Loket::configure(Options::default());
    imap_waits(&loket, "30s", "");
    loket.spawn();
    loket.wait_log("IMAP session ready", 1, WAIT);
    std::thread::sleep(Duration::from_millis(500));

    // The first message's round waits on the write lock (Loket waits up to 10 s for it), so
    // the second arrives while that round is storing.
    let holder = loket.db();
    holder.execute_batch("BEGIN EXCLUSIVE").expect("write lock");
    let (first, second) = (unique("rina"), unique("budi"));
    s.send(
        &first,
        &loket.address,
        "Printer mati",
        "Tidak mencetak.",
        "",
    );
    loket.wait_log("new messages", 1, WAIT);
    s.send(
        &second,
        &loket.address,
        "Wifi putus",
        "Tidak tersambung.",
        "",
    );
    s.wait_mail(&loket.address, 2, WAIT);
    // Dovecot has the file; give its index a moment too.
    std::thread::sleep(Duration::from_millis(200));
    holder.execute_batch("COMMIT").expect("release the lock");
    drop(holder);

    // Well before the 30 s poll (and no third message brings news).
    let soon = Duration::from_secs(10);
    loket.wait_count("SELECT COUNT(*) FROM tickets", 2, soon);
    s.wait_mail(&second, 1, soon);
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 2);
}
