//! Service quality for the managers (issue 18): satisfaction (average, count, share of low
//! ratings, per technician and per category), working time reported with `#time`, merged
//! tickets, and the most frequent requests grouped by their subjects' words, so the IT head can
//! see what belongs in the service catalogue. Counted for one period and one manager's scope,
//! from rows the store read once.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::figures::Scope;
use crate::config::Config;
use crate::store::reports::{self, Rated};

/// How many groups of requests are shown.
pub const TOP_SUBJECTS: usize = 10;
/// Two subjects are one kind of request when they share this share of the smaller one's words.
const GROUP_OVERLAP: f64 = 0.5;

/// The period's rows, before any scope.
pub struct Rows {
    pub ratings: Vec<Rated>,
    pub time: Vec<(String, Option<String>, u64)>,
    pub merged: Vec<Option<String>>,
    pub subjects: Vec<(String, Option<String>)>,
}

pub fn load(conn: &Connection, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Rows> {
    Ok(Rows {
        ratings: reports::ratings_between(conn, from, to).context("reading ratings")?,
        time: reports::time_between(conn, from, to).context("reading time spent")?,
        merged: reports::merged_between(conn, from, to).context("reading merged tickets")?,
        subjects: reports::subjects_between(conn, from, to).context("reading subjects")?,
    })
}

/// Ratings of one technician, one category, or all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ratings {
    pub count: usize,
    pub sum: usize,
    /// Ratings at or below `[satisfaction] low`.
    pub low: usize,
    /// How many of each score, 1 to 5.
    pub scores: [usize; 5],
}

impl Ratings {
    fn add(&mut self, score: u8, low: u8) {
        self.count += 1;
        self.sum += usize::from(score);
        if score <= low {
            self.low += 1;
        }
        if (1..=5).contains(&score) {
            self.scores[usize::from(score) - 1] += 1;
        }
    }

    pub fn average(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    pub fn low_percent(&self) -> Option<f64> {
        (self.count > 0).then(|| self.low as f64 * 100.0 / self.count as f64)
    }
}

/// One row of the per-technician or per-category table.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// A technician's name (or address), a category's name; None: no owner / no category.
    pub key: Option<String>,
    pub ratings: Ratings,
    pub seconds: u64,
}

/// A kind of request: the subject that stands for it and how often it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub subject: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub ratings: Ratings,
    pub by_technician: Vec<Line>,
    pub by_category: Vec<Line>,
    pub seconds: u64,
    pub merged: usize,
    pub top_subjects: Vec<Group>,
}

/// The figures of `rows` within `scope`.
pub fn compute(cfg: &Config, rows: &Rows, scope: &Scope) -> Service {
    let low = cfg.satisfaction.low;
    let name = |email: &Option<String>| {
        email
            .as_deref()
            .map(|e| cfg.technician(e).map_or(e, |t| t.name.as_str()).to_string())
    };
    let mut all = Ratings::default();
    let mut techs: BTreeMap<Option<String>, Line> = BTreeMap::new();
    let mut cats: BTreeMap<Option<String>, Line> = BTreeMap::new();
    for r in rows
        .ratings
        .iter()
        .filter(|r| scope.covers(r.category.as_deref()))
    {
        all.add(r.score, low);
        entry(&mut techs, name(&r.owner)).ratings.add(r.score, low);
        entry(&mut cats, r.category.clone())
            .ratings
            .add(r.score, low);
    }
    let mut seconds = 0;
    for (tech, category, secs) in rows.time.iter().filter(|t| scope.covers(t.1.as_deref())) {
        seconds += secs;
        entry(&mut techs, name(&Some(tech.clone()))).seconds += secs;
        entry(&mut cats, category.clone()).seconds += secs;
    }
    let merged = rows
        .merged
        .iter()
        .filter(|c| scope.covers(c.as_deref()))
        .count();
    let subjects: Vec<&str> = rows
        .subjects
        .iter()
        .filter(|(_, c)| scope.covers(c.as_deref()))
        .map(|(s, _)| s.as_str())
        .collect();
    Service {
        ratings: all,
        by_technician: ordered(techs),
        by_category: ordered(cats),
        seconds,
        merged,
        top_subjects: groups(&subjects, TOP_SUBJECTS),
    }
}

fn entry(map: &mut BTreeMap<Option<String>, Line>, key: Option<String>) -> &mut Line {
    map.entry(key.clone()).or_insert_with(|| Line {
        key,
        ratings: Ratings::default(),
        seconds: 0,
    })
}

