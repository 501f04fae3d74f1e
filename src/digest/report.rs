//! The monthly recap, the request log the procedures keep: every ticket created in a local
//! calendar month, one line each, as CSV (for the archive and spreadsheets) or as an HTML table
//! (to read). SLA columns are judged as of the moment the report is made, with the digest's
//! rules (`figures::outcome`).

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use rusqlite::Connection;

use super::figures::{self, Outcome, Scope, local_midnight};
use super::view;
use crate::config::Config;
use crate::model::Status;
use crate::store::reports::{self, ReportTicket};

/// A calendar month in the helpdesk's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// "2026-11".
    pub fn parse(s: &str) -> Result<Month> {
        let first = NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d")
            .with_context(|| format!("`{s}` is not a month like 2026-11"))?;
        Ok(Month::of(first))
    }

    pub fn of(d: NaiveDate) -> Month {
        Month {
            year: d.year(),
            month: d.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// "2026-11": the job period and the file name part.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    pub fn label(self, lang: &str) -> String {
        format!("{} {}", view::month_name(lang, self.month), self.year)
    }

    /// `[start, end)` in UTC.
    pub fn range(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            local_midnight(tz, self.first_day()),
            local_midnight(tz, self.next().first_day()),
        )
    }
}

/// Whether a target was met, as the recap writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Yes,
    No,
    /// The deadline is still ahead (or the clock paused before it).
    Pending,
    /// No target applies, or the ticket ended before its deadline without reaching it.
    NotApplicable,
}

impl Mark {
    fn from(o: Outcome) -> Mark {
        match o {
            Outcome::Met(_) => Mark::Yes,
            Outcome::Breached(_) => Mark::No,
            Outcome::Running => Mark::Pending,
            Outcome::NoTarget(_) | Outcome::Ended => Mark::NotApplicable,
        }
    }

    /// Stable English words in the CSV, so scripts reading it do not depend on the language.
    pub fn csv(self) -> &'static str {
        match self {
            Mark::Yes => "yes",
            Mark::No => "no",
            Mark::Pending => "pending",
            Mark::NotApplicable => "n/a",
        }
    }

    fn label(self, lang: &str) -> &'static str {
        match (self, lang == "id") {
            (Mark::Yes, true) => "ya",
            (Mark::Yes, false) => "yes",
            (Mark::No, true) => "tidak",
            (Mark::No, false) => "no",
            (Mark::Pending, true) => "berjalan",
            (Mark::Pending, false) => "running",
            (Mark::NotApplicable, _) => "-",
        }
    }
}

/// One ticket of the recap, with its SLA marks judged at the report's moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub ticket: ReportTicket,
    pub response: Mark,
    pub resolution: Mark,
}

/// Every ticket created in `month`, within `scope`.
pub fn load(
    conn: &Connection,
    tz: Tz,
    month: Month,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Vec<Line>> {
    let (from, to) = month.range(tz);
    let rows = reports::month_tickets(conn, from, to)
        .with_context(|| format!("reading the tickets of {}", month.key()))?;
    Ok(lines(rows, scope, now))
}

pub fn lines(rows: Vec<ReportTicket>, scope: &Scope, now: DateTime<Utc>) -> Vec<Line> {
    rows.into_iter()
        .filter(|t| scope.covers(t.category.as_deref()))
        .map(|t| {
            let response = figures::outcome(
                t.response_due_at,
                t.first_response_at,
                t.closed_at,
                t.sla_paused_at,
                now,
            );
            let done = t.resolved_at.or(if t.status == Status::Closed.as_str() {
                t.closed_at
            } else {
                None
            });
            let resolution =
                figures::outcome(t.resolution_due_at, done, t.closed_at, t.sla_paused_at, now);
            Line {
                response: Mark::from(response),
                resolution: Mark::from(resolution),
                ticket: t,
            }
        })
        .collect()
}

/// Sortable local time, "2026-11-23 09:15"; empty when there is none. Written by hand: a
/// recap of a busy month formats hundreds of thousands of these, and `format` parses its
/// pattern every time.
fn local(tz: Tz, t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        let l = t.with_timezone(&tz);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            l.year(),
            l.month(),
            l.day(),
            l.hour(),
            l.minute()
        )
    })
    .unwrap_or_default()
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. A value a
/// spreadsheet would run as a formula (a requester address like `=HYPERLINK(...)@x` comes from
/// outside) gets a leading apostrophe, the usual guard against CSV injection.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub const CSV_HEADER: &[&str] = &[
    "tag",
    "requester",
    "category",
    "priority",
    "level",
    "owner",
    "created",
    "first_response",
    "resolved",
    "closed",
    "response_sla_met",
    "resolution_sla_met",
    "messages",
    "time_spent_minutes",
    "rating",
];

