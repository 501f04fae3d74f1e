//! The managers' daily digest and the monthly recap. The scheduler calls `run_due` every tick;
//! at or after `digest.time` on a configured day it reads the store once, counts the figures
//! per manager (`figures`, pure), draws the 14-day trend (`chart`), renders the `digest`
//! templates (`view` prepares their values) and queues one mail per manager in one transaction
//! with the day's `job_runs` row, so a digest goes out once per local date whatever restarts
//! happen, and a day Loket was down at digest time still gets it when Loket comes back (that
//! day only). The monthly recap (`report`) works the same way, once per month.
//!
//! The CLI's `loket digest` and `loket report` use the same functions.

pub mod chart;
pub mod figures;
pub mod morning;
pub mod report;
pub mod service;
pub mod view;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, TransactionBehavior};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::config::{Config, Manager};
use crate::env::Env;
use crate::inbound::Address;
use crate::outbound::MailKind;
use crate::outbound::compose::{Attached, Inline};
use crate::outbound::render::{Rendered, Renderer};
use crate::outbound::{self, Ctx};
use crate::store::{self, reports};
use figures::{Figures, Inputs, People, Period, Scope, local_midnight};

/// `job_runs.job` of the daily digest; its period is the local date it was sent on.
pub const DIGEST_JOB: &str = "digest";
/// `job_runs.job` of the monthly recap; its period is the month it reports ("2026-11").
pub const MONTHLY_JOB: &str = "monthly";
/// Mail kinds (templates) of the two.
pub const DIGEST_KIND: MailKind = MailKind::Digest;
pub const MONTHLY_KIND: MailKind = MailKind::DigestMonthly;

/// Everything one digest date needs from the store, for every scope: read once, counted per
/// manager.
pub struct Rows {
    pub tickets: Vec<reports::DigestTicket>,
    pub events: Vec<reports::StatusEvent>,
    pub approvals: Vec<reports::PendingApproval>,
    /// Messages quarantined in the period and not released: in no category, so every
    /// digest lists them.
    pub quarantined: Vec<crate::store::quarantine::Held>,
    /// The categories of the period's tickets whose acknowledgement was held back.
    pub acks_held: Vec<Option<String>>,
    /// Ratings, time spent, merges and subjects of the period (`digest::service`).
    pub service: service::Rows,
}

pub fn load_rows(conn: &Connection, tz: Tz, period: Period) -> Result<Rows> {
    let first = figures::trend_first_day(period.last_day).min(period.first_day);
    let since = local_midnight(tz, first);
    let until = local_midnight(tz, period.last_day + Duration::days(1));
    Ok(Rows {
        tickets: reports::digest_tickets(conn, since).context("reading tickets for the digest")?,
        events: reports::status_events(conn, since, until)
            .context("reading status changes for the digest")?,
        approvals: reports::pending_approvals(conn)
            .context("reading pending approvals for the digest")?,
        quarantined: crate::store::quarantine::held_since(
            conn,
            local_midnight(tz, period.first_day),
        )
        .context("reading quarantined messages for the digest")?,
        acks_held: reports::acks_held(conn, local_midnight(tz, period.first_day), until)
            .context("reading held acknowledgements for the digest")?,
        service: service::load(conn, local_midnight(tz, period.first_day), until)
            .context("reading service quality for the digest")?,
    })
}

/// The figures of one scope.
pub fn figures_for(
    cfg: &Config,
    rows: &Rows,
    scope: &Scope,
    period: Period,
    now: DateTime<Utc>,
) -> Figures {
    let technicians: Vec<String> = cfg.technicians.iter().map(|t| t.email.clone()).collect();
    let listed: Vec<String> = cfg
        .technicians
        .iter()
        .filter(|t| scope.overlaps(&t.categories))
        .map(|t| t.email.clone())
        .collect();
    figures::compute(
        &Inputs {
            tickets: &rows.tickets,
            events: &rows.events,
            approvals: &rows.approvals,
            quarantined: &rows.quarantined,
            acks_held: &rows.acks_held,
        },
        scope,
        &People {
            technicians: &technicians,
            listed: &listed,
        },
        period,
        cfg.helpdesk.timezone,
        now,
    )
}

