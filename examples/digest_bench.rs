//! How long the managers' digest and the monthly recap take over 100,000 tickets.
//!
//!     cargo run --release --example digest_bench
//!
//! Seeds a temporary SQLite file (the same schema and pragmas as `loket run`) with 100,000
//! tickets, three messages and three to four status events each, in two shapes: a year of
//! tickets (about 270 a day), and the same number all in one month (the worst case for that
//! month's recap and for the digest's windows). Then times, after one warm-up run, seven runs
//! each, the best and the median:
//! - the digest's figures: reading the rows and counting them (every category), and each half
//!   on its own;
//! - one digest built: figures, chart PNG and both templates rendered;
//! - the scheduler job: three managers' digests counted, rendered, composed (MIME with the
//!   inline PNG) and queued with the `job_runs` row in one transaction;
//! - the monthly recap of the busiest month, as CSV and as HTML.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration as Span, NaiveDate, Utc};
use rusqlite::{Connection, params};

use loket::clock::{Clock, ManualClock};
use loket::config::Config;
use loket::digest::figures::{Period, Scope};
use loket::digest::report::{Format, Month};
use loket::digest::{self, ChartIn};
use loket::outbound::render::Renderer;
use loket::pipeline::Env;
use loket::store;

const TICKETS: usize = 100_000;
const RUNS: usize = 7;
const CATEGORIES: &[&str] = &[
    "network", "email", "printer", "hardware", "access", "software", "hr", "finance",
];

/// What the benchmark adds to `loket::fixtures::minimal_toml`.
const CONFIG: &str = r#"
[[managers]]
email = "head@example.test"
name = "Head of IT"
[[managers]]
email = "infra@example.test"
name = "Infrastructure"
categories = ["network", "hardware", "access"]
[[managers]]
email = "apps@example.test"
name = "Applications"
categories = ["email", "software"]
"#;

/// A small deterministic generator (xorshift64*): the same store on every run, no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn technicians_toml() -> String {
    (0..10)
        .map(|i| {
            format!(
                "[[technicians]]\nemail = \"tech{i}@example.test\"\nname = \"Tech {i}\"\n\
                 categories = [\"{}\", \"{}\"]\n",
                CATEGORIES[i % CATEGORIES.len()],
                CATEGORIES[(i + 3) % CATEGORIES.len()]
            )
        })
        .collect()
}

