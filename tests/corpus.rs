//! Walks the shared mail corpus through `inbound::parse`: no file may panic, every file ends in a
//! defined outcome (parsed or refused), and the helpdesk fixtures parse to what the rest of Loket
//! relies on. Run with `-- --nocapture` to see the outcome table.
//!
//! The corpus is `tests/corpus` (a copy of the shared `../shared/corpus`, so a clean clone has it),
//! or `$LOKET_CORPUS`. A missing or thin
//! corpus fails the test instead of skipping it: a robustness test that silently runs on nothing
//! proves nothing.

use std::collections::BTreeMap;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use loket::inbound::parse::{Refusal, parse};
use loket::inbound::{AutoKind, Inbound};

const MIN_EML_FILES: usize = 100;

fn corpus_dir() -> PathBuf {
    match std::env::var_os("LOKET_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"),
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                .path()
        })
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn is_eml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("eml"))
}

enum Outcome {
    Parsed(Box<Inbound>),
    Refused(Refusal),
    Panicked(String),
}

struct Case {
    /// Path relative to the corpus root, with '/' separators.
    rel: String,
    raw: Vec<u8>,
    outcome: Outcome,
}

impl Case {
    fn folder(&self) -> &str {
        self.rel.rsplit_once('/').map_or(".", |(folder, _)| folder)
    }
}

fn run_corpus() -> Vec<Case> {
    let root = corpus_dir();
    assert!(
        root.is_dir(),
        "mail corpus not found at {} (set LOKET_CORPUS to its location)",
        root.display()
    );
    let mut files = Vec::new();
    walk(&root, &mut files);
    let eml_count = files.iter().filter(|f| is_eml(f)).count();
    assert!(
        eml_count >= MIN_EML_FILES,
        "mail corpus at {} holds only {eml_count} .eml files, expected at least {MIN_EML_FILES}",
        root.display()
    );

    files
        .into_iter()
        .map(|path| {
            let raw =
                fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let rel = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let outcome = match catch_unwind(AssertUnwindSafe(|| parse(&raw))) {
                Ok(Ok(inbound)) => Outcome::Parsed(Box::new(inbound)),
                Ok(Err(refusal)) => Outcome::Refused(refusal),
                Err(payload) => Outcome::Panicked(
                    payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default(),
                ),
            };
            Case { rel, raw, outcome }
        })
        .collect()
}

#[derive(Default)]
struct Row {
    files: usize,
    parsed: usize,
    refused: usize,
    panicked: usize,
    person: usize,
    auto_reply: usize,
    bulk: usize,
    bounce: usize,
    no_reply: usize,
}

fn print_table(cases: &[Case]) {
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for case in cases {
        let row = rows.entry(case.folder()).or_default();
        row.files += 1;
        match &case.outcome {
            Outcome::Parsed(m) => {
                row.parsed += 1;
                match m.auto {
                    AutoKind::Person => row.person += 1,
                    AutoKind::AutoReply => row.auto_reply += 1,
                    AutoKind::Bulk => row.bulk += 1,
                    AutoKind::Bounce => row.bounce += 1,
                    AutoKind::NoReply => row.no_reply += 1,
                }
            }
            Outcome::Refused(_) => row.refused += 1,
            Outcome::Panicked(_) => row.panicked += 1,
        }
    }

    println!(
        "{:<45} {:>5} {:>6} {:>7} {:>6} {:>6} {:>9} {:>4} {:>6} {:>7}",
        "folder",
        "files",
        "parsed",
        "refused",
        "panic",
        "person",
        "autoreply",
        "bulk",
        "bounce",
        "noreply"
    );
    let mut total = Row::default();
    for (folder, row) in &rows {
        println!(
            "{:<45} {:>5} {:>6} {:>7} {:>6} {:>6} {:>9} {:>4} {:>6} {:>7}",
            folder,
            row.files,
            row.parsed,
            row.refused,
            row.panicked,
            row.person,
            row.auto_reply,
            row.bulk,
            row.bounce,
            row.no_reply
        );
        total.files += row.files;
        total.parsed += row.parsed;
        total.refused += row.refused;
        total.panicked += row.panicked;
        total.person += row.person;
        total.auto_reply += row.auto_reply;
        total.bulk += row.bulk;
        total.bounce += row.bounce;
        total.no_reply += row.no_reply;
    }
    println!(
        "{:<45} {:>5} {:>6} {:>7} {:>6} {:>6} {:>9} {:>4} {:>6} {:>7}",
        "TOTAL",
        total.files,
        total.parsed,
        total.refused,
        total.panicked,
        total.person,
        total.auto_reply,
        total.bulk,
        total.bounce,
        total.no_reply
    );
    for case in cases {
        if let Outcome::Refused(refusal) = &case.outcome {
            println!("refused {}: {refusal}", case.rel);
        }
    }
}

