//! The managers' digest and the monthly recap against a seeded store and a fixed clock: the
//! figures match the store, the scheduler sends each digest once per local date (across a
//! restart too), the chart is a real PNG the HTML refers to, and the recap has one line per
//! ticket of the month.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use rusqlite::{Connection, params};

use loket::clock::{Clock, ManualClock};
use loket::config::Config;
use loket::digest;
use loket::digest::figures::{self, Period, Scope};
use loket::digest::report::{Format, Month};
use loket::fixtures::minimal_toml;
use loket::outbound::render::Renderer;
use loket::pipeline::Env;
use loket::store;

/// What these tests add to `loket::fixtures::minimal_toml`.
const STAFF: &str = r#"
[[technicians]]
email = "budi@example.test"
name = "Budi"
categories = ["network", "printer"]
[[technicians]]
email = "sari@example.test"
name = "Sari"
categories = ["email"]
[[technicians]]
email = "wati@example.test"
name = "Wati"
categories = ["hr"]
"#;

const MANAGERS: &str = r#"
[[managers]]
email = "Kepala.IT@example.test"
name = "Ibu Kepala"
[[managers]]
email = "net@example.test"
name = "Pak Jaringan"
categories = ["network"]
"#;

fn config(extra: &str) -> Config {
    Config::from_toml(
        &format!("{}{STAFF}{extra}", minimal_toml("helpdesk@example.test")),
        Path::new("t.toml"),
    )
    .expect("config")
}

fn test_env(cfg: Config, clock: &Arc<ManualClock>) -> Env {
    Env {
        cfg: Arc::new(cfg),
        renderer: Arc::new(Renderer::new(None).expect("templates")),
        clock: Arc::clone(clock) as Arc<dyn Clock>,
    }
}

/// A WIB (UTC+7) wall time as UTC.
fn wib(s: &str) -> DateTime<Utc> {
    format!("{s}+07:00").parse().expect("time")
}

fn ms(s: &str) -> i64 {
    wib(s).timestamp_millis()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

/// One ticket row; times are WIB wall times, `None` for NULL.
#[derive(Default, Clone, Copy)]
struct T<'a> {
    id: i64,
    status: &'a str,
    priority: Option<&'a str>,
    category: Option<&'a str>,
    owner: Option<&'a str>,
    created: &'a str,
    first_response: Option<&'a str>,
    resolved: Option<&'a str>,
    closed: Option<&'a str>,
    response_due: Option<&'a str>,
    resolution_due: Option<&'a str>,
    paused: Option<&'a str>,
}

fn insert(conn: &Connection, t: T<'_>) {
    let o = |s: Option<&str>| s.map(ms);
    conn.execute(
        "INSERT INTO tickets (id, subject, requester_email, status, priority, category, level, owner, \
         language, created_at, updated_at, first_response_at, resolved_at, closed_at, \
         response_due_at, resolution_due_at, sla_paused_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, 'id', ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            t.id,
            format!("Ticket {}", t.id),
            format!("user{}@example.test", t.id),
            t.status,
            t.priority,
            t.category,
            t.owner,
            ms(t.created),
            o(t.first_response),
            o(t.resolved),
            o(t.closed),
            o(t.response_due),
            o(t.resolution_due),
            o(t.paused),
        ],
    )
    .expect("insert ticket");
}

fn event(conn: &Connection, ticket: i64, at: &str, actor: &str, detail: &str) {
    conn.execute(
        "INSERT INTO events (ticket_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, 'status', ?4)",
        params![ticket, ms(at), actor, detail],
    )
    .expect("insert event");
}

