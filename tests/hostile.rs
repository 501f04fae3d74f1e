//! Hostile and broken input against the real mail stack: header injection through encoded
//! names and subjects, markup in what requesters write, messages past the size limits, and
//! secrets that must never reach a log line or an error message. Each test reads back what a
//! person would get: the mail in the recipient's real mailbox, the CLI's output, the log.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Loket, Options, body_text, stack, unique};

const WAIT: Duration = Duration::from_secs(60);

/// RFC 2047 B-encoding of `text` in UTF-8, as a mail client writes a non-ASCII name.
fn encoded_word(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("=?utf-8?B?{out}?=")
}

/// The header block of a delivered mail (Dovecot keeps LF or CRLF line ends).
fn header_block(raw: &str) -> &str {
    let end = [raw.find("\r\n\r\n"), raw.find("\n\n")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(raw.len());
    &raw[..end]
}

/// The field names of a header block, lower-cased, in order.
fn field_names(head: &str) -> Vec<String> {
    head.lines()
        .filter(|l| !l.starts_with([' ', '\t']))
        .map(|l| {
            let (name, _) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("not a header field: {l:?}\n{head}"));
            name.to_ascii_lowercase()
        })
        .collect()
}

fn parsed(raw: &str) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a mail")
}

#[test]
fn encoded_line_breaks_and_controls_inject_no_header_and_no_recipient() {
    let s = stack();
    let loket = Loket::start(Options::default());
    let requester = unique("eve");
    let victim = unique("victim");
    let name = encoded_word(&format!("Eve\r\nBcc: {victim}\r\nX-Injected: yes"));
    let subject = format!(
        "{} \tand\u{0} more\rBcc: {victim}",
        encoded_word(&format!("Printer rusak\r\nBcc: {victim}\u{0}\t\u{1b}[31m"))
    );
    let raw = format!(
        "From: {name} <{requester}>\r\nTo: <{}>\r\nSubject: {subject}\r\n\
         Message-ID: <inject.{requester}>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0700\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTolong dicek.\r\n",
        loket.address
    );
    s.send_raw(&requester, &[&loket.address], raw.as_bytes());

    let ack = s.wait_mail(&requester, 1, WAIT).remove(0);
    let head = header_block(&ack);
    let names = field_names(head);
    assert!(
        !names
            .iter()
            .any(|n| n == "bcc" || n == "x-injected" || n.contains(' ')),
        "injected field in the acknowledgement:\n{head}"
    );
    for once in ["to", "subject", "from", "message-id"] {
        assert_eq!(
            names.iter().filter(|n| *n == once).count(),
            1,
            "{once}:\n{head}"
        );
    }
    assert!(
        !head.replace("\r\n", "\n").contains('\r') && !head.contains('\0'),
        "bare CR or NUL in the header block:\n{head:?}"
    );
    let msg = parsed(&ack);
    let to: Vec<&str> = msg
        .to()
        .map(|t| t.iter().filter_map(|a| a.address()).collect())
        .unwrap_or_default();
    assert_eq!(to, [requester.as_str()]);
    assert!(msg.cc().is_none() && msg.bcc().is_none(), "{head}");
    let shown = msg.subject().unwrap_or_default();
    assert!(shown.starts_with("[HD-1] "), "{shown:?}");
    assert!(
        !shown.contains(|c: char| c.is_control()),
        "control characters in the subject: {shown:?}"
    );
    assert_eq!(loket::thread::tag_in_subject(shown, "HD"), Some(1));
    let to_name = msg
        .to()
        .and_then(|t| t.first())
        .and_then(|a| a.name())
        .unwrap_or_default();
    assert!(
        !to_name.contains(|c: char| c.is_control()),
        "control characters in the name: {to_name:?}"
    );

    // Nothing went anywhere else: not in the outbox, not in the victim's mailbox.
    assert_eq!(
        loket.count("SELECT COUNT(*) FROM outbox WHERE rcpt LIKE '%victim%'"),
        0
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        s.mailbox(&victim).is_empty(),
        "the victim got mail:\n{:?}",
        s.mailbox(&victim)
    );
    assert_eq!(s.mailbox(&requester).len(), 1);
}

#[test]
fn markup_from_a_requester_is_escaped_in_every_html_part() {
    let s = stack();
    let loket = Loket::start(Options {
        language: "en",
        ..Options::default()
    });
    let requester = unique("mallory");
    let script = "<script>alert(1)</script>";
    let img = "\"><img src=x onerror=alert(2)>";
    let raw = format!(
        "From: {} <{requester}>\r\nTo: <{}>\r\nSubject: {}\r\n\
         Message-ID: <markup.{requester}>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0700\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <p>{script}{img}</p>\r\n",
        encoded_word(img),
        loket.address,
        encoded_word(&format!("{script}{img}"))
    );
    s.send_raw(&requester, &[&loket.address], raw.as_bytes());

    let ack = s.wait_mail(&requester, 1, WAIT).remove(0);
    let msg = parsed(&ack);
    let html_parts: Vec<String> = (0..msg.html_body_count())
        .filter_map(|i| msg.body_html(i).map(|h| h.into_owned()))
        .collect();
    assert!(!html_parts.is_empty(), "no HTML part:\n{ack}");
    for html in &html_parts {
        for bad in ["<script", "<img src=x", "onerror=", "\"><img"] {
            assert!(!html.contains(bad), "{bad} unescaped in\n{html}");
        }
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "the subject is not shown escaped:\n{html}"
        );
    }
    // The text part shows the subject as written: it is not HTML.
    assert!(body_text(&ack).contains(script), "{}", body_text(&ack));
}