/// One digest, ready to mail or to show.
pub struct Digest {
    pub figures: Figures,
    pub data: Value,
    pub rendered: Rendered,
    pub png: Vec<u8>,
    /// The Content-ID the HTML refers to (`cid:` in a mail).
    pub content_id: String,
}

/// How the HTML refers to the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartIn {
    /// `cid:` of an inline part: for mail.
    Mail,
    /// A `data:` URI: for a preview file that must stand alone.
    DataUri,
}

/// Counts, draws and renders the digest sent on `date` for `reader` (None: every category).
#[allow(clippy::too_many_arguments)]
pub fn build(
    cfg: &Config,
    renderer: &Renderer,
    rows: &Rows,
    date: NaiveDate,
    now: DateTime<Utc>,
    reader: Option<&Manager>,
    chart_in: ChartIn,
) -> Result<Digest> {
    let period = Period::before(date, &cfg.digest.weekdays);
    let scope = reader.map_or_else(Scope::all, |m| Scope::new(&m.categories));
    let figures = figures_for(cfg, rows, &scope, period, now);
    let quality = service::compute(cfg, &rows.service, &scope);
    let beside = chart::Quality {
        sla_met: figures.response.met + figures.resolution.met,
        sla_breached: figures.response.breached + figures.resolution.breached,
        scores: quality.ratings.scores,
    };
    let png = chart::trend_png(&figures.trend, &beside)?;
    // Unique within the mail is what RFC 2392 needs; the date and domain keep it readable.
    let content_id = format!("trend.{}@{}", date.format("%Y%m%d"), cfg.domain());
    let src = match chart_in {
        ChartIn::Mail => format!("cid:{content_id}"),
        ChartIn::DataUri => format!("data:image/png;base64,{}", chart::base64(&png)),
    };
    let lang = cfg.helpdesk.language.as_str();
    let r = reader.map(|m| view::Reader {
        name: &m.name,
        categories: &m.categories,
    });
    let mut data = view::data(
        cfg,
        lang,
        date,
        &figures,
        r.as_ref(),
        &view::ChartRef { src },
    );
    data["service"] = service::data(lang, &quality);
    // The quality columns of the chart, labelled in the table under it like the days.
    let cols = (figures.trend.len().max(1) as u32 + chart::QUALITY_COLUMNS) * chart::COLUMN_WIDTH;
    data["trend"]["chart"]["width"] = json!(cols);
    let labels = ["SLA ✓", "SLA ✗", "★1", "★2", "★3", "★4", "★5"];
    let values = beside.columns();
    data["trend"]["quality"] = json!(labels
        .iter()
        .zip(values)
        .map(|(label, (count, colour))| json!({"label": label, "count": count, "colour": chart::hex(colour)}))
        .collect::<Vec<_>>());
    let rendered = renderer
        .render(DIGEST_KIND.name(), lang, &data)
        .context("rendering the digest")?;
    Ok(Digest {
        figures,
        data,
        rendered,
        png,
        content_id,
    })
}

fn manager_address(m: &Manager) -> Vec<Address> {
    vec![Address {
        name: Some(m.name.clone()),
        email: m.email.clone(),
    }]
}

/// Builds and queues `m`'s digest inside `conn`'s transaction; returns the outbox id.
fn queue_digest(
    conn: &Connection,
    ctx: &Ctx<'_>,
    rows: &Rows,
    date: NaiveDate,
    m: &Manager,
) -> Result<i64> {
    let d = build(
        ctx.cfg,
        ctx.renderer,
        rows,
        date,
        ctx.now,
        Some(m),
        ChartIn::Mail,
    )?;
    outbound::queue_report(
        conn,
        ctx,
        DIGEST_KIND,
        &ctx.cfg.helpdesk.language,
        &d.data,
        &manager_address(m),
        &[Inline {
            content_id: &d.content_id,
            content_type: "image/png",
            data: &d.png,
        }],
        &[],
    )
    .with_context(|| format!("queueing the digest for {}", m.email))
}