/// The store the digest of Tuesday 24 November 2026 reads; its period is Monday 23 November.
/// Every ticket is there for a reason, written next to it.
fn seed(conn: &Connection) {
    let open = "open";
    // T1: new Monday, answered and resolved in time by Budi.
    insert(
        conn,
        T {
            id: 1,
            status: "resolved",
            priority: Some("P2"),
            category: Some("network"),
            owner: Some("budi@example.test"),
            created: "2026-11-23T09:00:00",
            first_response: Some("2026-11-23T09:30:00"),
            resolved: Some("2026-11-23T15:00:00"),
            response_due: Some("2026-11-23T10:00:00"),
            resolution_due: Some("2026-11-23T17:00:00"),
            ..T::default()
        },
    );
    event(
        conn,
        1,
        "2026-11-23T15:00:00",
        "budi@example.test",
        "in-progress -> resolved: switch replaced",
    );
    // T2: new Monday, nobody answered: both targets breached, overdue now.
    insert(
        conn,
        T {
            id: 2,
            status: open,
            priority: Some("P1"),
            category: Some("email"),
            owner: Some("sari@example.test"),
            created: "2026-11-23T10:00:00",
            response_due: Some("2026-11-23T10:15:00"),
            resolution_due: Some("2026-11-23T14:00:00"),
            ..T::default()
        },
    );
    // T3: from Sunday, answered Monday in time; resolution far ahead.
    insert(
        conn,
        T {
            id: 3,
            status: "in-progress",
            priority: Some("P3"),
            category: Some("printer"),
            owner: Some("budi@example.test"),
            created: "2026-11-22T20:00:00",
            first_response: Some("2026-11-23T08:00:00"),
            response_due: Some("2026-11-23T12:00:00"),
            resolution_due: Some("2026-11-25T12:00:00"),
            ..T::default()
        },
    );
    // T4: new Monday, paused (waiting) before its response deadline: not breached.
    insert(
        conn,
        T {
            id: 4,
            status: "waiting",
            priority: Some("P2"),
            category: Some("network"),
            created: "2026-11-23T11:00:00",
            paused: Some("2026-11-23T11:30:00"),
            response_due: Some("2026-11-23T12:00:00"),
            resolution_due: Some("2026-11-23T19:00:00"),
            ..T::default()
        },
    );
    // T5: resolved Friday, closed automatically Monday: closed, not reopened.
    insert(
        conn,
        T {
            id: 5,
            status: "closed",
            priority: Some("P3"),
            category: Some("network"),
            owner: Some("budi@example.test"),
            created: "2026-11-20T08:00:00",
            first_response: Some("2026-11-20T08:30:00"),
            resolved: Some("2026-11-20T10:00:00"),
            closed: Some("2026-11-23T16:00:00"),
            response_due: Some("2026-11-20T12:00:00"),
            resolution_due: Some("2026-11-24T08:00:00"),
            ..T::default()
        },
    );
    event(
        conn,
        5,
        "2026-11-20T10:00:00",
        "budi@example.test",
        "in-progress -> resolved",
    );
    event(
        conn,
        5,
        "2026-11-23T16:00:00",
        "loket",
        "resolved -> closed",
    );
    // T6: resolved Friday, reopened by the requester Monday; no priority, so no targets.
    insert(
        conn,
        T {
            id: 6,
            status: "in-progress",
            category: Some("email"),
            owner: Some("sari@example.test"),
            created: "2026-11-19T09:00:00",
            first_response: Some("2026-11-19T10:00:00"),
            ..T::default()
        },
    );
    event(
        conn,
        6,
        "2026-11-20T11:00:00",
        "sari@example.test",
        "in-progress -> resolved",
    );
    event(
        conn,
        6,
        "2026-11-23T09:00:00",
        "user6@example.test",
        "resolved -> in-progress: masih rusak",
    );
    // T7: new Tuesday morning, response due within the hour: near breach.
    insert(
        conn,
        T {
            id: 7,
            status: open,
            priority: Some("P2"),
            category: Some("network"),
            created: "2026-11-24T07:20:00",
            response_due: Some("2026-11-24T08:20:00"),
            resolution_due: Some("2026-11-24T15:20:00"),
            ..T::default()
        },
    );
    // T8: new Monday, waiting for an approval.
    insert(
        conn,
        T {
            id: 8,
            status: "awaiting-approval",
            category: Some("access"),
            created: "2026-11-23T13:00:00",
            paused: Some("2026-11-23T13:05:00"),
            ..T::default()
        },
    );
    conn.execute(
        "INSERT INTO approvals (ticket_id, approver, token, requested_at) VALUES (8, 'boss@example.test', 'tok', ?1)",
        [ms("2026-11-23T13:05:00")],
    )
    .expect("approval");
    // T9: new Monday, answered, but no target applies.
    insert(
        conn,
        T {
            id: 9,
            status: "in-progress",
            owner: Some("budi@example.test"),
            created: "2026-11-23T12:00:00",
            first_response: Some("2026-11-23T13:00:00"),
            ..T::default()
        },
    );
    // T10: new Monday in another category, answered in time.
    insert(
        conn,
        T {
            id: 10,
            status: open,
            priority: Some("P3"),
            category: Some("hr"),
            created: "2026-11-23T09:00:00",
            first_response: Some("2026-11-23T15:00:00"),
            response_due: Some("2026-11-23T16:00:00"),
            resolution_due: Some("2026-11-26T16:00:00"),
            ..T::default()
        },
    );
    // T11: new Monday, rejected after a timely answer: its resolution target ends unjudged.
    insert(
        conn,
        T {
            id: 11,
            status: "rejected",
            priority: Some("P3"),
            category: Some("email"),
            created: "2026-11-23T14:00:00",
            first_response: Some("2026-11-23T14:30:00"),
            closed: Some("2026-11-23T14:30:00"),
            response_due: Some("2026-11-23T18:00:00"),
            resolution_due: Some("2026-11-25T14:00:00"),
            ..T::default()
        },
    );
    // T12: the oldest open ticket, its resolution breached long ago.
    insert(
        conn,
        T {
            id: 12,
            status: open,
            priority: Some("P3"),
            category: Some("network"),
            owner: Some("sari@example.test"),
            created: "2026-11-01T09:00:00",
            first_response: Some("2026-11-02T09:00:00"),
            response_due: Some("2026-11-02T13:00:00"),
            resolution_due: Some("2026-11-04T09:00:00"),
            ..T::default()
        },
    );
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn figures_on(
    conn: &Connection,
    cfg: &Config,
    scope: &Scope,
    on: &str,
    now: &str,
) -> figures::Figures {
    let period = Period::before(date(on), &cfg.digest.weekdays);
    let rows = digest::load_rows(conn, cfg.helpdesk.timezone, period).expect("rows");
    digest::figures_for(cfg, &rows, scope, period, wib(now))
}

#[test]
fn digest_figures_match_the_store() {
    let cfg = config(MANAGERS);
    let conn = store::open_in_memory().expect("store");
    seed(&conn);
    let f = figures_on(
        &conn,
        &cfg,
        &Scope::all(),
        "2026-11-24",
        "2026-11-24T08:00:00",
    );

    assert_eq!(
        (f.period.first_day, f.period.last_day),
        (date("2026-11-23"), date("2026-11-23"))
    );
    // New: what the store says was created on Monday, local time.
    let new_in_store = conn
        .query_row(
            "SELECT COUNT(*) FROM tickets WHERE created_at >= ?1 AND created_at < ?2",
            [ms("2026-11-23T00:00:00"), ms("2026-11-24T00:00:00")],
            |r| r.get::<_, i64>(0),
        )
        .expect("count");
    assert_eq!(f.activity.new as i64, new_in_store);
    assert_eq!(f.activity.new, 7);
    assert_eq!(f.activity.resolved, 1, "T1");
    assert_eq!(f.activity.closed, 1, "T5");
    assert_eq!(f.activity.reopened, 1, "T6, not T5's auto-closure");

    // Open backlog: what the store holds in a working status now.
    let open_in_store = count(
        &conn,
        "SELECT COUNT(*) FROM tickets WHERE status NOT IN ('resolved', 'closed', 'rejected')",
    );
    assert_eq!(f.backlog.total as i64, open_in_store);
    assert_eq!(f.backlog.total, 9);
    assert_eq!(f.backlog.overdue, 2, "T2 and T12; T4 is paused");
    let by = |v: &[figures::Count], k: Option<&str>| {
        v.iter()
            .find(|c| c.key.as_deref() == k)
            .map_or(0, |c| c.count)
    };
    assert_eq!(by(&f.backlog.by_priority, Some("P1")), 1);
    assert_eq!(by(&f.backlog.by_priority, Some("P2")), 2);
    assert_eq!(by(&f.backlog.by_priority, Some("P3")), 3);
    assert_eq!(by(&f.backlog.by_priority, None), 3);
    assert_eq!(by(&f.backlog.by_category, Some("network")), 3);
    assert_eq!(by(&f.backlog.by_status, Some("in-progress")), 3);
    assert_eq!(by(&f.backlog.by_status, Some("awaiting-approval")), 1);
    assert_eq!(f.backlog.by_level, vec![(1, 9)]);

    // SLA on Monday: responses of T1, T3, T10, T11 in time, T2 breached, T9 without a target.
    assert_eq!(
        (f.response.met, f.response.breached, f.response.no_target),
        (4, 1, 1)
    );
    assert_eq!(f.response.met_percent(), Some(80.0));
    assert_eq!(
        (f.resolution.met, f.resolution.breached),
        (1, 1),
        "T1 met, T2 breached"
    );
    assert_eq!(f.resolution.met_percent(), Some(50.0));

    assert_eq!(f.near_breach_count, 1);
    assert_eq!(f.near_breach[0].id, 7);
    assert_eq!(
        f.near_breach[0].due,
        Some((figures::Target::Response, wib("2026-11-24T08:20:00")))
    );
    let oldest: Vec<i64> = f.oldest.iter().map(|l| l.id).collect();
    assert_eq!(oldest, vec![12, 6, 3, 10, 2]);

    let load = |email: &str| {
        f.technicians
            .iter()
            .find(|t| t.email == email)
            .map(|t| (t.open, t.resolved))
    };
    assert_eq!(load("budi@example.test"), Some((2, 1)));
    assert_eq!(load("sari@example.test"), Some((3, 0)));
    assert_eq!(
        load("wati@example.test"),
        Some((0, 0)),
        "listed with nothing to do"
    );
    assert_eq!(f.approvals_count, 1);
    assert_eq!(
        f.approvals[0].approver.as_deref(),
        Some("boss@example.test")
    );

    assert_eq!(f.trend.len(), 14);
    assert_eq!(f.trend[0].date, date("2026-11-10"));
    let day = |d: &str| {
        let t = f.trend.iter().find(|t| t.date == date(d)).expect("day");
        (t.new, t.resolved)
    };
    assert_eq!(day("2026-11-23"), (7, 1));
    assert_eq!(day("2026-11-22"), (1, 0));
    assert_eq!(day("2026-11-20"), (1, 2));
    assert_eq!(day("2026-11-19"), (1, 0));
    assert_eq!(f.trend.iter().map(|t| t.new).sum::<usize>(), 10);
}

#[test]
fn a_manager_sees_only_their_categories() {
    let cfg = config(MANAGERS);
    let conn = store::open_in_memory().expect("store");
    seed(&conn);
    let net = Scope::new(&cfg.managers[1].categories);
    let f = figures_on(&conn, &cfg, &net, "2026-11-24", "2026-11-24T08:00:00");
    assert_eq!(f.activity.new, 2, "T1 and T4");
    assert_eq!(f.activity.closed, 1, "T5");
    assert_eq!(f.activity.reopened, 0);
    assert_eq!(f.backlog.total, 3, "T4, T7, T12");
    assert_eq!(f.approvals_count, 0);
    assert!(
        f.technicians.iter().all(|t| t.email != "wati@example.test"),
        "HR's technician is not in a network digest"
    );
}

#[test]
fn monday_digest_covers_the_weekend() {
    let cfg = config(MANAGERS);
    let conn = store::open_in_memory().expect("store");
    seed(&conn);
    let f = figures_on(
        &conn,
        &cfg,
        &Scope::all(),
        "2026-11-23",
        "2026-11-23T07:30:00",
    );
    assert_eq!(
        (f.period.first_day, f.period.last_day),
        (date("2026-11-20"), date("2026-11-22"))
    );
    assert_eq!(f.activity.new, 2, "T5 on Friday, T3 on Sunday");
    assert_eq!(f.activity.resolved, 2, "T5 and T6 on Friday");
}

fn outbox(conn: &Connection, kind: &str) -> Vec<(String, Vec<u8>)> {
    let mut stmt = conn
        .prepare("SELECT rcpt, raw FROM outbox WHERE kind = ?1 ORDER BY id")
        .expect("prepare");
    stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn digest_is_sent_once_per_day_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("loket.db");
    let clock = Arc::new(ManualClock::new(wib("2026-11-24T07:29:00")));
    let env = test_env(config(MANAGERS), &clock);
    {
        let mut conn = store::open(&db).expect("open");
        seed(&conn);
        // The other jobs (SLA steps) may act on the seeded tickets; the digest waits.
        loket::scheduler::tick(&mut conn, &env).expect("tick");
        assert!(outbox(&conn, "digest").is_empty(), "before digest.time");
        clock.set(wib("2026-11-24T07:30:00"));
        loket::scheduler::tick(&mut conn, &env).expect("tick");
        assert_eq!(outbox(&conn, "digest").len(), 2, "one per manager");
        loket::scheduler::tick(&mut conn, &env).expect("tick");
        assert_eq!(outbox(&conn, "digest").len(), 2);
    }
    // A restart: a new connection, later the same day.
    clock.set(wib("2026-11-24T16:00:00"));
    let mut conn = store::open(&db).expect("reopen");
    assert_eq!(digest::run_due(&mut conn, &env).expect("run"), 0);
    assert_eq!(outbox(&conn, "digest").len(), 2);
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM job_runs WHERE job = 'digest' AND period = '2026-11-24'"
        ),
        1
    );
    let recipients: Vec<String> = outbox(&conn, "digest")
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        recipients,
        vec!["kepala.it@example.test", "net@example.test"]
    );

    // Down all Wednesday, back on Thursday afternoon: Thursday's digest once, Wednesday's never.
    clock.set(wib("2026-11-26T14:00:00"));
    assert_eq!(digest::run_due(&mut conn, &env).expect("run"), 2);
    assert_eq!(digest::run_due(&mut conn, &env).expect("run"), 0);
    let periods: Vec<String> = conn
        .prepare("SELECT period FROM job_runs WHERE job = 'digest' ORDER BY period")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(periods, vec!["2026-11-24", "2026-11-26"]);
}

