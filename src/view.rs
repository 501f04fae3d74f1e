//! A ticket as text, the same for whoever asks: `loket tickets show` prints it, and a
//! technician's `#show HD-42` query gets it by mail. Reads the store and the config only.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::config::Config;
use crate::store;

/// A moment in the helpdesk's time zone, to the minute.
pub fn local(cfg: &Config, t: DateTime<Utc>) -> String {
    t.with_timezone(&cfg.helpdesk.timezone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// "2d 3h", "45m", "20s": how long, to two units.
pub fn span(d: chrono::Duration) -> String {
    let s = d.num_seconds().unsigned_abs();
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// One SLA target: due when, and met, missed, paused or running.
fn deadline(
    cfg: &Config,
    due: Option<DateTime<Utc>>,
    done: Option<DateTime<Utc>>,
    paused: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> String {
    let Some(due) = due else {
        return "no target".into();
    };
    let at = local(cfg, due);
    match (done, paused) {
        (Some(done), _) if done <= due => format!("due {at}, met {} (on time)", local(cfg, done)),
        (Some(done), _) => format!(
            "due {at}, met {} ({} late)",
            local(cfg, done),
            span(done - due)
        ),
        (None, Some(p)) => format!("due {at}, clock paused since {}", local(cfg, p)),
        (None, None) if due < now => format!("due {at}, OVERDUE by {}", span(now - due)),
        (None, None) => format!("due {at}, {} left", span(due - now)),
    }
}

/// What happened on the ticket, in order: mails in and out, and every event.
enum Entry {
    Message(store::messages::StoredMessage),
    Event(store::events::Event),
}

impl Entry {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Entry::Message(m) => m.created_at,
            Entry::Event(e) => e.at,
        }
    }

    /// Within one moment (one transaction), the cause first: the mail that came in, then the
    /// changes it made, then the mails they sent.
    fn rank(&self) -> u8 {
        match self {
            Entry::Message(m) if m.direction == "in" => 0,
            Entry::Event(_) => 1,
            Entry::Message(_) => 2,
        }
    }

    fn id(&self) -> i64 {
        match self {
            Entry::Message(m) => m.id,
            Entry::Event(e) => e.id,
        }
    }
}

/// How many lines of a body `tickets show` prints unless asked for all.
const BODY_LINES: usize = 12;

/// `loket tickets show`: the ticket, its SLA and approvals, participants, and the timeline.
pub fn render_show(
    conn: &Connection,
    cfg: &Config,
    id: i64,
    full: bool,
    now: DateTime<Utc>,
) -> Result<String> {
    let prefix = &cfg.helpdesk.tag_prefix;
    let t = store::tickets::get(conn, id)?.with_context(|| format!("no ticket {prefix}-{id}"))?;
    let mut out = String::new();
    let w = &mut out;
    write_fields(w, cfg, &t);
    write_sla(w, conn, cfg, &t, now)?;
    write_approvals(w, conn, cfg, id)?;
    write_participants(w, conn, id)?;
    write_service(w, conn, cfg, id)?;
    write_timeline(w, conn, cfg, id, full)?;
    Ok(out)
}

/// Linked tickets, working time per technician, and the requester's rating, when there are.
fn write_service(w: &mut String, conn: &Connection, cfg: &Config, id: i64) -> Result<()> {
    let prefix = &cfg.helpdesk.tag_prefix;
    let links = store::service::links(conn, id)?;
    if !links.is_empty() {
        let tags: Vec<String> = links.iter().map(|l| format!("{prefix}-{l}")).collect();
        let _ = writeln!(w, "Linked: {}", tags.join(", "));
    }
    let time = store::service::time_on(conn, id)?;
    if !time.is_empty() {
        let total: u64 = time.iter().map(|(_, s)| s).sum();
        let _ = writeln!(w, "Time spent: {}", minutes(total));
        for (tech, secs) in &time {
            let name = cfg
                .technician(tech)
                .map_or(tech.as_str(), |t| t.name.as_str());
            let _ = writeln!(w, "  {:<24} {}", name, minutes(*secs));
        }
    }
    if let Some(r) = store::service::rating(conn, id)? {
        let _ = writeln!(
            w,
            "Rating: {}/5 by {} at {}{}",
            r.score,
            r.rater,
            local(cfg, r.rated_at),
            r.comment
                .map(|c| format!(": {}", c.split_whitespace().collect::<Vec<_>>().join(" ")))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// Seconds as hours and minutes, "1h 30m", "45m" (a `#time` of seconds shows as "0m" only when
/// under a minute in all).
fn minutes(secs: u64) -> String {
    let m = secs / 60;
    match (m / 60, m % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// The ticket's fields, names with their labels.
fn write_fields(w: &mut String, cfg: &Config, t: &store::Ticket) {
    let prefix = &cfg.helpdesk.tag_prefix;
    let _ = writeln!(w, "{prefix}-{}: {}", t.id, t.subject);
    // "printer (Printer & scanner)": the name as typed in commands, the label as people read it.
    let label = |name: Option<&str>, labels: Vec<(&str, &str)>| match name {
        None => "-".to_string(),
        Some(n) => match labels.into_iter().find(|(k, _)| *k == n) {
            Some((_, l)) if !l.is_empty() && l != n => format!("{n} ({l})"),
            _ => n.to_string(),
        },
    };
    let _ = writeln!(w, "  status:     {}", t.status);
    let _ = writeln!(
        w,
        "  requester:  {}{}",
        t.requester_name
            .as_deref()
            .map(|n| format!("{n} "))
            .unwrap_or_default(),
        t.requester_email
    );
    let _ = writeln!(
        w,
        "  priority:   {}",
        label(
            t.priority.as_deref(),
            cfg.priorities
                .iter()
                .map(|p| (p.name.as_str(), p.label.as_str()))
                .collect()
        )
    );
    let _ = writeln!(
        w,
        "  category:   {}",
        label(
            t.category.as_deref(),
            cfg.categories
                .iter()
                .map(|c| (c.name.as_str(), c.label.as_str()))
                .collect()
        )
    );
    let _ = writeln!(w, "  level:      L{}", t.level);
    let _ = writeln!(w, "  owner:      {}", t.owner.as_deref().unwrap_or("-"));
    let _ = writeln!(w, "  language:   {}", t.language);
    let _ = writeln!(w, "  created:    {}", local(cfg, t.created_at));
    let _ = writeln!(w, "  updated:    {}", local(cfg, t.updated_at));
    if let Some(r) = t.resolved_at {
        let _ = writeln!(w, "  resolved:   {}", local(cfg, r));
    }
    if let Some(c) = t.closed_at {
        let _ = writeln!(w, "  closed:     {}", local(cfg, c));
    }
    if let Some(p) = t.parent_id {
        let _ = writeln!(w, "  follows:    {prefix}-{p}");
    }
    if let Some(m) = t.merged_into {
        let _ = writeln!(w, "  merged into: {prefix}-{m}");
    }
}

/// The SLA deadlines, how they stand, and the steps taken.
fn write_sla(
    w: &mut String,
    conn: &Connection,
    cfg: &Config,
    t: &store::Ticket,
    now: DateTime<Utc>,
) -> Result<()> {
    let id = t.id;
    let clock = store::tickets::sla_clock(conn, id)?;
    let steps = store::tickets::sla_steps(conn, id)?;
    let _ = writeln!(w, "SLA:");
    let _ = writeln!(
        w,
        "  response:   {}",
        deadline(
            cfg,
            clock.response_due,
            t.first_response_at,
            clock.paused_at,
            now
        )
    );
    let _ = writeln!(
        w,
        "  resolution: {}",
        deadline(
            cfg,
            clock.resolution_due,
            t.resolved_at,
            clock.paused_at,
            now
        )
    );
    for (step, at) in &steps {
        let _ = writeln!(w, "  {:<11} {}", format!("{step}:"), local(cfg, *at));
    }

    Ok(())
}

/// Approvals asked for, reminded, escalated and decided.
fn write_approvals(w: &mut String, conn: &Connection, cfg: &Config, id: i64) -> Result<()> {
    let approvals = store::approvals::for_ticket(conn, id)?;
    if !approvals.is_empty() {
        let _ = writeln!(w, "approvals:");
        for a in approvals {
            let _ = write!(w, "  {} asked {}", a.approver, local(cfg, a.requested_at));
            if let Some(r) = a.reminded_at {
                let _ = write!(w, ", reminded {}", local(cfg, r));
            }
            if let Some(e) = a.escalated_at {
                let _ = write!(w, ", managers told {}", local(cfg, e));
            }
            match (a.decision.as_deref(), a.decided_at) {
                (Some(d), Some(at)) => {
                    let _ = write!(w, ", {d} {}", local(cfg, at));
                }
                _ => {
                    let _ = write!(w, ", waiting");
                }
            }
            if let Some(reason) = a.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                let _ = write!(w, ": {}", reason.trim());
            }
            let _ = writeln!(w);
        }
    }

    Ok(())
}

fn write_participants(w: &mut String, conn: &Connection, id: i64) -> Result<()> {
    let _ = writeln!(w, "participants:");
    for p in store::tickets::participants(conn, id)? {
        let _ = writeln!(
            w,
            "  {:<10} {}{}",
            p.role,
            p.name
                .as_deref()
                .map(|n| format!("{n} "))
                .unwrap_or_default(),
            p.email
        );
    }

    Ok(())
}

/// Messages and events in the order they happened; bodies cut at `BODY_LINES` unless `full`.
fn write_timeline(
    w: &mut String,
    conn: &Connection,
    cfg: &Config,
    id: i64,
    full: bool,
) -> Result<()> {
    let mut timeline: Vec<Entry> = store::messages::for_ticket(conn, id)?
        .into_iter()
        .map(Entry::Message)
        .chain(
            store::events::for_ticket(conn, id)?
                .into_iter()
                .map(Entry::Event),
        )
        .collect();
    timeline.sort_by_key(|e| (e.at(), e.rank(), e.id()));
    let _ = writeln!(w, "timeline:");
    for entry in &timeline {
        let at = local(cfg, entry.at());
        match entry {
            Entry::Message(m) => {
                let (arrow, who) = if m.direction == "in" {
                    ("<-", m.from_email.clone().unwrap_or_default())
                } else {
                    ("->", m.to_list.clone())
                };
                let _ = writeln!(
                    w,
                    "  {at}  {arrow} mail {:<14} {who}  {}",
                    m.kind, m.subject
                );
                let lines: Vec<&str> = m.body.lines().collect();
                let shown = if full {
                    lines.len()
                } else {
                    lines.len().min(BODY_LINES)
                };
                for line in &lines[..shown] {
                    let _ = writeln!(w, "        | {line}");
                }
                if shown < lines.len() {
                    let _ = writeln!(
                        w,
                        "        | … {} more lines (--full shows them)",
                        lines.len() - shown
                    );
                }
                for (name, size, dropped) in &m.attachments {
                    let _ = match dropped {
                        Some(why) => writeln!(
                            w,
                            "        [attachment {name}, {size} bytes, not kept: {why}]"
                        ),
                        None => writeln!(w, "        [attachment {name}, {size} bytes]"),
                    };
                }
            }
            Entry::Event(e) => {
                let _ = writeln!(
                    w,
                    "  {at}  ** {:<19} {}{}",
                    e.kind,
                    e.actor,
                    if e.detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", e.detail)
                    }
                );
            }
        }
    }
    Ok(())
}

/// `HD-42`, `hd-42`, `[HD-42]` or `42` as a ticket number.
pub fn parse_ticket_ref(s: &str, prefix: &str) -> Result<i64> {
    let digits = s
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_uppercase();
    let digits = digits
        .strip_prefix(&format!("{}-", prefix.to_ascii_uppercase()))
        .unwrap_or(&digits);
    digits
        .parse()
        .with_context(|| format!("`{s}` is not a ticket like {prefix}-42"))
}