/// The scheduler's job: the day's digests and the month's recap when they are due and not yet
/// sent. Returns how many mails were queued.
pub fn run_due(conn: &mut Connection, env: &Env) -> Result<usize> {
    let cfg = &env.cfg;
    if cfg.managers.is_empty() {
        return Ok(0);
    }
    let now = env.clock.now();
    let local = now.with_timezone(&cfg.helpdesk.timezone);
    if local.time() < cfg.digest.local_time {
        return Ok(0);
    }
    let today = local.date_naive();
    let mut queued = 0;
    if cfg.digest.weekdays[today.weekday().num_days_from_monday() as usize] {
        queued += daily(conn, env, today, now)?;
    }
    if cfg.digest.monthly && is_first_working_day(cfg, today) {
        queued += monthly(conn, env, today, now)?;
    }
    Ok(queued)
}

fn daily(conn: &mut Connection, env: &Env, today: NaiveDate, now: DateTime<Utc>) -> Result<usize> {
    let cfg = &env.cfg;
    let period_key = today.format("%Y-%m-%d").to_string();
    // The check every tick after digest time comes to: one indexed lookup.
    if reports::job_done(conn, DIGEST_JOB, &period_key)? {
        return Ok(0);
    }
    let period = Period::before(today, &cfg.digest.weekdays);
    let rows = load_rows(conn, cfg.helpdesk.timezone, period)?;
    let ctx = env.ctx(now);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !reports::record_job(&tx, DIGEST_JOB, &period_key, now)? {
        // Another process took this date between the check and the lock.
        return Ok(0);
    }
    for m in &cfg.managers {
        queue_digest(&tx, &ctx, &rows, today, m)?;
    }
    tx.commit().context("committing the digest")?;
    tracing::info!(date = %period_key, managers = cfg.managers.len(), "daily digest queued");
    Ok(cfg.managers.len())
}

/// Whether `date` has working time on the business calendar (not a weekend, not a holiday).
pub fn is_working_day(cfg: &Config, date: NaiveDate) -> bool {
    let tz = cfg.helpdesk.timezone;
    !cfg.calendar()
        .between(
            local_midnight(tz, date),
            local_midnight(tz, date + Duration::days(1)),
        )
        .is_zero()
}

/// Whether `date` is the first day of its month with working time on the business calendar.
pub fn is_first_working_day(cfg: &Config, date: NaiveDate) -> bool {
    let works = |d: NaiveDate| is_working_day(cfg, d);
    let mut d = report::Month::of(date).first_day();
    while d < date {
        if works(d) {
            return false;
        }
        d += Duration::days(1);
    }
    works(date)
}