#[test]
fn no_digest_on_days_not_configured() {
    let clock = Arc::new(ManualClock::new(wib("2026-11-28T09:00:00"))); // Saturday
    let env = test_env(config(MANAGERS), &clock);
    let mut conn = store::open_in_memory().expect("store");
    assert_eq!(digest::run_due(&mut conn, &env).expect("run"), 0);
    clock.set(wib("2026-11-29T09:00:00")); // Sunday
    assert_eq!(digest::run_due(&mut conn, &env).expect("run"), 0);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM job_runs"), 0);

    // Configured for the weekend only, a Saturday gets one at its own time.
    let weekend = config(&format!(
        "{MANAGERS}\n[digest]\ntime = \"06:00\"\ndays = [\"sat\", \"sun\"]\n"
    ));
    let clock = Arc::new(ManualClock::new(wib("2026-11-28T05:59:00")));
    let weekend_env = test_env(weekend, &clock);
    assert_eq!(digest::run_due(&mut conn, &weekend_env).expect("run"), 0);
    clock.set(wib("2026-11-28T06:00:00"));
    assert_eq!(digest::run_due(&mut conn, &weekend_env).expect("run"), 2);
}

#[test]
fn no_managers_means_no_digest() {
    let clock = Arc::new(ManualClock::new(wib("2026-11-24T09:00:00")));
    let env = test_env(config(""), &clock);
    let mut conn = store::open_in_memory().expect("store");
    assert_eq!(digest::run_due(&mut conn, &env).expect("run"), 0);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM job_runs"), 0);
}