#[test]
fn too_large_messages_are_quarantined_with_their_bytes_and_counted() {
    let s = stack();
    let loket = Loket::start(Options {
        extra: "[limits]\nmax_message_bytes = 20000\nmax_header_bytes = 8192\n".into(),
        ..Options::default()
    });
    let requester = unique("big");
    let marker = "BIGBODY-7f3a";
    let big_body: String = (0..400)
        .map(|i| format!("{marker} line {i} {}\r\n", "x".repeat(60)))
        .collect();
    let big = format!(
        "From: <{requester}>\r\nTo: <{}>\r\nSubject: huge log\r\nMessage-ID: <big.{requester}>\r\n\
         Date: Mon, 23 Nov 2026 09:00:00 +0700\r\n\r\n{big_body}",
        loket.address
    );
    s.send_raw(&requester, &[&loket.address], big.as_bytes());
    let fields: String = (0..150)
        .map(|i| format!("X-Noise-{i}: {}\r\n", "n".repeat(60)))
        .collect();
    let wide = format!(
        "From: <{requester}>\r\nTo: <{}>\r\n{fields}Subject: many fields\r\n\
         Message-ID: <wide.{requester}>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0700\r\n\r\nshort\r\n",
        loket.address
    );
    s.send_raw(&requester, &[&loket.address], wide.as_bytes());
    // A normal mail after them still gets its ticket: the limits stop nothing else.
    s.send(&requester, &loket.address, "normal", "printer", "");

    loket.wait_processed(3, WAIT);
    loket.wait_count("SELECT COUNT(*) FROM quarantine", 2, WAIT);
    let db = loket.db();
    let rows: Vec<(String, Vec<u8>)> = db
        .prepare("SELECT reason, raw FROM quarantine ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let (reason, raw) = &rows[0];
    assert!(reason.contains("limits.max_message_bytes"), "{reason}");
    let raw = String::from_utf8_lossy(raw);
    assert!(
        raw.len() > 20000 && raw.matches(marker).count() == 400,
        "raw kept whole"
    );
    let (reason, raw) = &rows[1];
    assert!(reason.contains("limits.max_header_bytes"), "{reason}");
    assert!(String::from_utf8_lossy(raw).contains("X-Noise-149: "));

    // Visible to the administrator, and in the log with the reason.
    let (code, out, err) = loket.cli(&["stats"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("quarantine: 2"), "{out}");
    let log = loket.log();
    assert!(
        log.contains("message quarantined") && log.contains("limits.max_message_bytes"),
        "{log}"
    );
    assert!(log.contains("limits.max_header_bytes"), "{log}");
    // Only the normal mail made a ticket and an acknowledgement.
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 1);
    let acks = s.wait_mail(&requester, 1, WAIT);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.mailbox(&requester).len(), 1, "{acks:?}");
}

/// A password nobody would write by chance, so finding it anywhere is a leak.
fn password(kind: &str) -> String {
    format!("{kind}-Pw-{}-q9Z!x", std::process::id())
}

#[test]
fn passwords_never_reach_logs_or_error_messages() {
    let _ = stack();
    let imap_pw = password("imap");
    let smtp_pw = password("smtp");
    let loket = Loket::configure(Options::default());
    let text = std::fs::read_to_string(&loket.config).unwrap();
    let text = text
        .replacen(
            "password = \"secret\"",
            &format!("password = \"{imap_pw}\""),
            1,
        )
        .replacen(
            "[smtp]\n",
            &format!("[smtp]\nusername = \"helpdesk\"\npassword = \"{smtp_pw}\"\n"),
            1,
        );
    std::fs::write(&loket.config, text).unwrap();

    // `loket check`: both servers refuse or cannot use the credentials; the output says so
    // without them.
    let (code, out, err) = loket.cli(&["check"], None);
    assert_ne!(code, 0, "a wrong password must fail the check\n{out}{err}");
    assert!(out.contains("imap") && out.contains("FAILED"), "{out}");
    for pw in [&imap_pw, &smtp_pw] {
        assert!(
            !out.contains(pw.as_str()) && !err.contains(pw.as_str()),
            "password in `loket check` output:\n{out}\n{err}"
        );
    }

    // `loket run` at the most talkative log level, even asked for by name for the IMAP
    // library, against the real Dovecot, until it has failed to log in a few times.
    let log_path = loket.dir.path().join("trace.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["run", "--config"])
        .arg(&loket.config)
        .env(
            "LOKET_LOG",
            "trace,async_imap=trace,async_imap::imap_stream=trace",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.matches("reconnecting").count() >= 2 || start.elapsed() > WAIT {
            break log;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    child.kill().ok();
    child.wait().ok();
    assert!(
        log.matches("reconnecting").count() >= 2,
        "loket never failed to log in:\n{log}"
    );
    let lower = log.to_ascii_lowercase();
    assert!(
        lower.contains("authenticationfailed")
            || lower.contains("authentication failed")
            || lower.contains("login"),
        "the log does not say why:\n{log}"
    );
    for pw in [&imap_pw, &smtp_pw] {
        assert!(
            !log.contains(pw.as_str()),
            "password in the trace log:\n{}",
            log.lines()
                .filter(|l| l.contains(pw.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    // And the database, with everything it keeps, is its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let db = loket.dir.path().join("loket.db");
        for suffix in ["", "-wal", "-shm"] {
            let p = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
            if suffix.is_empty() || p.exists() {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
    }
}