fn parsed<'a>(cases: &'a [Case], rel: &str) -> &'a Inbound {
    let case = cases
        .iter()
        .find(|c| c.rel == rel)
        .unwrap_or_else(|| panic!("{rel} is missing from the corpus"));
    match &case.outcome {
        Outcome::Parsed(m) => m,
        Outcome::Refused(r) => panic!("{rel} was refused: {r}"),
        Outcome::Panicked(p) => panic!("{rel} panicked: {p}"),
    }
}

#[test]
fn corpus_parses_without_panics_and_meets_expectations() {
    let cases = run_corpus();
    print_table(&cases);

    let panicked: Vec<String> = cases
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Panicked(msg) => Some(format!("{}: {msg}", c.rel)),
            _ => None,
        })
        .collect();
    assert!(panicked.is_empty(), "parse panicked on: {panicked:#?}");

    check_invariants(&cases);
    check_refusals(&cases);
    check_helpdesk(&cases);
    check_delivery_reports(&cases);
    check_hash_survives_redelivery(&cases);
    check_charsets(&cases);
}

/// Multi-byte charsets (mail-parser's `full_encoding`), named HTML entities and the name of an
/// attached message: subject, sender, a phrase of the body and the attachment's name, as
/// written (issue 21).
fn check_charsets(cases: &[Case]) {
    let table = [
        (
            "gb2312",
            "打印机坏了",
            "张伟",
            "三楼的打印机不能打印了",
            "报告.txt",
        ),
        (
            "gbk",
            "邮箱无法登录",
            "李娜",
            "我的邮箱从昨天开始无法登录",
            "截图.txt",
        ),
        (
            "big5",
            "印表機故障",
            "陳美玲",
            "三樓的印表機無法列印",
            "報告.txt",
        ),
        (
            "shift_jis",
            "プリンターが故障しました",
            "山田太郎",
            "三階のプリンターが印刷できません",
            "報告書.txt",
        ),
        (
            "euc-jp",
            "パスワードを忘れました",
            "佐藤花子",
            "メールのパスワードを忘れてしまいました",
            "手順.txt",
        ),
        (
            "iso-2022-jp",
            "会議室のプロジェクター",
            "鈴木一郎",
            "会議室のプロジェクターが映りません",
            "写真.txt",
        ),
        (
            "euc-kr",
            "프린터가 고장났습니다",
            "김민수",
            "삼층 프린터가 인쇄되지 않습니다",
            "보고서.txt",
        ),
    ];
    for (charset, subject, sender, phrase, attachment) in table {
        let m = parsed(cases, &format!("charsets/{charset}.eml"));
        assert_eq!(m.subject, subject, "{charset} subject");
        let from = m.from.as_ref().expect("a sender");
        assert_eq!(from.name.as_deref(), Some(sender), "{charset} sender");
        assert!(m.text.contains(phrase), "{charset} body: {:?}", m.text);
        let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, [attachment], "{charset} attachment name");
        let data = String::from_utf8_lossy(&m.attachments[0].data);
        assert!(data.contains(phrase), "{charset} attachment text: {data:?}");
    }

    let html = parsed(cases, "charsets/html-named-entities.eml");
    assert_eq!(
        html.from.as_ref().and_then(|a| a.name.as_deref()),
        Some("Jürgen Müller")
    );
    assert!(html.text.contains("Grüße aus Köln"), "{:?}", html.text);
    assert!(
        html.text
            .contains("im Büro druckt nicht \u{2014} bitte prüfen"),
        "{:?}",
        html.text
    );

    let forwarded = parsed(cases, "charsets/attached-message-named.eml");
    let names: Vec<&str> = forwarded
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["x.txt"],
        "the sender's name for an attached message is kept"
    );
}