#[test]
fn digest_mail_has_text_html_and_an_inline_png_the_html_refers_to() {
    let clock = Arc::new(ManualClock::new(wib("2026-11-24T08:00:00")));
    let env = test_env(config(MANAGERS), &clock);
    let mut conn = store::open_in_memory().expect("store");
    seed(&conn);
    // Two ratings in the period, one low.
    for (ticket, score) in [(1, 5), (2, 1)] {
        conn.execute(
            "INSERT INTO ratings (ticket_id, score, rater, rated_at) VALUES (?1, ?2, 'r@example.test', ?3)",
            params![ticket, score, ms("2026-11-23T10:00:00")],
        )
        .expect("rating");
    }
    assert_eq!(digest::run_due(&mut conn, &env).expect("run"), 2);
    let (rcpt, raw) = outbox(&conn, "digest").remove(0);
    assert_eq!(rcpt, "kepala.it@example.test");
    let head = String::from_utf8_lossy(&raw);
    assert!(head.contains("Auto-Submitted: auto-generated"), "{head}");
    assert!(head.contains("multipart/alternative"));
    assert!(head.contains("multipart/related"));

    let msg = MessageParser::default().parse(&raw).expect("parses");
    assert!(
        msg.from()
            .and_then(|f| f.first())
            .and_then(|a| a.address())
            .is_some_and(|a| a == "helpdesk@example.test")
    );
    let text = msg.body_text(0).expect("text part");
    assert!(text.contains("Tiket baru            : 7"), "{text}");
    assert!(
        text.contains("4 tercapai, 1 terlewat, 80,0% tercapai"),
        "{text}"
    );
    assert!(text.contains("HD-12"), "oldest ticket listed: {text}");
    assert!(
        text.contains(
            "Kepuasan              : rata-rata 3.0 dari 5, 2 penilaian, 50% nilai rendah"
        ),
        "{text}"
    );
    let html = msg.body_html(0).expect("html part");
    assert!(html.contains("<b>3.0</b> dari 5"), "{html}");
    assert!(!html.contains("<script"), "no scripts");

    let image = msg
        .attachments()
        .find(|p| p.is_content_type("image", "png"))
        .expect("an inline PNG");
    let cid = image.content_id().expect("Content-ID").to_string();
    assert!(
        html.contains(&format!("src=\"cid:{cid}\"")),
        "the HTML shows the chart by its Content-ID {cid}"
    );
    let mut reader = png::Decoder::new(std::io::Cursor::new(image.contents().to_vec()))
        .read_info()
        .expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut pixels).expect("PNG data");
    assert_eq!(
        info.width,
        (14 + digest::chart::QUALITY_COLUMNS) * digest::chart::COLUMN_WIDTH
    );
    assert_eq!(info.height, digest::chart::HEIGHT);
}