/// The previous month's recap to every manager (their categories only), CSV attached; on the
/// first working day of a month only, like the digest's same-day rule (`loket report` makes
/// any month's recap on demand).
fn monthly(
    conn: &mut Connection,
    env: &Env,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<usize> {
    let cfg = &env.cfg;
    let month = report::Month::of(today).previous();
    let key = month.key();
    if reports::job_done(conn, MONTHLY_JOB, &key)? {
        return Ok(0);
    }
    let tz = cfg.helpdesk.timezone;
    let all = report::load(conn, tz, month, &Scope::all(), now)?;
    let (from, to) = month.range(tz);
    let service_rows = service::load(conn, from, to)?;
    let ctx = env.ctx(now);
    let lang = cfg.helpdesk.language.as_str();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !reports::record_job(&tx, MONTHLY_JOB, &key, now)? {
        return Ok(0);
    }
    for m in &cfg.managers {
        let scope = Scope::new(&m.categories);
        let lines: Vec<report::Line> = all
            .iter()
            .filter(|l| scope.covers(l.ticket.category.as_deref()))
            .cloned()
            .collect();
        let csv = report::csv(cfg, &lines);
        let filename = format!(
            "{}-{}.csv",
            cfg.helpdesk.tag_prefix.to_ascii_lowercase(),
            key
        );
        let mut data = monthly_data(cfg, lang, month, &lines, m, &filename);
        let quality = service::compute(cfg, &service_rows, &scope);
        data["service"] = service::data(lang, &quality);
        outbound::queue_report(
            &tx,
            &ctx,
            MONTHLY_KIND,
            lang,
            &data,
            &manager_address(m),
            &[],
            &[Attached {
                filename: &filename,
                content_type: "text/csv; charset=utf-8",
                data: csv.as_bytes(),
            }],
        )
        .with_context(|| format!("queueing the monthly recap for {}", m.email))?;
    }
    tx.commit().context("committing the monthly recap")?;
    tracing::info!(month = %key, managers = cfg.managers.len(), "monthly recap queued");
    Ok(cfg.managers.len())
}

fn monthly_data(
    cfg: &Config,
    lang: &str,
    month: report::Month,
    lines: &[report::Line],
    m: &Manager,
    filename: &str,
) -> Value {
    let s = report::Summary::of(lines);
    json!({
        "helpdesk": {"name": cfg.helpdesk.name, "address": cfg.helpdesk.address},
        "reader": {"name": m.name},
        "month": {"key": month.key(), "label": month.label(lang)},
        "filename": filename,
        "tickets": s.tickets,
        "response": {
            "met": s.response_met,
            "breached": s.response_breached,
            "percent": view::percent(lang, report::Summary::percent(s.response_met, s.response_breached)),
        },
        "resolution": {
            "met": s.resolution_met,
            "breached": s.resolution_breached,
            "percent": view::percent(lang, report::Summary::percent(s.resolution_met, s.resolution_breached)),
        },
    })
}

/// The local date "now" falls on.
pub fn today(cfg: &Config, clock: &dyn Clock) -> NaiveDate {
    clock
        .now()
        .with_timezone(&cfg.helpdesk.timezone)
        .date_naive()
}

fn find_manager<'a>(cfg: &'a Config, email: &str) -> Result<&'a Manager> {
    cfg.managers
        .iter()
        .find(|m| m.email.eq_ignore_ascii_case(email.trim()))
        .with_context(|| format!("`{email}` is not in [[managers]]"))
}

/// `loket digest --preview`: the digest of `date` (default today) for one manager or, without
/// one, for every category. The HTML carries its chart as a `data:` URI.
pub fn preview(
    conn: &Connection,
    env: &Env,
    date: Option<NaiveDate>,
    manager: Option<&str>,
) -> Result<Digest> {
    let cfg = &env.cfg;
    let date = date.unwrap_or_else(|| today(cfg, env.clock.as_ref()));
    let reader = manager.map(|e| find_manager(cfg, e)).transpose()?;
    let period = Period::before(date, &cfg.digest.weekdays);
    let rows = load_rows(conn, cfg.helpdesk.timezone, period)?;
    build(
        cfg,
        &env.renderer,
        &rows,
        date,
        env.clock.now(),
        reader,
        ChartIn::DataUri,
    )
}

/// How long `loket digest --send` keeps its mails from a running daemon's sender while it
/// delivers them itself; after that (a crash, a hung server) the daemon sends them.
const HOLD_MINUTES: i64 = 10;