/// What every parsed message promises downstream, whatever the input looked like.
fn check_invariants(cases: &[Case]) {
    for case in cases {
        let Outcome::Parsed(m) = &case.outcome else {
            continue;
        };
        let rel = &case.rel;
        assert!(
            !m.subject.chars().any(char::is_control),
            "{rel}: control char in subject {:?}",
            m.subject
        );
        assert_eq!(m.subject, m.subject.trim(), "{rel}: subject not trimmed");
        assert!(!m.message_id.is_empty(), "{rel}: empty message id");
        assert!(
            !m.message_id.contains(['<', '>']) && !m.message_id.chars().any(char::is_whitespace),
            "{rel}: message id not clean: {:?}",
            m.message_id
        );
        if m.synthetic_message_id {
            assert!(m.message_id.ends_with("@loket.invalid"), "{rel}");
        }
        assert_eq!(m.content_hash.len(), 64, "{rel}");
        assert!(
            m.content_hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{rel}"
        );
        assert_eq!(m.raw_size, case.raw.len(), "{rel}");
        for a in m.from.iter().chain(&m.reply_to).chain(&m.to).chain(&m.cc) {
            assert!(a.email.contains('@'), "{rel}: {a:?}");
            assert_eq!(a.email, a.email.to_lowercase(), "{rel}: {a:?}");
            if let Some(name) = &a.name {
                assert!(
                    !name.is_empty() && !name.chars().any(char::is_control),
                    "{rel}: {a:?}"
                );
            }
        }
        assert!(
            !m.text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{rel}: control char in text"
        );
        for att in &m.attachments {
            assert!(
                !att.name.is_empty() && !att.name.chars().any(char::is_control),
                "{rel}: {:?}",
                att.name
            );
            assert!(
                att.content_type.contains('/'),
                "{rel}: {:?}",
                att.content_type
            );
        }
        if m.auto != AutoKind::Bounce {
            assert!(
                m.bounce_refs.is_empty(),
                "{rel}: bounce refs on a non-bounce"
            );
        }
    }
}

/// Refused means "clearly not a mail". In this corpus that is: the licence and README files, the
/// empty file, and the bare MIME fragments of the Dovecot/RFC test sets that carry no message
/// field at all (only Content-Type/MIME-Version). None of the ruby-mail error_emails is refused:
/// each has at least From or Subject, so each is broken mail, not non-mail.
fn check_refusals(cases: &[Case]) {
    for case in cases {
        let is_eml = is_eml(Path::new(&case.rel));
        match &case.outcome {
            Outcome::Refused(refusal) => {
                assert!(
                    matches!(refusal, Refusal::NotMail(_)),
                    "{}: refused for another reason than not-mail: {refusal}",
                    case.rel
                );
                assert!(
                    !is_eml
                        || case.rel.starts_with("real-world/dovecot/")
                        || case.rel.starts_with("real-world/rfc-examples/"),
                    "{}: a real mail was refused: {refusal}",
                    case.rel
                );
            }
            Outcome::Parsed(_) => {
                assert!(is_eml, "{}: a non-mail file was accepted as mail", case.rel);
            }
            Outcome::Panicked(_) => {}
        }
    }

    let error_emails: Vec<&Case> = cases
        .iter()
        .filter(|c| c.rel.starts_with("real-world/ruby-mail/error_emails/"))
        .collect();
    assert!(
        !error_emails.is_empty(),
        "ruby-mail error_emails missing from the corpus"
    );
    for case in error_emails {
        assert!(
            matches!(case.outcome, Outcome::Parsed(_)),
            "{} should parse",
            case.rel
        );
    }

    let fragment = parsed_or_refused(cases, "real-world/dovecot/malformed/000.eml");
    assert!(
        matches!(fragment, Outcome::Refused(Refusal::NotMail(_))),
        "MIME fragment must be refused"
    );
}