#[test]
fn english_digest_renders_too() {
    let text = format!("{}{STAFF}", minimal_toml("helpdesk@example.test"))
        .replace("[imap]", "language = \"en\"\n[imap]");
    let cfg_en =
        Config::from_toml(&format!("{text}{MANAGERS}"), Path::new("t.toml")).expect("config");
    let clock = Arc::new(ManualClock::new(wib("2026-11-24T08:00:00")));
    let env = test_env(cfg_en, &clock);
    let conn = store::open_in_memory().expect("store");
    seed(&conn);
    let d = digest::preview(&conn, &env, None, Some("net@example.test")).expect("preview");
    assert!(
        d.rendered
            .subject
            .starts_with("Helpdesk digest Tuesday, 24-11-2026"),
        "{}",
        d.rendered.subject
    );
    assert!(
        d.rendered.text.contains("New tickets           : 2"),
        "{}",
        d.rendered.text
    );
    assert!(
        d.rendered.html.contains("src=\"data:image/png;base64,"),
        "preview stands alone"
    );
}

#[test]
fn send_now_holds_its_mail_from_the_daemon_and_marks_the_day() {
    let clock = Arc::new(ManualClock::new(wib("2026-11-24T06:00:00")));
    let env = test_env(config(MANAGERS), &clock);
    let mut conn = store::open_in_memory().expect("store");
    seed(&conn);
    let ids = digest::queue_now(&mut conn, &env, None, Some("NET@example.test")).expect("queue");
    assert_eq!(ids.len(), 1);
    assert!(
        store::outbox::due(&conn, clock.now(), 10)
            .expect("due")
            .is_empty(),
        "a running daemon does not send it a second time"
    );
    // The day counts as done: the scheduler sends no second digest at 07:30.
    clock.set(wib("2026-11-24T07:30:00"));
    assert_eq!(digest::run_due(&mut conn, &env).expect("run"), 0);
    // Another date is a resend: it leaves that day's job alone.
    digest::queue_now(&mut conn, &env, Some(date("2026-11-20")), None).expect("queue");
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM job_runs"), 1);
    assert!(digest::queue_now(&mut conn, &env, None, Some("nobody@example.test")).is_err());
}

