//! Figures as the templates read them: every label, time and percentage already written out in
//! the mail's language, so the `digest` templates only place values and hold no logic.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::{Value, json};

use super::chart;
use super::figures::{Count, Figures, Listed, SlaLine, Target};
use crate::config::Config;
use crate::model::Status;
use crate::outbound;

/// Where the HTML finds the chart: `cid:` in a mail, a `data:` URI in a preview file.
pub struct ChartRef {
    pub src: String,
}

/// Who the digest is for (None: the preview of the whole helpdesk).
pub struct Reader<'a> {
    pub name: &'a str,
    pub categories: &'a [String],
}

fn is_id(lang: &str) -> bool {
    lang == "id"
}

pub fn weekday_name(lang: &str, w: Weekday) -> &'static str {
    let i = w.num_days_from_monday() as usize;
    const ID: [&str; 7] = [
        "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu",
    ];
    const EN: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    if is_id(lang) { ID[i] } else { EN[i] }
}

pub fn month_name(lang: &str, month: u32) -> &'static str {
    const ID: [&str; 12] = [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ];
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let i = (month.clamp(1, 12) - 1) as usize;
    if is_id(lang) { ID[i] } else { EN[i] }
}

/// "Senin, 23-11-2026".
pub fn date_label(lang: &str, d: NaiveDate) -> String {
    format!(
        "{}, {}",
        weekday_name(lang, d.weekday()),
        d.format("%d-%m-%Y")
    )
}

/// A status as a manager reads it (the requester's wording says "your answer").
/// A status a newer Loket wrote, unknown here, is shown as stored.
pub fn status_label(lang: &str, status: &str) -> String {
    let Ok(known) = status.parse::<Status>() else {
        return status.to_string();
    };
    let (id, en) = match known {
        Status::New | Status::Open => ("Terbuka", "Open"),
        Status::InProgress => ("Dikerjakan", "In progress"),
        Status::Waiting => ("Menunggu pemohon", "Waiting for requester"),
        Status::AwaitingApproval => ("Menunggu persetujuan", "Awaiting approval"),
        Status::Resolved => ("Selesai", "Resolved"),
        Status::Closed => ("Ditutup", "Closed"),
        Status::Rejected => ("Ditolak", "Rejected"),
        Status::Merged => ("Digabungkan", "Merged"),
    };
    if is_id(lang) { id } else { en }.to_string()
}

/// "3 hari 4 jam", "2 jam 10 menit", "25 menit" (and the English short forms).
pub fn span(lang: &str, d: Duration) -> String {
    let mins = d.num_minutes().max(0);
    let (days, hours, minutes) = (mins / 1440, mins / 60 % 24, mins % 60);
    let (dl, hl, ml) = if is_id(lang) {
        (" hari", " jam", " menit")
    } else {
        ("d", "h", "min")
    };
    if days > 0 {
        format!("{days}{dl} {hours}{hl}")
    } else if hours > 0 {
        format!("{hours}{hl} {minutes}{ml}")
    } else {
        format!("{minutes}{ml}")
    }
}

pub fn percent(lang: &str, p: Option<f64>) -> String {
    match p {
        None => "-".into(),
        Some(p) if is_id(lang) => format!("{p:.1}%").replace('.', ","),
        Some(p) => format!("{p:.1}%"),
    }
}

fn local(cfg: &Config, t: DateTime<Utc>) -> String {
    t.with_timezone(&cfg.helpdesk.timezone)
        .format("%d-%m-%Y %H:%M %Z")
        .to_string()
}

fn person(cfg: &Config, lang: &str, email: Option<&str>) -> String {
    match email {
        Some(e) => cfg
            .technician(e)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| e.to_string()),
        None => if is_id(lang) {
            "(belum ada)"
        } else {
            "(nobody)"
        }
        .into(),
    }
}

fn bucket_label(lang: &str, key: &Option<String>, none_id: &str, none_en: &str) -> String {
    match key {
        Some(k) => k.clone(),
        None => if is_id(lang) { none_id } else { none_en }.to_string(),
    }
}