/// Most rated first, then most time; "none" last.
fn ordered(map: BTreeMap<Option<String>, Line>) -> Vec<Line> {
    let mut lines: Vec<Line> = map.into_values().collect();
    lines.sort_by(|a, b| {
        (
            a.key.is_none(),
            std::cmp::Reverse(a.ratings.count),
            std::cmp::Reverse(a.seconds),
        )
            .cmp(&(
                b.key.is_none(),
                std::cmp::Reverse(b.ratings.count),
                std::cmp::Reverse(b.seconds),
            ))
    });
    lines
}

/// The `top` most frequent kinds of request among `subjects`. A subject's words are its
/// significant words (`store::similar::terms`: no stopwords, reply prefixes, tags or numbers);
/// a subject joins the first group whose first subject shares at least half of the smaller set
/// of words, else starts a group. Candidate groups are found through an index from word to
/// groups, so a month of ten thousand subjects is not compared pair by pair.
pub fn groups(subjects: &[&str], top: usize) -> Vec<Group> {
    struct G {
        words: Vec<String>,
        subject: String,
        count: usize,
    }
    let mut gs: Vec<G> = Vec::new();
    let mut by_word: HashMap<String, Vec<usize>> = HashMap::new();
    for subject in subjects {
        let words = crate::store::similar::terms(subject, "");
        if words.is_empty() {
            continue;
        }
        let mut shared: HashMap<usize, usize> = HashMap::new();
        for w in &words {
            for &g in by_word.get(w).map(Vec::as_slice).unwrap_or(&[]) {
                *shared.entry(g).or_default() += 1;
            }
        }
        let joined = shared
            .into_iter()
            .filter(|&(g, n)| {
                let smaller = words.len().min(gs[g].words.len()).max(1);
                n as f64 / smaller as f64 >= GROUP_OVERLAP
            })
            .max_by_key(|&(g, n)| (n, std::cmp::Reverse(g)))
            .map(|(g, _)| g);
        match joined {
            Some(g) => gs[g].count += 1,
            None => {
                let g = gs.len();
                for w in &words {
                    by_word.entry(w.clone()).or_default().push(g);
                }
                gs.push(G {
                    words,
                    subject: representative(subject),
                    count: 1,
                });
            }
        }
    }
    // Most frequent first; among equals, the one that came first.
    let mut order: Vec<usize> = (0..gs.len()).collect();
    order.sort_by_key(|&g| (std::cmp::Reverse(gs[g].count), g));
    order
        .into_iter()
        .take(top)
        .map(|g| Group {
            subject: gs[g].subject.clone(),
            count: gs[g].count,
        })
        .collect()
}

/// A subject as a group's name: without the reply and forward prefixes and ticket tags in front
/// ("Re: [HD-3] Printer rusak" -> "Printer rusak").
fn representative(subject: &str) -> String {
    const PREFIXES: &[&str] = &[
        "re:", "fwd:", "fw:", "aw:", "wg:", "tr:", "balas:", "bls:", "rv:",
    ];
    let mut s = subject.trim();
    loop {
        let lower = s.to_lowercase();
        if let Some(p) = PREFIXES.iter().find(|p| lower.starts_with(**p)) {
            s = s[p.len()..].trim_start();
        } else if s.starts_with('[')
            && let Some(end) = s.find(']')
            && s[1..end]
                .rsplit_once('-')
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            s = s[end + 1..].trim_start();
        } else {
            return s.to_string();
        }
    }
}

/// "1j 30m" / "1h 30m", "45m".
pub fn hours(lang: &str, secs: u64) -> String {
    let m = secs / 60;
    let h = if lang == "id" { "j" } else { "h" };
    match (m / 60, m % 60) {
        (0, m) => format!("{m}m"),
        (hh, 0) => format!("{hh}{h}"),
        (hh, m) => format!("{hh}{h} {m}m"),
    }
}