fn parsed_or_refused<'a>(cases: &'a [Case], rel: &str) -> &'a Outcome {
    &cases
        .iter()
        .find(|c| c.rel == rel)
        .unwrap_or_else(|| panic!("{rel} is missing from the corpus"))
        .outcome
}

fn check_helpdesk(cases: &[Case]) {
    let ooo = parsed(cases, "helpdesk/ooo-exchange-id.eml");
    assert_eq!(ooo.auto, AutoKind::AutoReply);
    assert_eq!(ooo.in_reply_to, ["loket.1090.3.d4e1@example.co.id"]);

    let bounce = parsed(cases, "helpdesk/bounce-postfix.eml");
    assert_eq!(
        bounce.auto,
        AutoKind::Bounce,
        "a DSN wins over its Auto-Submitted header"
    );
    // The Message-ID of our acknowledgement, as quoted in the text/rfc822-headers part.
    assert!(
        bounce
            .bounce_refs
            .iter()
            .any(|id| id == "loket.1101.1.e9f0@example.co.id"),
        "bounce refs: {:?}",
        bounce.bounce_refs
    );
    assert!(bounce.text.contains("User unknown"));

    let request = parsed(cases, "helpdesk/new-request-attachment.eml");
    assert_eq!(request.auto, AutoKind::Person);
    let from = request.from.as_ref().expect("new request has a sender");
    assert_eq!(from.email, "siti.nurhaliza@example.co.id");
    // The encoded name ends in a zero-width space, which must not survive.
    assert_eq!(from.name.as_deref(), Some("Siti Nurhaliza"));
    assert_eq!(request.cc.len(), 1);
    assert_eq!(request.cc[0].email, "kepala.bagian@example.co.id");
    assert_eq!(
        request.subject,
        "Permohonan akses VPN \u{2013} kerja dari rumah"
    );
    assert_eq!(request.attachments.len(), 1);
    let pdf = &request.attachments[0];
    assert_eq!(pdf.name, "Formulir Akses VPN \u{2013} Siti.pdf");
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.data.starts_with(b"%PDF-"));
    assert!(request.text.starts_with("Selamat pagi Tim IT,"));

    let hostile = parsed(cases, "helpdesk/hostile-names.eml");
    assert!(
        !hostile.subject.contains(['\r', '\n']),
        "subject: {:?}",
        hostile.subject
    );
    assert!(hostile.subject.starts_with("Tolong Bcc: all@example.co.id"));
    let evil = hostile.from.as_ref().expect("hostile message has a sender");
    assert_eq!(evil.email, "attacker@example.org");
    assert!(
        !evil
            .name
            .as_deref()
            .unwrap_or_default()
            .contains(['\r', '\n'])
    );
    assert_eq!(
        hostile.text, "Halo",
        "script content must not reach the ticket text"
    );
    assert_eq!(hostile.attachments.len(), 1);
    // Made safe at parse time (parse::safe_file_name): no separator is left, so whoever saves it
    // under this name stays in the folder they chose.
    assert_eq!(hostile.attachments[0].name, "_.._.._etc_cron.d_evil");

    let gmail = parsed(cases, "helpdesk/gmail-reply-id.eml");
    assert_eq!(gmail.auto, AutoKind::Person);
    assert_eq!(gmail.in_reply_to, ["loket.1077.2.c11d@example.co.id"]);
    assert_eq!(
        gmail.references,
        [
            "loket.1077.1.b2aa@example.co.id",
            "loket.1077.2.c11d@example.co.id"
        ]
    );
    assert!(
        gmail.text.starts_with("Masih macet mas"),
        "text/plain preferred over HTML"
    );

    let outlook = parsed(cases, "helpdesk/outlook-reply-id.eml");
    assert_eq!(outlook.auto, AutoKind::Person);
    assert_eq!(outlook.in_reply_to, ["loket.1042.1.a8f3@example.co.id"]);
    assert_eq!(outlook.subject, "RE: [HD-1042] Tidak bisa login SAP");
    assert_eq!(
        outlook.date.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-11-17T02:14:22+00:00")
    );
}

