//! A minimal, valid configuration on loopback for tests, examples and benchmarks, so each of
//! them writes only the sections it is about instead of carrying its own copy of the required
//! ones. Not used by the daemon.

use std::path::Path;

use crate::config::{Config, ConfigError};

/// The required sections, for helpdesk `address`. Tables only: TOML appended after it must
/// start with a table header of its own.
pub fn minimal_toml(address: &str) -> String {
    format!(
        r#"
[helpdesk]
address = "{address}"
[imap]
host = "127.0.0.1"
port = 1143
tls = "none"
username = "{address}"
password = "x"
[smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
[database]
path = "unused.db"
[security]
require_authenticated_commands = false   # fixture technicians send no Authentication-Results
"#
    )
}

/// `minimal_toml(address)` followed by `extra`, loaded and validated like a real config file.
pub fn config(address: &str, extra: &str) -> Result<Config, ConfigError> {
    Config::from_toml(
        &format!("{}{extra}", minimal_toml(address)),
        Path::new("fixture.toml"),
    )
}

/// The built-in templates, compiled once per test process and shared (compiling them is the
/// slow part of building an environment).
pub fn renderer() -> std::sync::Arc<crate::outbound::render::Renderer> {
    static R: std::sync::OnceLock<std::sync::Arc<crate::outbound::render::Renderer>> =
        std::sync::OnceLock::new();
    std::sync::Arc::clone(R.get_or_init(|| {
        std::sync::Arc::new(
            crate::outbound::render::Renderer::new(None).expect("the built-in templates compile"),
        )
    }))
}

/// The one number `sql` selects (a `COUNT(*)`), panicking with the statement if it fails.
pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// An environment of `cfg`, the built-in templates and `clock`.
pub fn env(cfg: Config, clock: std::sync::Arc<dyn crate::clock::Clock>) -> crate::env::Env {
    crate::env::Env {
        cfg: std::sync::Arc::new(cfg),
        renderer: renderer(),
        clock,
    }
}

/// A clock standing at `rfc3339` until the test moves it.
pub fn clock_at(rfc3339: &str) -> std::sync::Arc<crate::clock::ManualClock> {
    std::sync::Arc::new(crate::clock::ManualClock::new(
        rfc3339.parse().expect("an RFC 3339 time"),
    ))
}

/// `[[technicians]]` tables for `(email, name, level)`, all categories.
pub fn technicians(list: &[(&str, &str, u8)]) -> String {
    list.iter()
        .map(|(email, name, level)| {
            format!("[[technicians]]\nemail = \"{email}\"\nname = \"{name}\"\nlevel = {level}\n")
        })
        .collect()
}

/// A ticket as stored: #7, open, P3 at level 1, from Rina, created 23 Nov 2026 09:00 WIB.
pub fn ticket(status: crate::model::Status) -> crate::model::Ticket {
    let t0 = "2026-11-23T02:00:00Z".parse().expect("an RFC 3339 time");
    crate::model::Ticket {
        id: 7,
        subject: "Printer".into(),
        requester_email: "rina@example.test".into(),
        requester_name: None,
        status,
        priority: Some("P3".into()),
        category: None,
        level: 1,
        owner: None,
        language: "id".into(),
        parent_id: None,
        created_at: t0,
        updated_at: t0,
        first_response_at: None,
        resolved_at: None,
        closed_at: None,
        mailbox: None,
        merged_into: None,
    }
}

/// A plain mail to the helpdesk, as a mail client writes it: `from` is an address,
/// `message_id` without the angle brackets.
pub fn mail(from: &str, message_id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <helpdesk@example.test>\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0700\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// [`mail`], parsed.
pub fn inbound(from: &str, subject: &str, body: &str) -> crate::inbound::Inbound {
    crate::inbound::parse::parse(&mail(from, "m1@example.test", subject, body))
        .expect("a fixture mail parses")
}

/// [`mail`] through the whole pipeline into `conn`, as `loket ingest` takes it.
pub fn deliver(
    conn: &mut rusqlite::Connection,
    env: &crate::env::Env,
    (from, message_id): (&str, &str),
    subject: &str,
    body: &str,
) -> crate::pipeline::Outcome {
    let raw = mail(from, message_id, subject, body);
    crate::pipeline::process(conn, env, &raw, &crate::pipeline::Source::Stdin)
        .unwrap_or_else(|e| panic!("{subject}: {e:#}"))
}

/// A ticket row as `store::tickets::insert` takes it: Rina's printer, open, P3 at level 1,
/// created 14 Nov 2023 22:13 UTC; tests change the fields they are about.
pub fn new_ticket<'a>() -> crate::store::tickets::NewTicket<'a> {
    crate::store::tickets::NewTicket {
        subject: "Printer lantai 3 rusak",
        requester_email: "rina@example.test",
        requester_name: Some("Rina"),
        status: crate::model::Status::Open,
        priority: Some("P3"),
        category: None,
        level: 1,
        owner: None,
        language: "id",
        parent_id: None,
        mailbox: None,
        now: crate::store::from_ms(1_700_000_000_000),
    }
}