fn month_seed(conn: &Connection) {
    let t = |id, created| T {
        id,
        status: "open",
        priority: Some("P3"),
        category: Some(if id % 2 == 0 { "network" } else { "email" }),
        created,
        ..T::default()
    };
    // 31 Oct 23:59 WIB is October; 1 Nov 00:00 WIB is November, though both are 31 Oct in UTC.
    insert(conn, t(1, "2026-10-31T23:59:00"));
    insert(conn, t(2, "2026-11-01T00:00:00"));
    insert(conn, t(3, "2026-11-15T12:00:00"));
    insert(
        conn,
        T {
            first_response: Some("2026-11-30T10:00:00"),
            response_due: Some("2026-11-30T12:00:00"),
            resolved: Some("2026-11-30T15:00:00"),
            resolution_due: Some("2026-11-30T14:00:00"),
            status: "resolved",
            owner: Some("budi@example.test"),
            ..t(4, "2026-11-30T09:00:00")
        },
    );
    insert(conn, t(5, "2026-11-30T23:59:59"));
    insert(conn, t(6, "2026-12-01T00:00:00"));
    for (i, dir) in ["in", "out", "in"].iter().enumerate() {
        conn.execute(
            "INSERT INTO messages (ticket_id, direction, kind, message_id, subject, body, created_at) \
             VALUES (4, ?1, 'x', ?2, 's', 'b', 0)",
            params![dir, format!("m{i}@x")],
        )
        .expect("message");
    }
    // Budi's #time on HD-4 (30m and 15m) and its requester's rating.
    for secs in [1800, 900] {
        conn.execute(
            "INSERT INTO time_spent (ticket_id, technician, seconds, at) VALUES (4, 'budi@example.test', ?1, ?2)",
            params![secs, ms("2026-11-30T15:00:00")],
        )
        .expect("time");
    }
    conn.execute(
        "INSERT INTO ratings (ticket_id, score, comment, rater, rated_at) VALUES (4, 2, 'lama', 'user4@example.test', ?1)",
        [ms("2026-11-30T16:00:00")],
    )
    .expect("rating");
}