/// Every ruby-mail multipart/report that declares report-type=delivery-status is a Bounce and
/// names the message it bounced.
fn check_delivery_reports(cases: &[Case]) {
    let reports: Vec<&Case> = cases
        .iter()
        .filter(|c| {
            c.rel
                .starts_with("real-world/ruby-mail/multipart_report_emails/")
        })
        .filter(|c| declares_delivery_status(&c.raw))
        .collect();
    assert!(
        reports.len() >= 5,
        "expected the ruby-mail delivery reports, found {}",
        reports.len()
    );
    for case in reports {
        let m = parsed(cases, &case.rel);
        assert_eq!(m.auto, AutoKind::Bounce, "{}", case.rel);
        assert!(!m.bounce_refs.is_empty(), "{}: no bounce refs", case.rel);
    }
}

/// Independent of the parser: does the raw text carry report-type=delivery-status?
fn declares_delivery_status(raw: &[u8]) -> bool {
    let squeezed: Vec<u8> = raw
        .iter()
        .filter(|b| !b.is_ascii_whitespace() && **b != b'"')
        .map(u8::to_ascii_lowercase)
        .collect();
    squeezed
        .windows(27)
        .any(|w| w == b"report-type=delivery-status")
}

/// A second delivery of the same bytes, with CRLF line ends and fresh trace headers on top,
/// must hash the same: that is what duplicate detection relies on.
fn check_hash_survives_redelivery(cases: &[Case]) {
    let mut checked = 0;
    for case in cases {
        let Outcome::Parsed(m) = &case.outcome else {
            continue;
        };
        if case.raw.first().is_some_and(|b| b.is_ascii_whitespace()) {
            // A leading continuation line would attach to the prepended header.
            continue;
        }
        let mut redelivered = b"Return-Path: <x@example.org>\r\nReceived: from mx by mail;\r\n\
            \tFri, 20 Nov 2026 09:00:00 +0700\r\nX-Spam-Status: No, score=0.1\r\n"
            .to_vec();
        let mut previous = 0u8;
        for &b in &case.raw {
            if b == b'\n' && previous != b'\r' {
                redelivered.push(b'\r');
            }
            redelivered.push(b);
            previous = b;
        }
        let again =
            parse(&redelivered).unwrap_or_else(|r| panic!("{}: redelivery refused: {r}", case.rel));
        assert_eq!(m.content_hash, again.content_hash, "{}", case.rel);
        assert_eq!(m.message_id, again.message_id, "{}", case.rel);
        checked += 1;
    }
    assert!(
        checked >= MIN_EML_FILES,
        "only {checked} messages checked for hash stability"
    );
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every corpus file through the whole inbound path (parse, dedupe, thread, decide, store,
/// outbox) against one in-memory store, in corpus order, so later files thread against what
/// earlier ones created. Each ends in a defined outcome; none panics; every quarantined file
/// keeps its raw bytes; a second delivery of the whole corpus stores nothing twice.
#[test]
fn corpus_goes_through_the_pipeline() {
    use loket::clock::{Clock, ManualClock};
    use loket::outbound::render::Renderer;
    use loket::pipeline::{self, Env, Outcome as Done, Source};
    use std::sync::Arc;

    let cfg = loket::fixtures::config("helpdesk@example.co.id", "").expect("test config");
    let clock = Arc::new(ManualClock::new(
        "2026-11-23T02:00:00Z".parse().expect("start time"),
    ));
    let env = Env {
        cfg: Arc::new(cfg),
        renderer: Arc::new(Renderer::new(None).expect("templates")),
        clock: clock.clone() as Arc<dyn Clock>,
    };
    let mut conn = loket::store::open_in_memory().expect("store");

    let cases = run_corpus();
    let mut first = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let source = Source::Imap {
            mailbox: "INBOX".into(),
            uid_validity: 1,
            uid: i as u32 + 1,
        };
        let done = catch_unwind(AssertUnwindSafe(|| {
            pipeline::process(&mut conn, &env, &case.raw, &source)
        }))
        .unwrap_or_else(|_| panic!("{}: pipeline panicked", case.rel))
        .unwrap_or_else(|e| panic!("{}: pipeline failed: {e:#}", case.rel));
        if let Outcome::Refused(_) = &case.outcome {
            assert!(
                matches!(done, Done::Quarantined { .. }),
                "{}: refused by parse but {done:?}",
                case.rel
            );
        }
        if matches!(done, Done::Quarantined { .. }) {
            let kept: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM quarantine WHERE raw = ?1",
                    [&case.raw],
                    |r| r.get(0),
                )
                .expect("query quarantine");
            assert_eq!(kept, 1, "{}: quarantined without its raw bytes", case.rel);
        }
        clock.advance(chrono::Duration::seconds(1));
        first.push(done);
    }
    let created = first
        .iter()
        .filter(|o| matches!(o, Done::Created { .. }))
        .count();
    assert!(created > 50, "only {created} tickets from the corpus");

    let ooo = cases
        .iter()
        .position(|c| c.rel == "helpdesk/ooo-exchange-id.eml")
        .expect("ooo fixture");
    assert!(
        !matches!(
            first[ooo],
            Done::Created {
                acknowledged: true,
                ..
            }
        ),
        "an out-of-office is never answered: {:?}",
        first[ooo]
    );

    // Offered again (a crash before the \Seen flag, a UIDVALIDITY reset): nothing new is stored.
    let before = [
        count(&conn, "SELECT COUNT(*) FROM tickets"),
        count(&conn, "SELECT COUNT(*) FROM messages"),
        count(&conn, "SELECT COUNT(*) FROM outbox"),
        count(&conn, "SELECT COUNT(*) FROM quarantine"),
    ];
    for (i, case) in cases.iter().enumerate() {
        let source = Source::Imap {
            mailbox: "INBOX".into(),
            uid_validity: 2,
            uid: i as u32 + 1,
        };
        let done = pipeline::process(&mut conn, &env, &case.raw, &source)
            .unwrap_or_else(|e| panic!("{}: second pass failed: {e:#}", case.rel));
        assert!(
            matches!(done, Done::Duplicate | Done::Quarantined { .. }),
            "{}: second delivery gave {done:?}",
            case.rel
        );
    }
    let after = [
        count(&conn, "SELECT COUNT(*) FROM tickets"),
        count(&conn, "SELECT COUNT(*) FROM messages"),
        count(&conn, "SELECT COUNT(*) FROM outbox"),
        count(&conn, "SELECT COUNT(*) FROM quarantine"),
    ];
    assert_eq!(
        after, before,
        "tickets, messages, outbox, quarantine after a second delivery"
    );
}