/// `[{label, count}]` and the same as one text line ("P1 3 · P2 5").
fn buckets(items: Vec<(String, usize)>) -> Value {
    let line = items
        .iter()
        .map(|(l, c)| format!("{l} {c}"))
        .collect::<Vec<_>>()
        .join(" · ");
    json!({
        "items": items.iter().map(|(l, c)| json!({"label": l, "count": c})).collect::<Vec<_>>(),
        "line": if line.is_empty() { "-".to_string() } else { line },
    })
}

fn sla_line(lang: &str, l: &SlaLine) -> Value {
    json!({
        "met": l.met,
        "breached": l.breached,
        "no_target": l.no_target,
        "judged": l.met + l.breached,
        "percent": percent(lang, l.met_percent()),
    })
}

fn listed(cfg: &Config, lang: &str, l: &Listed, now: DateTime<Utc>) -> Value {
    let (target, due_local, left) = match l.due {
        Some((t, due)) => {
            let label = match (t, is_id(lang)) {
                (Target::Response, true) => "Respons",
                (Target::Response, false) => "Response",
                (Target::Resolution, true) => "Penyelesaian",
                (Target::Resolution, false) => "Resolution",
            };
            (
                Some(label),
                Some(local(cfg, due)),
                Some(span(lang, due - now)),
            )
        }
        None => (None, None, None),
    };
    json!({
        "tag": format!("{}-{}", cfg.helpdesk.tag_prefix, l.id),
        "subject": outbound::render::one_line(&l.subject),
        "status_label": status_label(lang, &l.status),
        "priority": l.priority.clone().unwrap_or_else(|| "-".into()),
        "owner_name": person(cfg, lang, l.owner.as_deref()),
        "age": span(lang, now - l.created_at),
        "created_local": local(cfg, l.created_at),
        "target_label": target,
        "due_local": due_local,
        "left": left,
    })
}

/// "Senin, 23-11-2026", or a range of two such days.
fn period_label(lang: &str, p: crate::digest::Period) -> String {
    if p.first_day == p.last_day {
        date_label(lang, p.first_day)
    } else {
        format!(
            "{} – {}",
            date_label(lang, p.first_day),
            date_label(lang, p.last_day)
        )
    }
}

/// Which categories the reader's digest covers, in words.
fn scope_label(lang: &str, reader: Option<&Reader<'_>>) -> String {
    match reader {
        Some(r) if !r.categories.iter().any(|c| c.trim() == "*") => {
            let cats = r.categories.join(", ");
            if is_id(lang) {
                format!("kategori {cats}")
            } else {
                format!("categories {cats}")
            }
        }
        _ => if is_id(lang) {
            "semua kategori"
        } else {
            "all categories"
        }
        .to_string(),
    }
}

/// The trend's days, totals and chart.
fn trend(lang: &str, f: &Figures, chart_ref: &ChartRef) -> Value {
    let days: Vec<Value> = f
        .trend
        .iter()
        .map(|d| {
            json!({
                "label": d.date.format("%d/%m").to_string(),
                "weekday": &weekday_name(lang, d.date.weekday())[..3],
                "new": d.new,
                "resolved": d.resolved,
            })
        })
        .collect();
    json!({
        "days": days,
        "total_new": f.trend.iter().map(|d| d.new).sum::<usize>(),
        "total_resolved": f.trend.iter().map(|d| d.resolved).sum::<usize>(),
        "max": chart::scale(&f.trend),
        "chart": {
            "src": chart_ref.src,
            "width": f.trend.len() as u32 * chart::COLUMN_WIDTH,
            "height": chart::HEIGHT,
            "cell": chart::COLUMN_WIDTH,
        },
        "colour_new": chart::hex(chart::NEW_COLOUR),
        "colour_resolved": chart::hex(chart::RESOLVED_COLOUR),
    })
}

