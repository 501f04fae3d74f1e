//! `loket tickets list` and `loket tickets show`: filters checked against the config (and what
//! the store holds) before any query, and a ticket's whole story as one timeline.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::config::Config;
use crate::model::Status;
use crate::store::{self, tickets::ListFilter, tickets::OwnerFilter};

/// `--status active`: everything not yet resolved.
fn active() -> impl Iterator<Item = Status> {
    Status::ALL.into_iter().filter(|s| s.is_active())
}

/// The filters as typed on the command line (lists already split at commas).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListArgs {
    pub status: Vec<String>,
    pub priority: Vec<String>,
    pub category: Vec<String>,
    pub owner: Option<String>,
    pub older_than: Option<Duration>,
    pub limit: i64,
}

/// Parses `--older-than` ("3d", "12h", "2weeks").
pub fn parse_age(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not an age like 3d, 12h or 2weeks: {e}"))
}

/// Checks the typed filters and turns them into a store query. Priorities and categories are
/// those of the config, or any the store already holds (a category since removed from the
/// config still finds its old tickets); a typo is refused with the known names.
pub fn filter(
    args: &ListArgs,
    cfg: &Config,
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<ListFilter> {
    let mut statuses = Vec::new();
    for s in &args.status {
        let s = s.trim().to_ascii_lowercase();
        if s == "active" {
            statuses.extend(active().map(|s| s.as_str().to_string()));
        } else if let Ok(status) = s.parse::<Status>() {
            statuses.push(status.as_str().to_string());
        } else {
            bail!(
                "--status `{s}` is not a status (known: {}, or active for all before resolved)",
                Status::list(&Status::ALL)
            );
        }
    }
    // The store is only asked for the names its tickets carry when a name given is not in the
    // config: that is a scan of every ticket, too slow to run on every listing of a large store.
    let priorities = args
        .priority
        .iter()
        .map(|p| {
            pick_name(conn, "--priority", "priority", p, || {
                cfg.priorities.iter().map(|p| p.name.clone()).collect()
            })
        })
        .collect::<Result<_>>()?;
    let categories = args
        .category
        .iter()
        .map(|c| {
            pick_name(conn, "--category", "category", c, || {
                cfg.categories.iter().map(|c| c.name.clone()).collect()
            })
        })
        .collect::<Result<_>>()?;
    let owner = match args.owner.as_deref().map(str::trim) {
        None => OwnerFilter::Any,
        Some(o) if o.eq_ignore_ascii_case("none") => OwnerFilter::Nobody,
        Some(o) if o.contains('@') => OwnerFilter::Email(o.to_ascii_lowercase()),
        Some(o) => match cfg
            .technicians
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(o))
        {
            Some(t) => OwnerFilter::Email(t.email.clone()),
            None => bail!(
                "--owner `{o}` is not an address, `none`, or a technician's name (known: {})",
                if cfg.technicians.is_empty() {
                    "no technicians in the config".to_string()
                } else {
                    cfg.technicians
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        },
    };
    let created_before = args
        .older_than
        .map(|age| {
            chrono::Duration::from_std(age)
                .ok()
                .and_then(|age| now.checked_sub_signed(age))
                .with_context(|| format!("--older-than {age:?} is too long"))
        })
        .transpose()?;
    if args.limit < 1 {
        bail!("--limit must be at least 1");
    }
    Ok(ListFilter {
        statuses,
        priorities,
        categories,
        owner,
        created_before,
        limit: args.limit,
    })
}

/// The configured name `typed` means; failing that, one the store's tickets carry in `column`
/// (a category since removed from the config); else an error that lists them all.
fn pick_name(
    conn: &Connection,
    flag: &str,
    column: &str,
    typed: &str,
    configured: impl Fn() -> Vec<String>,
) -> Result<String> {
    if let Ok(name) = pick(flag, typed, &configured()) {
        return Ok(name);
    }
    pick(flag, typed, &known(conn, column, configured().into_iter())?)
}

/// The names in the config plus those the store's tickets carry in `column`.
fn known(
    conn: &Connection,
    column: &str,
    configured: impl Iterator<Item = String>,
) -> Result<Vec<String>> {
    let mut names: Vec<String> = configured.collect();
    // `column` is one of two literals from this module, never input.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT DISTINCT {column} FROM tickets WHERE {column} IS NOT NULL"
    ))?;
    for name in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let name = name?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The known name `typed` means (any case), or an error that lists them.
fn pick(flag: &str, typed: &str, known: &[String]) -> Result<String> {
    let typed = typed.trim();
    match known.iter().find(|k| k.eq_ignore_ascii_case(typed)) {
        Some(k) => Ok(k.clone()),
        None => bail!(
            "{flag} `{typed}` is not known (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ),
    }
}

/// The listing as a table, newest first.
pub fn render_list(list: &[store::Ticket], cfg: &Config) -> String {
    let prefix = &cfg.helpdesk.tag_prefix;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<17} {:<5} {:<15} {:<24} {:<16} {:<28} SUBJECT",
        "TICKET", "STATUS", "PRIO", "CATEGORY", "OWNER", "CREATED", "REQUESTER"
    );
    for t in list {
        let _ = writeln!(
            out,
            "{:<10} {:<17} {:<5} {:<15} {:<24} {:<16} {:<28} {}",
            format!("{prefix}-{}", t.id),
            t.status,
            t.priority.as_deref().unwrap_or("-"),
            t.category.as_deref().unwrap_or("-"),
            t.owner.as_deref().unwrap_or("-"),
            local(cfg, t.created_at),
            t.requester_email,
            t.subject
        );
    }
    out
}