/// The figures as the digest's and the monthly mail's templates read them.
pub fn data(lang: &str, s: &Service) -> Value {
    let none = |id: &str, en: &str| {
        if lang == "id" {
            id.to_string()
        } else {
            en.to_string()
        }
    };
    let avg = |r: &Ratings| r.average().map(|a| format!("{a:.1}"));
    let line = |l: &Line, none_label: String| {
        json!({
            "label": l.key.clone().unwrap_or(none_label),
            "count": l.ratings.count,
            "average": avg(&l.ratings),
            "low_percent": l.ratings.low_percent().map(|p| format!("{p:.0}%")),
            "time": (l.seconds > 0).then(|| hours(lang, l.seconds)),
        })
    };
    json!({
        "ratings": {
            "count": s.ratings.count,
            "average": avg(&s.ratings),
            "low": s.ratings.low,
            "low_percent": s.ratings.low_percent().map(|p| format!("{p:.0}%")),
            "scores": s.ratings.scores,
        },
        "by_technician": s.by_technician.iter().map(|l| line(l, none("(belum ada teknisi)", "(no owner)"))).collect::<Vec<_>>(),
        "by_category": s.by_category.iter().map(|l| line(l, none("(tanpa kategori)", "(no category)"))).collect::<Vec<_>>(),
        "time": (s.seconds > 0).then(|| hours(lang, s.seconds)),
        "merged": s.merged,
        "top_subjects": s.top_subjects.iter().map(|g| json!({"subject": g.subject, "count": g.count})).collect::<Vec<_>>(),
        "any": s.ratings.count > 0 || s.seconds > 0 || s.merged > 0 || !s.top_subjects.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        crate::fixtures::config(
            "helpdesk@example.test",
            "[[technicians]]\nemail = \"budi@x.test\"\nname = \"Budi\"\n",
        )
        .expect("config")
    }

    fn rated(score: u8, owner: Option<&str>, category: Option<&str>) -> Rated {
        Rated {
            score,
            owner: owner.map(str::to_string),
            category: category.map(str::to_string),
        }
    }

    #[test]
    fn satisfaction_and_time_per_technician_and_category() {
        let rows = Rows {
            ratings: vec![
                rated(5, Some("budi@x.test"), Some("printer")),
                rated(1, Some("budi@x.test"), Some("printer")),
                rated(4, Some("sari@x.test"), Some("network")),
                rated(2, None, None),
            ],
            time: vec![
                ("budi@x.test".into(), Some("printer".into()), 1800),
                ("budi@x.test".into(), Some("network".into()), 600),
            ],
            merged: vec![Some("printer".into()), None],
            subjects: vec![],
        };
        let s = compute(&cfg(), &rows, &Scope::all());
        assert_eq!((s.ratings.count, s.ratings.sum, s.ratings.low), (4, 12, 2));
        assert_eq!(s.ratings.average(), Some(3.0));
        assert_eq!(s.ratings.low_percent(), Some(50.0));
        assert_eq!(s.ratings.scores, [1, 1, 0, 1, 1]);
        let budi = &s.by_technician[0];
        assert_eq!(budi.key.as_deref(), Some("Budi"));
        assert_eq!((budi.ratings.count, budi.seconds), (2, 2400));
        assert_eq!(s.by_technician.last().and_then(|l| l.key.clone()), None);
        let printer = s
            .by_category
            .iter()
            .find(|l| l.key.as_deref() == Some("printer"))
            .unwrap();
        assert_eq!(
            (printer.ratings.average(), printer.seconds),
            (Some(3.0), 1800)
        );
        assert_eq!((s.seconds, s.merged), (2400, 2));

        // A manager of printers sees printers only.
        let only = compute(&cfg(), &rows, &Scope::new(&["printer".into()]));
        assert_eq!(
            (only.ratings.count, only.seconds, only.merged),
            (2, 1800, 1)
        );
    }

    #[test]
    fn an_empty_period_has_no_average() {
        let rows = Rows {
            ratings: vec![],
            time: vec![],
            merged: vec![],
            subjects: vec![],
        };
        let s = compute(&cfg(), &rows, &Scope::all());
        assert_eq!(s.ratings.average(), None);
        assert_eq!(s.ratings.low_percent(), None);
        let d = data("id", &s);
        assert_eq!(d["ratings"]["average"], Value::Null);
        assert_eq!(d["any"], Value::Bool(false));
    }

    #[test]
    fn subjects_group_by_their_words() {
        let subjects = [
            "Printer lantai 2 rusak",
            "VPN tidak bisa connect",
            "Re: [HD-3] printer lantai 2 rusak lagi",
            "RE: Printer lantai 2 rusak",
            "vpn tidak bisa connect dari rumah",
            "Reset password email",
            "Terima kasih",
        ];
        let g = groups(&subjects, 10);
        assert_eq!(
            g[0],
            Group {
                subject: "Printer lantai 2 rusak".into(),
                count: 3
            }
        );
        assert_eq!(
            g[1],
            Group {
                subject: "VPN tidak bisa connect".into(),
                count: 2
            }
        );
        assert_eq!(g[2].count, 1);
        assert!(
            g.iter()
                .all(|x| !x.subject.to_lowercase().contains("vpn") || x.count == 2)
        );
        assert_eq!(groups(&subjects, 1).len(), 1);
        assert_eq!(representative("Re: RE: [HD-3] Printer"), "Printer");
        assert_eq!(representative("[Urgent] Printer"), "[Urgent] Printer");
    }
}
