//! The technicians' morning queue with the scheduler's clock moved by hand: once per
//! technician and working day from `morning.time`, across a restart, never on a weekend or a
//! holiday, only to technicians with something on their plate (unless asked), and with the
//! tickets at risk of a breach today.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use loket::clock::{Clock, ManualClock};
use loket::config::Config;
use loket::fixtures::minimal_toml;
use loket::pipeline::{Env, Outcome, Source, process};
use loket::store;

const STAFF: &str = r#"
[calendar]
holidays = ["2026-12-01"]
[[categories]]
name = "printer"
[[categories]]
name = "network"
[[technicians]]
email = "budi@example.test"
name = "Budi"
categories = ["printer"]
[[technicians]]
email = "sari@example.test"
name = "Sari"
categories = ["network"]
[[technicians]]
email = "wati@example.test"
name = "Wati"
categories = ["hr"]
[[rules]]
name = "printer"
subject_any = ["printer"]
category = "printer"
priority = "P2"
[[rules]]
name = "network"
subject_any = ["vpn"]
category = "network"
"#;

fn env(extra: &str, clock: &Arc<ManualClock>) -> Env {
    let cfg = Config::from_toml(
        &format!("{}{STAFF}{extra}", minimal_toml("helpdesk@example.test")),
        Path::new("t.toml"),
    )
    .expect("config");
    Env {
        cfg: Arc::new(cfg),
        renderer: loket::fixtures::renderer(),
        clock: Arc::clone(clock) as Arc<dyn Clock>,
    }
}

/// A WIB (UTC+7) wall time as UTC.
fn wib(s: &str) -> DateTime<Utc> {
    format!("{s}+07:00").parse().expect("time")
}

fn request(conn: &mut Connection, env: &Env, n: u32, subject: &str) {
    let raw = loket::fixtures::mail(
        &format!("user{n}@example.test"),
        &format!("req{n}@example.test"),
        subject,
        "Tolong dibantu.",
    );
    let outcome = process(conn, env, &raw, &Source::Stdin).expect("process");
    assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
}

/// (recipient, raw) of every morning queue queued, in order.
fn queues(conn: &Connection) -> Vec<(String, String)> {
    let mut stmt = conn
        .prepare("SELECT rcpt, raw FROM outbox WHERE kind = 'morning_queue' ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| {
        let raw: Vec<u8> = r.get(1)?;
        Ok((r.get(0)?, String::from_utf8_lossy(&raw).into_owned()))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn text(raw: &str) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("mail");
    format!(
        "{}\n{}",
        msg.subject().unwrap_or(""),
        msg.body_text(0).unwrap_or_default()
    )
}

#[test]
fn morning_queue_once_per_technician_and_working_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("loket.db");
    // Friday 27 November 2026, before the morning.
    let clock = Arc::new(ManualClock::new(wib("2026-11-27T07:00:00")));
    let env = env("", &clock);
    {
        let mut conn = store::open(&db).expect("open");
        request(&mut conn, &env, 1, "Printer lantai 2 macet");
        request(&mut conn, &env, 2, "VPN putus");
        loket::scheduler::tick(&mut conn, &env).expect("tick");
        assert!(queues(&conn).is_empty(), "before morning.time");

        clock.set(wib("2026-11-27T07:30:00"));
        loket::scheduler::tick(&mut conn, &env).expect("tick");
        let sent = queues(&conn);
        let to: Vec<&str> = sent.iter().map(|(r, _)| r.as_str()).collect();
        // Wati has nothing: no mail.
        assert_eq!(to, vec!["budi@example.test", "sari@example.test"]);
        let budi = text(&sent[0].1);
        assert!(budi.contains("HD-1") && !budi.contains("HD-2"), "{budi}");
        // A P2 printer request made at 07:00 must be answered by 09:00: at risk today.
        let risk = &budi[budi.find("Berisiko").expect("at-risk section")..];
        assert!(risk.contains("HD-1"), "{budi}");
        loket::scheduler::tick(&mut conn, &env).expect("tick");
        assert_eq!(queues(&conn).len(), 2);
    }
    // A restart later the same day sends nothing again.
    clock.set(wib("2026-11-27T15:00:00"));
    let mut conn = store::open(&db).expect("reopen");
    loket::scheduler::tick(&mut conn, &env).expect("tick");
    assert_eq!(queues(&conn).len(), 2);

    // Saturday, Sunday: no queue. Monday: one each. Tuesday 1 December is a holiday. (The
    // SLA breaches escalate Friday's tickets to L2, where nobody works: new ones each day.)
    for day in ["2026-11-28", "2026-11-29"] {
        clock.set(wib(&format!("{day}T08:00:00")));
        loket::scheduler::tick(&mut conn, &env).expect("tick");
        assert_eq!(queues(&conn).len(), 2, "{day}");
    }
    clock.set(wib("2026-11-30T07:00:00"));
    request(&mut conn, &env, 3, "Printer tinta habis");
    request(&mut conn, &env, 4, "VPN lambat");
    clock.set(wib("2026-11-30T08:00:00"));
    loket::scheduler::tick(&mut conn, &env).expect("tick");
    assert_eq!(queues(&conn).len(), 4, "Monday");
    clock.set(wib("2026-12-01T09:00:00"));
    loket::scheduler::tick(&mut conn, &env).expect("tick");
    assert_eq!(queues(&conn).len(), 4, "a holiday");
    clock.set(wib("2026-12-02T07:00:00"));
    request(&mut conn, &env, 5, "Printer kertas habis");
    request(&mut conn, &env, 6, "VPN tidak bisa login");
    clock.set(wib("2026-12-02T07:45:00"));
    loket::scheduler::tick(&mut conn, &env).expect("tick");
    assert_eq!(queues(&conn).len(), 6, "Wednesday");
    let days: Vec<String> = conn
        .prepare("SELECT DISTINCT period FROM job_runs WHERE job LIKE 'morning:%' ORDER BY period")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(days, vec!["2026-11-27", "2026-11-30", "2026-12-02"]);
}

#[test]
fn morning_queue_can_be_sent_when_empty_or_turned_off() {
    let clock = Arc::new(ManualClock::new(wib("2026-11-27T08:00:00")));
    let mut conn = store::open_in_memory().expect("store");
    let always = env(
        "[morning]\nsend_when_empty = true\ntime = \"06:00\"\n",
        &clock,
    );
    loket::scheduler::tick(&mut conn, &always).expect("tick");
    let sent = queues(&conn);
    assert_eq!(sent.len(), 3, "every technician, their queue empty");
    assert!(text(&sent[2].1).contains("(tidak ada)"));

    let clock = Arc::new(ManualClock::new(wib("2026-11-30T08:00:00")));
    let off = env("[morning]\nenabled = false\n", &clock);
    request(&mut conn, &off, 1, "Printer lantai 2 macet");
    loket::scheduler::tick(&mut conn, &off).expect("tick");
    assert_eq!(queues(&conn).len(), 3);
}