/// The template values of one digest sent on `date`.
pub fn data(
    cfg: &Config,
    lang: &str,
    date: NaiveDate,
    f: &Figures,
    reader: Option<&Reader<'_>>,
    chart_ref: &ChartRef,
) -> Value {
    let now = f.now;
    let p = f.period;
    let b = &f.backlog;
    let by_count = |v: &[Count], none_id: &str, none_en: &str| {
        buckets(
            v.iter()
                .map(|c| (bucket_label(lang, &c.key, none_id, none_en), c.count))
                .collect(),
        )
    };
    let by_status = buckets(
        b.by_status
            .iter()
            .map(|c| (status_label(lang, c.key.as_deref().unwrap_or("")), c.count))
            .collect(),
    );
    let by_level = buckets(
        b.by_level
            .iter()
            .map(|(l, c)| (format!("L{l}"), *c))
            .collect(),
    );
    let technicians: Vec<Value> = f
        .technicians
        .iter()
        .map(|t| {
            json!({
                "name": person(cfg, lang, Some(&t.email)),
                "email": t.email,
                "open": t.open,
                "resolved": t.resolved,
            })
        })
        .collect();
    let approvals: Vec<Value> = f
        .approvals
        .iter()
        .map(|a| {
            json!({
                "tag": format!("{}-{}", cfg.helpdesk.tag_prefix, a.ticket_id),
                "subject": outbound::render::one_line(&a.subject),
                "approver": a.approver.clone().unwrap_or_else(|| "-".into()),
                "since_local": local(cfg, a.since),
                "waiting": span(lang, now - a.since),
            })
        })
        .collect();
    json!({
        "helpdesk": {"name": cfg.helpdesk.name, "address": cfg.helpdesk.address},
        "reader": {
            "name": reader.map(|r| r.name),
            "scope": scope_label(lang, reader),
        },
        "date_label": date_label(lang, date),
        "period": {
            "label": period_label(lang, p),
            "days": p.days(),
            "single": p.first_day == p.last_day,
        },
        "generated_local": local(cfg, now),
        "activity": {
            "new": f.activity.new,
            "resolved": f.activity.resolved,
            "closed": f.activity.closed,
            "reopened": f.activity.reopened,
            "acks_held": f.activity.acks_held,
        },
        "backlog": {
            "total": b.total,
            "overdue": b.overdue,
            "by_priority": by_count(&b.by_priority, "(tanpa prioritas)", "(no priority)"),
            "by_category": by_count(&b.by_category, "(tanpa kategori)", "(uncategorised)"),
            "by_status": by_status,
            "by_level": by_level,
        },
        "sla": {
            "response": sla_line(lang, &f.response),
            "resolution": sla_line(lang, &f.resolution),
        },
        "near": {
            "count": f.near_breach_count,
            "more": f.near_breach_count.saturating_sub(f.near_breach.len()),
            "items": f.near_breach.iter().map(|l| listed(cfg, lang, l, now)).collect::<Vec<_>>(),
        },
        "oldest": f.oldest.iter().map(|l| listed(cfg, lang, l, now)).collect::<Vec<_>>(),
        "technicians": technicians,
        "quarantined": {
            "count": f.quarantined_count,
            "more": f.quarantined_count.saturating_sub(f.quarantined.len()),
            "items": f.quarantined.iter().map(|q| json!({
                "id": q.id,
                "at_local": local(cfg, q.created_at),
                "reason": outbound::render::one_line(&q.reason),
                "message_id": q.message_id.as_deref().unwrap_or("-"),
            })).collect::<Vec<_>>(),
        },
        "approvals": {
            "count": f.approvals_count,
            "more": f.approvals_count.saturating_sub(f.approvals.len()),
            "items": approvals,
        },
        "trend": trend(lang, f, chart_ref),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_percentages_read_naturally() {
        assert_eq!(
            span("id", Duration::minutes(3 * 1440 + 4 * 60 + 5)),
            "3 hari 4 jam"
        );
        assert_eq!(span("en", Duration::minutes(130)), "2h 10min");
        assert_eq!(span("id", Duration::minutes(-5)), "0 menit");
        assert_eq!(percent("id", Some(75.0)), "75,0%");
        assert_eq!(percent("en", Some(66.666)), "66.7%");
        assert_eq!(percent("en", None), "-");
    }
}