/// The recap as CSV: a header line, then one line per ticket, CRLF line ends.
pub fn csv(cfg: &Config, lines: &[Line]) -> String {
    let tz = cfg.helpdesk.timezone;
    let mut out = String::with_capacity(64 + lines.len() * 160);
    out.push_str(&CSV_HEADER.join(","));
    out.push_str("\r\n");
    for l in lines {
        let t = &l.ticket;
        let row = [
            format!("{}-{}", cfg.helpdesk.tag_prefix, t.id),
            t.requester_email.clone(),
            t.category.clone().unwrap_or_default(),
            t.priority.clone().unwrap_or_default(),
            t.level.to_string(),
            t.owner.clone().unwrap_or_default(),
            local(tz, Some(t.created_at)),
            local(tz, t.first_response_at),
            local(tz, t.resolved_at),
            local(tz, t.closed_at),
            l.response.csv().to_string(),
            l.resolution.csv().to_string(),
            t.messages.to_string(),
            // Whole minutes, rounded; empty when nobody reported time.
            match t.time_seconds {
                0 => String::new(),
                secs => ((secs + 30) / 60).to_string(),
            },
            t.rating.map(|r| r.to_string()).unwrap_or_default(),
        ];
        let fields: Vec<String> = row.iter().map(|f| field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Totals of the recap, for the monthly mail and the HTML heading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub tickets: usize,
    pub response_met: usize,
    pub response_breached: usize,
    pub resolution_met: usize,
    pub resolution_breached: usize,
}

impl Summary {
    pub fn of(lines: &[Line]) -> Summary {
        let mut s = Summary {
            tickets: lines.len(),
            ..Summary::default()
        };
        for l in lines {
            match l.response {
                Mark::Yes => s.response_met += 1,
                Mark::No => s.response_breached += 1,
                _ => {}
            }
            match l.resolution {
                Mark::Yes => s.resolution_met += 1,
                Mark::No => s.resolution_breached += 1,
                _ => {}
            }
        }
        s
    }

    pub fn percent(met: usize, breached: usize) -> Option<f64> {
        (met + breached > 0).then(|| met as f64 * 100.0 / (met + breached) as f64)
    }
}

/// The recap as one HTML page: a plain table, styled by one style sheet (a file to open in a
/// browser, not a mail, and a busy month has tens of thousands of rows).
pub fn html(cfg: &Config, lang: &str, month: Month, lines: &[Line], now: DateTime<Utc>) -> String {
    let tz = cfg.helpdesk.timezone;
    let id = lang == "id";
    let title = if id {
        format!(
            "Rekap permintaan {} — {}",
            month.label(lang),
            cfg.helpdesk.name
        )
    } else {
        format!("Request log {} — {}", month.label(lang), cfg.helpdesk.name)
    };
    let headers: &[&str] = if id {
        &[
            "Tiket",
            "Pemohon",
            "Kategori",
            "Prioritas",
            "Level",
            "Teknisi",
            "Dibuat",
            "Respons pertama",
            "Selesai",
            "Ditutup",
            "SLA respons",
            "SLA penyelesaian",
            "Pesan",
        ]
    } else {
        &[
            "Ticket",
            "Requester",
            "Category",
            "Priority",
            "Level",
            "Owner",
            "Created",
            "First response",
            "Resolved",
            "Closed",
            "Response SLA",
            "Resolution SLA",
            "Messages",
        ]
    };
    let s = Summary::of(lines);
    let mut out = String::with_capacity(1024 + lines.len() * 300);
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>\n\
         <style>\n\
         body {{ font-family: Arial, Helvetica, sans-serif; font-size: 13px; color: #222222; }}\n\
         h2 {{ font-size: 18px; }}\n\
         table {{ border-collapse: collapse; font-size: 12px; }}\n\
         th, td {{ padding: 3px 6px; border-bottom: 1px solid #dddddd; white-space: nowrap; text-align: left; }}\n\
         th {{ background-color: #f0f0f0; }}\n\
         td.n {{ text-align: right; }}\n\
         td.no {{ color: #c00000; }}\n\
         </style></head>\n<body>\n<h2>{}</h2>\n<p>{}</p>\n",
        esc(lang),
        esc(&title),
        esc(&title),
        esc(&if id {
            format!(
                "{} tiket. SLA respons tercapai {}, SLA penyelesaian tercapai {}. Dibuat {}.",
                s.tickets,
                view::percent(lang, Summary::percent(s.response_met, s.response_breached)),
                view::percent(lang, Summary::percent(s.resolution_met, s.resolution_breached)),
                now.with_timezone(&tz).format("%d-%m-%Y %H:%M %Z"),
            )
        } else {
            format!(
                "{} tickets. Response SLA met {}, resolution SLA met {}. Made {}.",
                s.tickets,
                view::percent(lang, Summary::percent(s.response_met, s.response_breached)),
                view::percent(lang, Summary::percent(s.resolution_met, s.resolution_breached)),
                now.with_timezone(&tz).format("%d-%m-%Y %H:%M %Z"),
            )
        })
    ));
    out.push_str("<table>\n<tr>");
    for h in headers {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("</tr>\n");
    for l in lines {
        let t = &l.ticket;
        let owner = t
            .owner
            .as_deref()
            .map(|o| cfg.technician(o).map_or(o, |tech| tech.name.as_str()))
            .unwrap_or("");
        let mark = |m: Mark| match m {
            Mark::No => format!("<td class=\"no\">{}</td>", esc(m.label(lang))),
            _ => format!("<td>{}</td>", esc(m.label(lang))),
        };
        out.push_str("<tr>");
        for v in [
            format!("{}-{}", cfg.helpdesk.tag_prefix, t.id),
            t.requester_email.clone(),
            t.category.clone().unwrap_or_default(),
            t.priority.clone().unwrap_or_default(),
            format!("L{}", t.level),
            owner.to_string(),
            local(tz, Some(t.created_at)),
            local(tz, t.first_response_at),
            local(tz, t.resolved_at),
            local(tz, t.closed_at),
        ] {
            out.push_str(&format!("<td>{}</td>", esc(&v)));
        }
        out.push_str(&mark(l.response));
        out.push_str(&mark(l.resolution));
        out.push_str(&format!("<td class=\"n\">{}</td></tr>\n", t.messages));
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

/// `--format` of `loket report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Html,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "html" => Ok(Format::Html),
            other => bail!("`{other}` is not a report format: use csv or html"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_step_over_the_year() {
        let m = Month::parse("2026-12").expect("month");
        assert_eq!(m.key(), "2026-12");
        assert_eq!(m.next().key(), "2027-01");
        assert_eq!(Month::parse("2027-01").expect("month").previous(), m);
        assert!(Month::parse("2026-13").is_err());
        assert!(Month::parse("November").is_err());
        assert_eq!(m.label("id"), "Desember 2026");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(field("@x,y"), "\"'@x,y\"");
    }
}