#[test]
fn monthly_csv_has_one_row_per_ticket_of_the_month() {
    let cfg = config(MANAGERS);
    let conn = store::open_in_memory().expect("store");
    month_seed(&conn);
    let month = Month::parse("2026-11").expect("month");
    let csv = digest::month_report(&conn, &cfg, month, Format::Csv, wib("2026-12-01T08:00:00"))
        .expect("csv");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], digest::report::CSV_HEADER.join(","));
    let tags: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect();
    assert_eq!(tags, vec!["HD-2", "HD-3", "HD-4", "HD-5"]);
    assert_eq!(
        lines[3],
        "HD-4,user4@example.test,network,P3,1,budi@example.test,2026-11-30 09:00,\
         2026-11-30 10:00,2026-11-30 15:00,,yes,no,3,45,2"
    );
    assert!(lines[1].ends_with(",,"), "no time, no rating: {}", lines[1]);
    let html = digest::month_report(&conn, &cfg, month, Format::Html, wib("2026-12-01T08:00:00"))
        .expect("html");
    assert_eq!(
        html.matches("<tr>").count(),
        1 + 4,
        "header and four tickets"
    );
    assert!(html.contains("Budi"));
}

#[test]
fn monthly_recap_is_mailed_once_on_the_first_working_day() {
    let cfg = config(&format!("{MANAGERS}\n[digest]\nmonthly = true\n"));
    // 1 December 2026 is a Tuesday: the first working day.
    let clock = Arc::new(ManualClock::new(wib("2026-12-01T09:00:00")));
    let env = test_env(cfg, &clock);
    let mut conn = store::open_in_memory().expect("store");
    month_seed(&conn);
    digest::run_due(&mut conn, &env).expect("run");
    digest::run_due(&mut conn, &env).expect("run");
    let mails = outbox(&conn, "digest_monthly");
    assert_eq!(mails.len(), 2, "once per manager");
    let net = MessageParser::default().parse(&mails[1].1).expect("parses");
    let csv = net
        .attachments()
        .find(|p| p.attachment_name() == Some("hd-2026-11.csv"))
        .expect("the CSV attached");
    let csv = String::from_utf8_lossy(csv.contents()).to_string();
    // The network manager's recap holds the network tickets of November only.
    assert_eq!(csv.lines().count(), 1 + 2, "{csv}");
    let text = net.body_text(0).expect("text");
    assert!(
        text.contains("rata-rata 2.0 dari 5, 1 penilaian, 100% nilai rendah"),
        "{text}"
    );
    assert!(text.contains("45m"), "the month's #time: {text}");
    assert!(csv.contains("HD-2,") && csv.contains("HD-4,"), "{csv}");
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM job_runs WHERE job = 'monthly' AND period = '2026-11'"
        ),
        1
    );
    // On the second working day nothing more goes out.
    clock.set(wib("2026-12-02T09:00:00"));
    digest::run_due(&mut conn, &env).expect("run");
    assert_eq!(outbox(&conn, "digest_monthly").len(), 2);
    assert!(!digest::is_first_working_day(&env.cfg, date("2026-12-02")));
    // August 2026 begins on a Saturday: Monday the 3rd is its first working day.
    assert!(digest::is_first_working_day(&env.cfg, date("2026-08-03")));
    assert!(!digest::is_first_working_day(&env.cfg, date("2026-08-01")));
}