/// `loket digest --send`, the queueing half: the digest of `date` (default today) for every
/// manager (or one), committed to the outbox but held for `HOLD_MINUTES`. When `date` is
/// today the day's `job_runs` row is written too, so the scheduler does not send a second one.
/// Returns the outbox ids to deliver.
pub fn queue_now(
    conn: &mut Connection,
    env: &Env,
    date: Option<NaiveDate>,
    manager: Option<&str>,
) -> Result<Vec<i64>> {
    let cfg = &env.cfg;
    let now = env.clock.now();
    let today = today(cfg, env.clock.as_ref());
    let date = date.unwrap_or(today);
    let managers: Vec<&Manager> = match manager {
        Some(e) => vec![find_manager(cfg, e)?],
        None => cfg.managers.iter().collect(),
    };
    if managers.is_empty() {
        bail!("no [[managers]] in the config: nobody to send the digest to");
    }
    let period = Period::before(date, &cfg.digest.weekdays);
    let rows = load_rows(conn, cfg.helpdesk.timezone, period)?;
    let ctx = env.ctx(now);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if date == today {
        reports::record_job(&tx, DIGEST_JOB, &date.format("%Y-%m-%d").to_string(), now)?;
    }
    let mut ids = Vec::new();
    for m in managers {
        let id = queue_digest(&tx, &ctx, &rows, date, m)?;
        reports::hold_outbox(&tx, id, now + Duration::minutes(HOLD_MINUTES))?;
        ids.push(id);
    }
    tx.commit().context("committing the digest")?;
    Ok(ids)
}

/// `loket digest --send`, the sending half: delivers the held outbox mails `ids` over SMTP
/// now. A mail the server refuses for good is marked so; one that fails for another reason is
/// released to the daemon's sender, which retries it. Returns one line per mail.
pub async fn deliver(
    db: &std::sync::Mutex<Connection>,
    cfg: &Config,
    clock: Arc<dyn Clock>,
    ids: &[i64],
) -> Result<Vec<String>> {
    let mut session = outbound::smtp::Session::new(cfg)?;
    let mut report = Vec::new();
    let mut failed = false;
    for &id in ids {
        let mail = {
            let conn = db.lock().unwrap_or_else(|p| p.into_inner());
            reports::outbox_mail(&conn, id)?
        };
        let Some(mail) = mail else {
            // Already sent by a daemon whose hold ran out.
            continue;
        };
        let rcpt = mail.rcpt.join(", ");
        let from = mail
            .envelope_from
            .parse()
            .with_context(|| format!("envelope sender `{}`", mail.envelope_from))?;
        let to = mail
            .rcpt
            .iter()
            .map(|r| r.parse().with_context(|| format!("recipient `{r}`")))
            .collect::<Result<Vec<_>>>()?;
        let envelope =
            lettre::address::Envelope::new(Some(from), to).context("building the SMTP envelope")?;
        let result = session.send(&envelope, &mail.raw).await;
        let conn = db.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => {
                store::outbox::mark_sent(&conn, id, clock.now())?;
                report.push(format!("sent to {rcpt}"));
            }
            Err(outbound::smtp::Failure::Permanent(e)) => {
                failed = true;
                store::outbox::mark_dead(&conn, id, &e, clock.now())?;
                report.push(format!("REFUSED for {rcpt}: {e}"));
            }
            Err(outbound::smtp::Failure::Temporary(e)) => {
                failed = true;
                store::outbox::mark_failed(&conn, id, &e, clock.now())?;
                report.push(format!(
                    "not sent to {rcpt} ({e}); left in the outbox for `loket run` to retry"
                ));
            }
        }
    }
    session.close().await;
    if failed {
        bail!("{}", report.join("\n"));
    }
    Ok(report)
}

/// `loket report`: the recap of `month`, every category, as CSV or HTML.
pub fn month_report(
    conn: &Connection,
    cfg: &Config,
    month: report::Month,
    format: report::Format,
    now: DateTime<Utc>,
) -> Result<String> {
    let lines = report::load(conn, cfg.helpdesk.timezone, month, &Scope::all(), now)?;
    Ok(match format {
        report::Format::Csv => report::csv(cfg, &lines),
        report::Format::Html => report::html(cfg, &cfg.helpdesk.language, month, &lines, now),
    })
}