/// Seeds `TICKETS` tickets created evenly over `days` days before `now`.
fn seed(conn: &mut Connection, now: DateTime<Utc>, days: i64) -> Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let tx = conn.transaction()?;
    {
        let mut ticket = tx.prepare(
            "INSERT INTO tickets (id, subject, requester_email, status, priority, category, level, owner, \
             language, created_at, updated_at, first_response_at, resolved_at, closed_at, \
             response_due_at, resolution_due_at, sla_paused_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'id', ?9, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        let mut message = tx.prepare(
            "INSERT INTO messages (ticket_id, direction, kind, message_id, from_email, subject, body, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut event = tx.prepare(
            "INSERT INTO events (ticket_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, 'status', ?4)",
        )?;
        let mut approval = tx.prepare(
            "INSERT INTO approvals (ticket_id, approver, token, requested_at) VALUES (?1, 'boss@example.test', ?2, ?3)",
        )?;
        let start = now - Span::days(days);
        let step = Span::days(days).num_milliseconds() / TICKETS as i64;
        let min = 60_000i64;
        let hour = 60 * min;
        for i in 0..TICKETS {
            let id = i as i64 + 1;
            let created = start.timestamp_millis() + id * step + rng.below(step as u64) as i64 / 2;
            let age = now.timestamp_millis() - created;
            let (prio, response, resolution) = match rng.below(10) {
                0 => ("P1", 15 * min, 4 * hour),
                1..=3 => ("P2", hour, 8 * hour),
                _ => ("P3", 4 * hour, 48 * hour),
            };
            let category = CATEGORIES[rng.below(CATEGORIES.len() as u64) as usize];
            let level = 1 + (rng.below(10) / 8) as i64;
            let owner = format!("tech{}@example.test", rng.below(10));
            let responded = created + rng.below((response * 2) as u64) as i64;
            let solved = created + rng.below((resolution * 2) as u64) as i64;
            // Recent tickets are more often still open; almost every older one is finished.
            let open_chance = if age < 2 * 86_400_000 {
                60
            } else if age < 14 * 86_400_000 {
                15
            } else {
                1
            };
            let (status, first_response, resolved_at, closed_at, paused) =
                if rng.chance(open_chance) {
                    let status = match rng.below(20) {
                        0 => "awaiting-approval",
                        1..=3 => "waiting",
                        4..=9 => "open",
                        _ => "in-progress",
                    };
                    let answered =
                        (responded < now.timestamp_millis() && rng.chance(70)).then_some(responded);
                    let paused =
                        matches!(status, "waiting" | "awaiting-approval").then_some(created + min);
                    (status, answered, None, None, paused)
                } else if solved + 86_400_000 < now.timestamp_millis() {
                    (
                        "closed",
                        Some(responded),
                        Some(solved),
                        Some(solved + 86_400_000),
                        None,
                    )
                } else {
                    (
                        "resolved",
                        Some(responded),
                        Some(solved.min(now.timestamp_millis())),
                        None,
                        None,
                    )
                };
            ticket.execute(params![
                id,
                format!("Request {id}: {category} problem"),
                format!("user{}@example.test", rng.below(5000)),
                status,
                prio,
                category,
                level,
                owner,
                created,
                first_response,
                resolved_at,
                closed_at,
                created + response,
                created + resolution,
                paused,
            ])?;
            let msgs = [
                ("in", "request", created),
                ("out", "ack", created + 1000),
                ("in", "reply", first_response.unwrap_or(created + 2000)),
            ];
            for (n, (dir, kind, at)) in msgs.iter().enumerate() {
                message.execute(params![
                    id,
                    dir,
                    kind,
                    format!("m{id}.{n}@example.test"),
                    format!("user{id}@example.test"),
                    format!("Request {id}"),
                    "Printer di lantai 2 hanya mencetak halaman kosong sejak pagi ini.",
                    at
                ])?;
            }
            if let Some(t) = first_response {
                event.execute(params![id, t, owner, "open -> in-progress"])?;
            }
            if let Some(t) = resolved_at {
                // One in twenty was reopened once before its final resolution.
                if rng.chance(5) {
                    event.execute(params![id, t - hour, owner, "in-progress -> resolved"])?;
                    event.execute(params![
                        id,
                        t - hour / 2,
                        "requester@example.test",
                        "resolved -> in-progress: masih rusak"
                    ])?;
                }
                event.execute(params![id, t, owner, "in-progress -> resolved: done"])?;
            }
            if let Some(t) = closed_at {
                event.execute(params![id, t, "loket", "resolved -> closed"])?;
            }
            if status == "awaiting-approval" {
                approval.execute(params![id, format!("tok{id}"), created + min])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// Best and median of `RUNS` timings of `f`, after one untimed run (statement cache, page
/// cache and allocator warm, as in a daemon that has been running).
fn time<T>(mut f: impl FnMut() -> Result<T>) -> Result<(Duration, Duration, T)> {
    let mut times = Vec::new();
    let mut last = Some(f()?);
    for _ in 0..RUNS {
        let t = Instant::now();
        last = Some(f()?);
        times.push(t.elapsed());
    }
    times.sort();
    let out = last.context("no run")?;
    Ok((times[0], times[RUNS / 2], out))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn scenario(name: &str, days: i64, now: DateTime<Utc>, month: Month) -> Result<()> {
    let dir = tempfile::tempdir()?;
    // DIGEST_BENCH_KEEP=DIR keeps the seeded databases there, to look into them afterwards.
    let db = match std::env::var_os("DIGEST_BENCH_KEEP") {
        Some(keep) => Path::new(&keep).join(format!("bench-{days}d.db")),
        None => dir.path().join("bench.db"),
    };
    let _ = std::fs::remove_file(&db);
    let cfg = Config::from_toml(
        &format!(
            "{}{CONFIG}{}",
            loket::fixtures::minimal_toml("helpdesk@example.test"),
            technicians_toml()
        ),
        Path::new("bench.toml"),
    )?;
    let clock = Arc::new(ManualClock::new(now));
    let env = Env {
        cfg: Arc::new(cfg),
        renderer: Arc::new(Renderer::new(None)?),
        clock: clock.clone() as Arc<dyn Clock>,
    };
    let mut conn = store::open(&db)?;
    let t = Instant::now();
    seed(&mut conn, now, days)?;
    let seeded = t.elapsed();
    // A running daemon's WAL is checkpointed as it goes; the seed left 100,000 tickets in it.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    let cfg = &env.cfg;
    let tz = cfg.helpdesk.timezone;
    let today = now.with_timezone(&tz).date_naive();
    let period = Period::before(today, &cfg.digest.weekdays);
    let open: i64 = conn.query_row(
        "SELECT COUNT(*) FROM tickets WHERE status NOT IN ('resolved', 'closed', 'rejected')",
        [],
        |r| r.get(0),
    )?;
    let events: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    println!("## {name}");
    println!(
        "{TICKETS} tickets over {days} days, {events} events, {} messages; {open} open; seeded in {:.1} s; digest of {today}, recap of {}",
        TICKETS * 3,
        seeded.as_secs_f64(),
        month.key()
    );
    println!();
    println!("| step | best | median |");
    println!("| --- | --- | --- |");

    let (best, median, f) = time(|| {
        let rows = digest::load_rows(&conn, tz, period)?;
        Ok(digest::figures_for(cfg, &rows, &Scope::all(), period, now))
    })?;
    println!(
        "| digest figures (read + count, all categories; {} new, {} resolved, backlog {}) | {} | {} |",
        f.activity.new,
        f.activity.resolved,
        f.backlog.total,
        ms(best),
        ms(median)
    );
    let (best, median, rows) = time(|| digest::load_rows(&conn, tz, period))?;
    println!(
        "| of which reading the rows ({} tickets, {} status changes, {} approvals) | {} | {} |",
        rows.tickets.len(),
        rows.events.len(),
        rows.approvals.len(),
        ms(best),
        ms(median)
    );
    let (best, median, _) =
        time(|| Ok(digest::figures_for(cfg, &rows, &Scope::all(), period, now)))?;
    println!(
        "| of which counting them (in memory) | {} | {} |",
        ms(best),
        ms(median)
    );
    let (best, median, d) = time(|| {
        let rows = digest::load_rows(&conn, tz, period)?;
        digest::build(cfg, &env.renderer, &rows, today, now, None, ChartIn::Mail)
    })?;
    println!(
        "| one digest built (figures + PNG of {} bytes + templates) | {} | {} |",
        d.png.len(),
        ms(best),
        ms(median)
    );
    let (best, median, n) = time(|| {
        // Each run is a new day for the job: forget the previous run's row and mails.
        conn.execute("DELETE FROM job_runs", [])?;
        conn.execute("DELETE FROM outbox", [])?;
        digest::run_due(&mut conn, &env)
    })?;
    println!(
        "| scheduler job: {n} managers' digests rendered, composed, queued in one transaction | {} | {} |",
        ms(best),
        ms(median)
    );
    let (best, median, csv) = time(|| digest::month_report(&conn, cfg, month, Format::Csv, now))?;
    println!(
        "| monthly recap {} as CSV ({} tickets, {} KiB) | {} | {} |",
        month.key(),
        csv.lines().count() - 1,
        csv.len() / 1024,
        ms(best),
        ms(median)
    );
    let (best, median, html) = time(|| digest::month_report(&conn, cfg, month, Format::Html, now))?;
    println!(
        "| monthly recap {} as HTML ({} KiB) | {} | {} |",
        month.key(),
        html.len() / 1024,
        ms(best),
        ms(median)
    );
    println!();
    Ok(())
}

fn main() -> Result<()> {
    // Tuesday 24 November 2026, 08:00 WIB: after digest time on a digest day.
    let now: DateTime<Utc> = "2026-11-24T01:00:00Z".parse()?;
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d");
    scenario(
        "A year of tickets",
        365,
        now,
        Month::of(date("2026-10-01")?),
    )?;
    scenario(
        "All 100,000 tickets in November",
        23,
        now,
        Month::of(date("2026-11-01")?),
    )?;
    Ok(())
}