/// What `loket ingest` said about one file, as an MTA (and an administrator) sees it.
fn ingest_outcome(code: i32, stdout: &str) -> &'static str {
    match code {
        65 => "refused (exit 65, quarantined)",
        0 if stdout.starts_with("created ticket") => "ticket",
        0 if stdout.contains(" as bounce") => "bounce recorded",
        0 if stdout.starts_with("added to ticket") => "appended",
        0 if stdout.starts_with("duplicate") => "duplicate",
        0 if stdout.starts_with("quarantined") => "quarantined",
        0 if stdout.starts_with("ignored") => "ignored (loop prevention)",
        _ => "UNEXPECTED",
    }
}

/// Every corpus file through the built binary, `loket ingest` on standard input, one process
/// per file as an MTA runs it, into one fresh store: no panic (exit 101, "panicked"), no
/// temporary failure, every file a defined outcome that agrees with what the store holds.
/// `-- --nocapture` prints the outcome table (the figures in RELIABILITY.md).
#[test]
fn every_corpus_file_through_loket_ingest() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("loket.db");
    let config = dir.path().join("loket.toml");
    let text = loket::fixtures::minimal_toml("helpdesk@example.co.id")
        .replace("unused.db", &db.display().to_string());
    fs::write(&config, text).expect("config");

    let cases = run_corpus();
    let mut table: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut by_folder: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for case in &cases {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loket"))
            .args(["ingest", "--config"])
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running loket ingest");
        // A refusal may come before all of the input is read: a broken pipe is no failure.
        let _ = child.stdin.take().expect("stdin").write_all(&case.raw);
        let out = child.wait_with_output().expect("loket ingest output");
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            code != 101 && !stderr.contains("panicked"),
            "{}: loket ingest panicked:\n{stderr}",
            case.rel
        );
        let outcome = ingest_outcome(code, &stdout);
        assert_ne!(
            outcome, "UNEXPECTED",
            "{}: exit {code}\n{stdout}\n{stderr}",
            case.rel
        );
        *table.entry(outcome).or_default() += 1;
        *by_folder
            .entry(case.folder().to_string())
            .or_default()
            .entry(outcome)
            .or_default() += 1;
    }

    let outcomes = [
        "ticket",
        "appended",
        "bounce recorded",
        "duplicate",
        "quarantined",
        "refused (exit 65, quarantined)",
        "ignored (loop prevention)",
    ];
    println!("\n`loket ingest` over {} corpus files:\n", cases.len());
    println!("| folder | {} |", outcomes.join(" | "));
    println!("|{}", " --- |".repeat(outcomes.len() + 1));
    for (folder, row) in by_folder.iter().chain([(&"all".to_string(), &table)]) {
        let cells: Vec<String> = outcomes
            .iter()
            .map(|o| row.get(o).copied().unwrap_or(0).to_string())
            .collect();
        println!("| {folder} | {} |", cells.join(" | "));
    }

    assert_eq!(table.values().sum::<usize>(), cases.len());
    let conn = rusqlite::Connection::open(&db).expect("open store");
    println!("\nWhy files were kept aside (quarantine rows by reason, first 60 characters):\n");
    let mut stmt = conn
        .prepare(
            "SELECT substr(reason, 1, 60), COUNT(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC",
        )
        .expect("query");
    let reasons = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .expect("reasons");
    for row in reasons {
        let (reason, n) = row.expect("row");
        println!("| {n} | {reason} |");
    }
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM tickets"),
        table.get("ticket").copied().unwrap_or(0) as i64,
        "every \"created ticket\" is a ticket in the store"
    );
    let kept_aside = table.get("quarantined").copied().unwrap_or(0)
        + table
            .get("refused (exit 65, quarantined)")
            .copied()
            .unwrap_or(0);
    let quarantined = count(&conn, "SELECT COUNT(*) FROM quarantine") as usize;
    assert!(
        quarantined >= 1 && quarantined <= kept_aside,
        "{quarantined} quarantined rows for {kept_aside} files kept aside"
    );
    assert!(
        table.get("ticket").copied().unwrap_or(0) > 50,
        "the corpus should make many tickets: {table:?}"
    );
}