pub use crate::view::{local, parse_ticket_ref, render_show, span};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;
    use crate::store::{approvals, events, messages, tickets};

    const CONFIG: &str = r#"
[[technicians]]
email = "andi@example.test"
name = "Andi"
[[categories]]
name = "printer"
label = "Printer & scanner"
"#;

    fn cfg() -> Config {
        crate::fixtures::config("helpdesk@example.test", CONFIG).unwrap()
    }

    fn args() -> ListArgs {
        ListArgs {
            limit: 50,
            ..Default::default()
        }
    }

    #[test]
    fn ticket_refs_parse() {
        assert_eq!(parse_ticket_ref("HD-42", "HD").unwrap(), 42);
        assert_eq!(parse_ticket_ref("hd-42", "HD").unwrap(), 42);
        assert_eq!(parse_ticket_ref("[HD-7]", "HD").unwrap(), 7);
        assert_eq!(parse_ticket_ref("42", "HD").unwrap(), 42);
        assert!(parse_ticket_ref("XX-42", "HD").is_err());
    }

    #[test]
    fn ages_parse_with_units() {
        assert_eq!(parse_age("3d").unwrap(), Duration::from_secs(3 * 86_400));
        assert_eq!(parse_age("12h").unwrap(), Duration::from_secs(12 * 3600));
        let err = parse_age("soon").unwrap_err();
        assert!(err.contains("soon"), "{err}");
    }

    #[test]
    fn filters_are_checked_and_normalised() {
        let conn = store::open_in_memory().unwrap();
        let cfg = cfg();
        let now = Utc::now();
        let f = filter(
            &ListArgs {
                status: vec!["Open".into(), "waiting".into()],
                priority: vec!["p1".into()],
                category: vec!["PRINTER".into()],
                owner: Some("andi".into()),
                older_than: Some(Duration::from_secs(3 * 86_400)),
                ..args()
            },
            &cfg,
            &conn,
            now,
        )
        .unwrap();
        assert_eq!(f.statuses, vec!["open", "waiting"]);
        assert_eq!(f.priorities, vec!["P1"]);
        assert_eq!(f.categories, vec!["printer"]);
        assert_eq!(f.owner, OwnerFilter::Email("andi@example.test".into()));
        assert_eq!(f.created_before, Some(now - chrono::Duration::days(3)));

        let active = filter(
            &ListArgs {
                status: vec!["active".into()],
                owner: Some("NONE".into()),
                ..args()
            },
            &cfg,
            &conn,
            now,
        )
        .unwrap();
        assert_eq!(active.statuses.len(), super::active().count());
        assert_eq!(active.owner, OwnerFilter::Nobody);

        for (bad, flag) in [
            (
                ListArgs {
                    status: vec!["opne".into()],
                    ..args()
                },
                "--status `opne`",
            ),
            (
                ListArgs {
                    priority: vec!["P9".into()],
                    ..args()
                },
                "--priority `P9`",
            ),
            (
                ListArgs {
                    category: vec!["printr".into()],
                    ..args()
                },
                "--category `printr`",
            ),
            (
                ListArgs {
                    owner: Some("Zaki".into()),
                    ..args()
                },
                "--owner `Zaki`",
            ),
            (ListArgs { limit: 0, ..args() }, "--limit"),
        ] {
            let err = filter(&bad, &cfg, &conn, now).unwrap_err().to_string();
            assert!(err.contains(flag), "{flag}: {err}");
        }
    }

    #[test]
    fn a_category_only_the_store_knows_is_accepted() {
        let conn = store::open_in_memory().unwrap();
        new_ticket(&conn, Some("retired"));
        let f = filter(
            &ListArgs {
                category: vec!["retired".into()],
                ..args()
            },
            &cfg(),
            &conn,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(f.categories, vec!["retired"]);
    }

    fn new_ticket(conn: &Connection, category: Option<&str>) -> i64 {
        let t = tickets::NewTicket {
            category,
            ..crate::fixtures::new_ticket()
        };
        tickets::insert(conn, &t).unwrap()
    }

    fn message(conn: &Connection, t: i64, direction: &str, kind: &str, ms: i64, body: &str) {
        messages::insert(
            conn,
            &messages::NewMessage {
                ticket_id: t,
                direction,
                kind,
                message_id: &format!("{kind}{ms}@example.test"),
                content_hash: None,
                from_email: Some("rina@example.test"),
                from_name: None,
                to_list: "rina@example.test".into(),
                cc_list: String::new(),
                subject: "Printer lantai 3 rusak",
                body,
                date: None,
                now: store::from_ms(ms),
                raw: None,
            },
        )
        .unwrap();
    }

    #[test]
    fn show_interleaves_messages_and_events_by_time() {
        let conn = store::open_in_memory().unwrap();
        let t = new_ticket(&conn, Some("printer"));
        let t0 = 1_700_000_000_000;
        // Written out of order, as different tasks would.
        message(&conn, t, "out", "ack", t0, "Terima kasih.");
        events::add(
            &conn,
            Some(t),
            store::from_ms(t0 + 60_000),
            "andi@example.test",
            EventKind::Status,
            "open -> in-progress",
        )
        .unwrap();
        message(&conn, t, "in", "new", t0, "Halaman kosong.");
        events::add(
            &conn,
            Some(t),
            store::from_ms(t0),
            "loket",
            EventKind::Created,
            "",
        )
        .unwrap();
        let long: String = (1..=20).map(|i| format!("baris {i}\n")).collect();
        message(&conn, t, "in", "reply", t0 + 120_000, &long);
        store::tickets::set_sla_clock(
            &conn,
            t,
            &crate::decide::sla::Clock {
                response_due: Some(store::from_ms(t0 + 3_600_000)),
                resolution_due: Some(store::from_ms(t0 + 7_200_000)),
                paused_at: None,
            },
        )
        .unwrap();
        store::tickets::record_sla_step(
            &conn,
            t,
            "response_breach",
            store::from_ms(t0 + 3_600_000),
        )
        .unwrap();
        approvals::insert(&conn, t, "dewi@example.test", "tok", store::from_ms(t0)).unwrap();

        let cfg = cfg();
        let now = store::from_ms(t0 + 5_400_000);
        let text = render_show(&conn, &cfg, t, false, now).unwrap();
        let pos = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing in:\n{text}"))
        };
        // Same moment: the incoming mail, then the event it caused, then the mail sent.
        assert!(pos("<- mail new") < pos("** created"), "{text}");
        assert!(pos("** created") < pos("-> mail ack"), "{text}");
        assert!(pos("-> mail ack") < pos("** status"), "{text}");
        assert!(pos("** status") < pos("<- mail reply"), "{text}");
        assert!(
            text.contains("category:   printer (Printer & scanner)"),
            "{text}"
        );
        assert!(
            text.contains("response:   due 2023-11-15 06:13, OVERDUE by 30m"),
            "{text}"
        );
        assert!(
            text.contains("resolution: due 2023-11-15 07:13, 30m left"),
            "{text}"
        );
        assert!(text.contains("response_breach: 2023-11-15 06:13"), "{text}");
        assert!(
            text.contains("dewi@example.test asked 2023-11-15 05:13, waiting"),
            "{text}"
        );
        assert!(text.contains("| baris 12\n"), "{text}");
        assert!(!text.contains("| baris 13\n"), "{text}");
        assert!(text.contains("8 more lines"), "{text}");
        let full = render_show(&conn, &cfg, t, true, now).unwrap();
        assert!(full.contains("| baris 20\n"), "{full}");
        assert!(
            render_show(&conn, &cfg, 99, false, now)
                .unwrap_err()
                .to_string()
                .contains("no ticket HD-99")
        );
    }

    #[test]
    fn spans_read_as_two_units() {
        assert_eq!(span(chrono::Duration::seconds(20)), "20s");
        assert_eq!(span(chrono::Duration::minutes(45)), "45m");
        assert_eq!(span(chrono::Duration::minutes(125)), "2h 5m");
        assert_eq!(span(chrono::Duration::hours(51)), "2d 3h");
        assert_eq!(span(chrono::Duration::days(-2)), "2d");
    }
}