#[test]
fn digest_config_is_checked_and_named() {
    let cfg = config("");
    assert!(cfg.managers.is_empty());
    assert_eq!(cfg.digest.time, "07:30");
    assert_eq!(
        cfg.digest.weekdays,
        [true, true, true, true, true, false, false]
    );
    assert!(!cfg.digest.monthly);
    let err = |extra: &str| {
        Config::from_toml(
            &format!("{}{STAFF}{extra}", minimal_toml("helpdesk@example.test")),
            Path::new("t.toml"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
    };
    assert!(err("[digest]\ntime = \"7.30\"\n").contains("digest.time"));
    assert!(err("[digest]\ndays = [\"mon\", \"someday\"]\n").contains("digest.days[1]"));
    assert!(err("[digest]\ndays = []\n").contains("digest.days"));
    assert!(err("[[managers]]\nemail = \"nope\"\nname = \"X\"\n").contains("managers[0].email"));
    assert!(
        err("[[managers]]\nemail = \"a@x.test\"\nname = \"A\"\n[[managers]]\nemail = \"A@x.test\"\nname = \"B\"\n")
            .contains("managers[1].email")
    );
    assert!(err("[digest]\ntme = \"07:30\"\n").contains("tme"));
}

#[test]
fn quarantined_messages_of_the_period_are_listed_in_every_digest() {
    // A request that landed in quarantine is seen by a manager the next morning, whatever their
    // categories (issue 21); a released one and one from before the period are not listed.
    let clock = Arc::new(ManualClock::new(wib("2026-11-24T08:00:00")));
    let env = test_env(config(MANAGERS), &clock);
    let conn = store::open_in_memory().expect("store");
    seed(&conn);
    let add = |at: &str, reason: &str, id: &str| {
        store::quarantine::add(&conn, wib(at), "ingest", reason, Some(id), id, b"raw")
            .expect("held")
    };
    add(
        "2026-11-23T10:00:00",
        "no sender address",
        "q1@example.test",
    );
    add(
        "2026-11-23T11:00:00",
        "bounce for no known ticket",
        "q2@example.test",
    );
    add(
        "2026-11-20T11:00:00",
        "message too large",
        "old@example.test",
    );
    add(
        "2026-11-23T12:00:00",
        "message too large",
        "gone@example.test",
    );
    store::quarantine::mark_released(&conn, 4, wib("2026-11-23T13:00:00"), "HD-9")
        .expect("released");

    // And a ticket of the period whose acknowledgement was held back (a suspected loop).
    conn.execute(
        "INSERT INTO events (ticket_id, at, actor, kind, detail) VALUES (1, ?1, 'loket', \
         'ack_suppressed', 'looks like an automatic responder')",
        [ms("2026-11-23T10:30:00")],
    )
    .expect("event");

    let d = digest::preview(&conn, &env, None, Some("net@example.test")).expect("preview");
    let text = &d.rendered.text;
    assert!(text.contains("Tanpa tanda terima    : 1"), "{text}");
    assert!(text.contains("DIKARANTINA"), "{text}");
    assert!(text.contains(": 2\n"), "two held from the period: {text}");
    assert!(
        text.contains("no sender address (Message-ID q1@example.test)"),
        "{text}"
    );
    assert!(text.contains("bounce for no known ticket"), "{text}");
    assert!(
        !text.contains("old@example.test") && !text.contains("gone@example.test"),
        "{text}"
    );
    assert!(
        d.rendered.html.contains("Dikarantina"),
        "{}",
        d.rendered.html
    );
}
