//! The administrator's commands, run as the built binary against a temporary database seeded
//! through `loket ingest`. No mail stack: these commands never touch IMAP or SMTP.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, http_get};

/// Runs the loket binary with exactly `args`; returns (exit code, stdout, stderr).
fn run_loket(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    run_loket_env(args, stdin, &[])
}

fn run_loket_env(
    args: &[&str],
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(args)
        .env_remove("LOKET_CONFIG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running loket");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(bytes) = stdin {
        input.write_all(bytes).expect("writing stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("loket output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A helpdesk in a temporary folder: its config and database.
struct Desk {
    dir: tempfile::TempDir,
    config: PathBuf,
}

const HELPDESK: &str = "helpdesk@example.test";

impl Desk {
    fn new(extra: &str) -> Desk {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("loket.toml");
        let db = dir.path().join("loket.db");
        write_config(&config, &db, extra);
        Desk { dir, config }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("loket.db")
    }

    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        self.cli_in(args, None)
    }

    fn cli_in(&self, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
        let config = self.config.to_string_lossy().into_owned();
        let mut all = args.to_vec();
        all.extend(["--config", config.as_str()]);
        run_loket(&all, stdin)
    }

    /// `loket ingest` of a plain mail; returns its stdout.
    fn ingest(&self, from: &str, subject: &str, body: &str, n: u32) -> String {
        let raw = format!(
            "From: <{from}>\r\nTo: <{HELPDESK}>\r\nSubject: {subject}\r\n\
             Message-ID: <admin-{n}@client.example.test>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0700\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        );
        let (code, out, err) = self.cli_in(&["ingest"], Some(raw.as_bytes()));
        assert_eq!(code, 0, "ingest: {out}{err}");
        out
    }

    /// Two tickets: HD-1 about a printer (with a reply), HD-2 about the VPN.
    fn seeded(extra: &str) -> Desk {
        let desk = Desk::new(extra);
        let out = desk.ingest(
            "rina@example.test",
            "Printer lantai 3 rusak",
            "Printer di lantai 3 hanya mencetak halaman kosong.",
            1,
        );
        assert!(out.contains("created ticket 1"), "{out}");
        let out = desk.ingest(
            "budi@example.test",
            "VPN tidak bisa konek",
            "Sejak pagi VPN kantor putus terus.",
            2,
        );
        assert!(out.contains("created ticket 2"), "{out}");
        let out = desk.ingest(
            "rina@example.test",
            "Re: [HD-1] Printer lantai 3 rusak",
            "Sudah saya coba ganti toner, masih sama.",
            3,
        );
        assert!(out.contains("added to ticket 1"), "{out}");
        desk
    }
}

fn write_config(config: &Path, db: &Path, extra: &str) {
    let text = format!(
        r#"
[helpdesk]
address = "{HELPDESK}"
tag_prefix = "HD"

[imap]
host = "127.0.0.1"
port = 9
tls = "none"
username = "{HELPDESK}"
password = "secret"
max_backoff = "1s"

[smtp]
host = "127.0.0.1"
port = 9
tls = "none"

[database]
path = "{db}"

[security]
require_authenticated_commands = false   # the technicians here send no Authentication-Results

[[technicians]]
email = "andi@example.test"
name = "Andi"

[[categories]]
name = "printer"
label = "Printer & scanner"

[[categories]]
name = "network"

[[rules]]
subject_any = ["printer"]
category = "printer"

[[rules]]
subject_any = ["vpn"]
category = "network"
{extra}
"#,
        db = db.display()
    );
    std::fs::write(config, text).expect("writing config");
}

/// The first column of each table row (the header skipped).
fn listed(out: &str) -> Vec<String> {
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn init_writes_a_loadable_config_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etc/loket.toml");
    let p = path.to_string_lossy().into_owned();
    let (code, out, err) = run_loket(&["init", "--lang", "en", &p], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("wrote "), "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("language = \"en\""), "{text}");

    // Loaded by a command that needs the config only.
    let eml = dir.path().join("m.eml");
    std::fs::write(
        &eml,
        "From: a@example.co.id\r\nTo: helpdesk@example.co.id\r\nSubject: Printer macet\r\n\r\nKertas macet.\r\n",
    )
    .unwrap();
    let (code, out, err) = run_loket(
        &["rules", "test", "--config", &p, &eml.to_string_lossy()],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("printer"), "{out}");

    let (code, _, err) = run_loket(&["init", &p], None);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // Without a path: --config names the file.
    let other = dir.path().join("other.toml");
    let (code, _, err) = run_loket(&["init", "--config", &other.to_string_lossy()], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        std::fs::read_to_string(&other)
            .unwrap()
            .contains("language = \"id\"")
    );
}

#[test]
fn tickets_list_filters() {
    let desk = Desk::seeded("");
    let (code, out, err) = desk.cli(&["tickets", "list"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed(&out), vec!["HD-2", "HD-1"], "{out}");
    assert!(out.lines().next().unwrap().contains("CATEGORY"), "{out}");

    let (_, out, _) = desk.cli(&["tickets", "list", "--category", "printer"]);
    assert_eq!(listed(&out), vec!["HD-1"], "{out}");
    let (_, out, _) = desk.cli(&["tickets", "list", "--category", "PRINTER,network"]);
    assert_eq!(listed(&out), vec!["HD-2", "HD-1"], "{out}");
    // Round-robin gave both to the one technician.
    let (_, out, _) = desk.cli(&["tickets", "list", "--status", "active", "--owner", "andi"]);
    assert_eq!(listed(&out).len(), 2, "{out}");
    let (_, out, _) = desk.cli(&["tickets", "list", "--owner", "none"]);
    assert!(listed(&out).is_empty(), "{out}");
    let (_, out, _) = desk.cli(&["tickets", "list", "--status", "closed"]);
    assert!(listed(&out).is_empty(), "{out}");
    let (_, out, _) = desk.cli(&["tickets", "list", "--older-than", "3d"]);
    assert!(listed(&out).is_empty(), "just created: {out}");
    let (_, out, err) = desk.cli(&["tickets", "list", "--limit", "1"]);
    assert_eq!(listed(&out), vec!["HD-2"], "{out}");
    assert!(err.contains("--limit"), "{err}");
    let (_, out, _) = desk.cli(&["tickets", "list", "--priority", "p3"]);
    assert_eq!(listed(&out).len(), 2, "the default priority: {out}");

    for (args, named) in [
        (vec!["--priority", "P9"], "--priority `P9`"),
        (vec!["--status", "dibuka"], "--status `dibuka`"),
        (vec!["--owner", "Zaki"], "--owner `Zaki`"),
        (vec!["--older-than", "lama"], "--older-than"),
    ] {
        let mut all = vec!["tickets", "list"];
        all.extend(args);
        let (code, _, err) = desk.cli(&all);
        assert_ne!(code, 0);
        assert!(err.contains(named), "{named}: {err}");
    }
}

#[test]
fn tickets_show_tells_the_whole_story_in_order() {
    let desk = Desk::seeded("");
    let (code, out, err) = desk.cli(&["tickets", "show", "HD-1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("HD-1: Printer lantai 3 rusak"), "{out}");
    assert!(
        out.contains("category:   printer (Printer & scanner)"),
        "{out}"
    );
    assert!(out.contains("SLA:\n  response:   due "), "{out}");
    assert!(out.contains("  resolution: due "), "{out}");
    let pos = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing in:\n{out}"))
    };
    // The request, what it caused, the mails it sent, then the reply.
    assert!(pos("<- mail request") < pos("** created"), "{out}");
    assert!(pos("** created") < pos("** assigned"), "{out}");
    assert!(pos("** assigned") < pos("-> mail ack"), "{out}");
    assert!(pos("-> mail ack") < pos("-> mail tech_new"), "{out}");
    assert!(pos("-> mail tech_new") < pos("<- mail reply"), "{out}");
    assert!(out.contains("owner:      andi@example.test"), "{out}");
    assert!(out.contains("| Sudah saya coba ganti toner"), "{out}");

    let (code, _, err) = desk.cli(&["tickets", "show", "HD-99"]);
    assert_ne!(code, 0);
    assert!(err.contains("no ticket HD-99"), "{err}");
}

#[test]
fn search_finds_words_in_subjects_and_bodies() {
    let desk = Desk::seeded("");
    let (code, out, err) = desk.cli(&["search", "printer", "lantai", "3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        listed(&format!("\n{out}")).first().map(String::as_str),
        Some("HD-1"),
        "{out}"
    );
    assert!(
        out.contains("[Printer]") || out.contains("[printer]"),
        "{out}"
    );
    assert!(!out.contains("HD-2"), "{out}");

    // A word from a reply's body, and a prefix.
    let (_, out, _) = desk.cli(&["search", "toner"]);
    assert!(out.starts_with("HD-1 "), "{out}");
    assert!(out.contains("[toner]"), "{out}");
    let (_, out, _) = desk.cli(&["search", "konek*"]);
    assert!(out.starts_with("HD-2 "), "{out}");
    // One line per ticket even when several of its mails match.
    let (_, out, _) = desk.cli(&["search", "printer"]);
    assert_eq!(out.matches("HD-1 ").count(), 1, "{out}");
    // Words only Loket's own acknowledgement contains are not searched.
    let (code, out, err) = desk.cli(&["search", "HD-1", "tiket"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no ticket matches"), "{err}");
    // Punctuation and FTS5 operators are text, not syntax errors.
    let (code, _, err) = desk.cli(&["search", "\"(printer", "AND", "NEAR"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = desk.cli(&["search", "--raw", "printer NOT vpn"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = desk.cli(&["search", "--raw", "\"unbalanced"]);
    assert_ne!(code, 0);
    assert!(err.contains("FTS5"), "{err}");

    // Rebuilding the index: progress as plain lines (no terminal here), then the same results.
    let (code, out, err) = desk.cli(&["search", "--rebuild"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("search index: 100% (3/3 messages)"), "{err}");
    assert!(err.contains("3 messages indexed"), "{err}");
    assert!(!err.contains('\r'), "{err:?}");
    let (_, out, _) = desk.cli(&["search", "toner"]);
    assert!(out.starts_with("HD-1 "), "{out}");
}

#[test]
fn stats_counts_the_store() {
    let desk = Desk::seeded("");
    let (code, _, _) = desk.cli_in(&["ingest"], Some(b"\x00\x01 not mail"));
    assert_eq!(code, 65);
    let (code, out, err) = desk.cli(&["stats"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "tickets: 2\n",
        "    open ",
        "    printer ",
        "    network ",
        // Two acknowledgements, two new-ticket notes and a reply relayed to the technician.
        "messages: 3 in, 5 out",
        "outbox: 5 waiting, 0 sent, 0 failed (oldest waiting since ",
        "quarantine: 1\n",
        "database: ",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
}

#[test]
fn backup_copies_the_database_and_the_copy_works() {
    let desk = Desk::seeded("");
    let copy = desk.dir.path().join("backups/copy.db");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let c = copy.to_string_lossy().into_owned();
    let (code, out, err) = desk.cli(&["backup", &c]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("schema version"), "{out}");
    assert!(err.contains("backup: 100% ("), "{err}");
    assert!(err.contains("pages copied"), "{err}");

    // A second backup to the same file needs --force.
    let (code, _, err) = desk.cli(&["backup", &c]);
    assert_ne!(code, 0);
    assert!(err.contains("--force"), "{err}");
    let (code, _, err) = desk.cli(&["backup", "--force", &c]);
    assert_eq!(code, 0, "{err}");

    // The copy is a working Loket database.
    let config = desk.dir.path().join("restored.toml");
    write_config(&config, &copy, "");
    let (code, out, err) = run_loket(
        &["tickets", "list", "--config", &config.to_string_lossy()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed(&out), vec!["HD-2", "HD-1"], "{out}");
    let (_, out, _) = run_loket(
        &["search", "toner", "--config", &config.to_string_lossy()],
        None,
    );
    assert!(out.starts_with("HD-1 "), "{out}");
}

#[test]
fn migrate_applies_reports_and_refuses_a_newer_database() {
    let desk = Desk::new("");
    let (code, out, err) = desk.cli(&["migrate"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied 0001_init"), "{out}");
    assert!(out.contains("schema version 0 -> "), "{out}");
    let (code, out, _) = desk.cli(&["migrate"]);
    assert_eq!(code, 0);
    assert!(out.contains("up to date"), "{out}");

    let conn = rusqlite::Connection::open(desk.db()).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    for args in [vec!["migrate"], vec!["tickets", "list"], vec!["stats"]] {
        let (code, _, err) = desk.cli(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(
            err.contains("schema version 999, newer than this binary"),
            "{args:?}: {err}"
        );
    }
    // A backup still works: it copies the database as it is.
    let copy = desk.dir.path().join("copy.db");
    let (code, out, err) = desk.cli(&["backup", &copy.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("schema version 999"), "{out}");
}

#[test]
fn every_command_explains_itself_with_examples() {
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["tickets", "list", "--help"],
        vec!["tickets", "show", "--help"],
        vec!["search", "--help"],
        vec!["stats", "--help"],
        vec!["quarantine", "--help"],
        vec!["quarantine", "list", "--help"],
        vec!["quarantine", "show", "--help"],
        vec!["quarantine", "release", "--help"],
        vec!["backup", "--help"],
        vec!["migrate", "--help"],
        vec!["run", "--help"],
    ] {
        let (code, out, err) = run_loket(&args, None);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Example"), "{args:?}:\n{out}");
    }
    let (_, out, _) = run_loket(&["tickets", "list", "--help"], None);
    assert!(out.contains("--older-than"), "{out}");
}

#[test]
fn json_logging_writes_one_object_per_line() {
    let desk = Desk::new("\n[logging]\nformat = \"json\"\n");
    let raw = b"From: <rina@example.test>\r\nTo: <helpdesk@example.test>\r\nSubject: Monitor\r\n\
                Message-ID: <json-1@client.example.test>\r\n\r\nMati.\r\n";
    let config = desk.config.to_string_lossy().into_owned();
    let (code, out, err) = run_loket_env(
        &["ingest", "--config", &config],
        Some(raw),
        &[("LOKET_LOG", "info")],
    );
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty(), "migrations are logged on a new database");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v.get("level").is_some() && v.get("fields").is_some(),
            "{line}"
        );
    }
}

#[test]
fn config_errors_name_the_key() {
    let desk = Desk::new("\n[metrics]\nlisten = \"0.0.0.0:9187\"\n");
    let (code, _, err) = desk.cli(&["stats"]);
    assert_ne!(code, 0);
    assert!(err.contains("metrics.listen"), "{err}");
    let desk = Desk::new("\n[logging]\nformat = \"xml\"\n");
    let (code, _, err) = desk.cli(&["tickets", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("format") && err.contains("xml"), "{err}");
}

#[test]
fn daemon_serves_metrics_on_loopback_while_mail_servers_are_down() {
    let port = free_port();
    let desk = Desk::seeded(&format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["run", "--config"])
        .arg(&desk.config)
        .env_remove("LOKET_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting loket run");
    let started = Instant::now();
    let metrics = loop {
        if let Some(text) = http_get(port, "/metrics") {
            break text;
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().ok();
            panic!("no metrics endpoint on port {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let health = http_get(port, "/healthz").unwrap_or_default();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .ok();
    let stopped = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !stopped {
        child.kill().ok();
    }
    child.wait().ok();
    assert!(stopped, "loket run did not stop on SIGTERM");

    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
    assert!(
        metrics.contains("loket_tickets{status=\"open\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("loket_messages_ingested_total 3\n"),
        "{metrics}"
    );
    assert!(metrics.contains("loket_outbox_waiting "), "{metrics}");
    assert!(
        metrics.contains("loket_quarantine_messages 0\n"),
        "{metrics}"
    );
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
}

/// Like [`run_loket`], with standard output as bytes (for `quarantine show --raw`).
fn run_loket_bytes(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(args)
        .env_remove("LOKET_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("running loket");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quarantine_lists_shows_and_releases_after_the_limit_is_raised() {
    let desk = Desk::new("\n[limits]\nmax_message_bytes = 4096\nmax_header_bytes = 4096\n");
    let config = desk.config.to_string_lossy().into_owned();
    // Not mail: kept with its bytes, the MTA told so.
    let junk: &[u8] = b"\x00\x01\x1b[2J not mail \xff\xfe";
    let (code, out, err) = desk.cli_in(&["ingest"], Some(junk));
    assert_eq!(code, 65, "{out}{err}");
    // Too large for the limit, with a terminal escape in its Subject.
    let big = format!(
        "From: Rina <rina@example.test>\r\nTo: <{HELPDESK}>\r\nSubject: Scan KTP \x1b[31mmerah\r\n\
         Message-ID: <scan-1@client.example.test>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0700\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        "Lampiran hasil scan KTP saya. ".repeat(200)
    );
    let (code, out, err) = desk.cli_in(&["ingest"], Some(big.as_bytes()));
    assert_eq!(code, 0, "{err}");
    let kib = format!("{:.1} KiB", big.len() as f64 / 1024.0);
    assert!(out.contains("quarantined: message too large"), "{out}");

    // Newest first, one line each.
    let (code, out, err) = desk.cli(&["quarantine", "list"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed(&out), vec!["2", "1"], "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID ") && lines[0].ends_with("REASON"),
        "{out}"
    );
    assert!(
        lines[1].contains("ingest")
            && lines[1].contains(&kib)
            && lines[1].contains("scan-1@client.example.test")
            && lines[1].contains("message too large"),
        "{out}"
    );
    assert!(lines[2].contains("not an e-mail"), "{out}");
    let (_, out, _) = desk.cli(&["quarantine", "list", "--limit", "1"]);
    assert_eq!(listed(&out), vec!["2"], "{out}");

    // show: the row and the headers as written, the escape made visible.
    let (code, out, err) = desk.cli(&["quarantine", "show", "2"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "quarantined message 2\n",
        &format!("  size:        {kib} ({} bytes)\n", big.len()),
        "  message-id:  scan-1@client.example.test\n",
        "  reason:      message too large",
        "  state:       held\n",
        "  From:        Rina <rina@example.test>\n",
        "  Subject:     Scan KTP \\x1b[31mmerah\n",
        "  Date:        Mon, 23 Nov 2026 09:00:00 +0700\n",
        "loket quarantine release 2",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
    assert!(
        !out.contains('\x1b'),
        "a raw escape reached the terminal:\n{out}"
    );
    let (_, out, _) = desk.cli(&["quarantine", "show", "1"]);
    assert!(out.contains("  From:        (none)\n"), "{out}");
    assert!(!out.contains('\x1b') && !out.contains('\0'), "{out}");

    // --raw: the exact bytes, also when they are not text.
    for (id, bytes) in [("2", big.as_bytes()), ("1", junk)] {
        let (code, out, err) =
            run_loket_bytes(&["quarantine", "show", id, "--raw", "--config", &config]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, bytes, "message {id}");
    }
    let (code, _, err) = desk.cli(&["quarantine", "show", "9"]);
    assert_ne!(code, 0);
    assert!(err.contains("no quarantined message 9"), "{err}");

    // Released while still too large: said clearly, nothing changes.
    let (code, out, err) = desk.cli(&["quarantine", "release", "2"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("quarantined: message too large"), "{out}");
    assert!(
        err.contains("stays held, unchanged") && err.contains("raise that limit"),
        "{err}"
    );
    let (_, out, _) = desk.cli(&["quarantine", "list"]);
    assert_eq!(listed(&out), vec!["2", "1"], "{out}");
    let (_, out, _) = desk.cli(&["tickets", "list"]);
    assert!(listed(&out).is_empty(), "{out}");

    // The limit raised: the release makes the ticket and the row says so.
    write_config(&desk.config, &desk.db(), "");
    let (code, out, err) = desk.cli(&["quarantine", "release", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created ticket 1"), "{out}");
    let (_, out, _) = desk.cli(&["tickets", "list"]);
    assert_eq!(listed(&out), vec!["HD-1"], "{out}");
    let (_, out, _) = desk.cli(&["tickets", "show", "HD-1", "--full"]);
    assert!(out.contains("Lampiran hasil scan KTP saya."), "{out}");
    assert!(
        out.contains("quarantined message 2 released as HD-1"),
        "{out}"
    );

    let (_, out, err) = desk.cli(&["quarantine", "list"]);
    assert_eq!(listed(&out), vec!["1"], "{out}");
    assert!(
        err.contains("1 released not shown; --all shows them"),
        "{err}"
    );
    let (_, out, _) = desk.cli(&["quarantine", "list", "--all"]);
    assert_eq!(listed(&out), vec!["2", "1"], "{out}");
    assert!(
        out.contains("[released as HD-1] message too large"),
        "{out}"
    );
    let (_, out, _) = desk.cli(&["quarantine", "show", "2"]);
    assert!(
        out.contains("  state:       released ") && out.contains(" as HD-1\n"),
        "{out}"
    );

    // Once only; and what is not mail stays where it is.
    let (code, _, err) = desk.cli(&["quarantine", "release", "2"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("already released") && err.contains("HD-1"),
        "{err}"
    );
    let (code, out, err) = desk.cli(&["quarantine", "release", "1"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("quarantined: not an e-mail"), "{out}");
    let (_, out, _) = desk.cli(&["tickets", "list"]);
    assert_eq!(listed(&out), vec!["HD-1"], "{out}");
}

#[cfg(unix)]
#[test]
fn report_and_digest_preview_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let desk = Desk::seeded("");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let report = desk.dir.path().join("hd-2026-11.csv");
    let (code, _, err) = desk.cli(&[
        "report",
        "--month",
        "2026-11",
        "--out",
        &report.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&report), 0o600);
    let html = desk.dir.path().join("digest.html");
    let (code, _, err) = desk.cli(&["digest", "--preview", "--out", &html.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&html).unwrap().contains("<html"));
    assert_eq!(mode(&html), 0o600);
}
