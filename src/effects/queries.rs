//! Answers to questions asked by mail (`decide::queries`): the lists are read from the store,
//! shaped into rows and queued as one answer mail, and the question is recorded (so a
//! redelivery is not answered twice), all in the caller's transaction. Nothing else changes.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::config::{Config, Technician};
use crate::decide::lifecycle;
use crate::decide::queries::{Asked, Query, QueueFilter, RequesterQuery, TicketRef};
use crate::inbound::{Address, Inbound};
use crate::model::Status;
use crate::outbound::Ctx;
use crate::outbound::labels::{self, QueryProblem};
use crate::outbound::mails::{self, Hit, Row, Section, StatusAnswer};
use crate::store::{self, queries::Listed, queries::Target};
use crate::view;

/// How far back a requester's `#status` lists their tickets.
pub const STATUS_DAYS: i64 = 90;
/// At most this many tickets in one list of an answer; the rest is counted.
const MAX_ROWS: usize = 50;
/// At most this many search hits, as `loket search` shows by default.
const MAX_HITS: i64 = 20;

/// Answers `asked`, from the sender of `msg`; returns the outbox id of the answer.
pub fn answer(tx: &Connection, ctx: &Ctx<'_>, msg: &Inbound, asked: &Asked) -> Result<i64> {
    let sender = msg
        .requester()
        .cloned()
        .unwrap_or_else(|| mails::bare("unknown"));
    let (outbox, asker, ticket) = match asked {
        Asked::Technician { queries, invalid } => {
            let tech = ctx
                .cfg
                .technician(&sender.email)
                .ok_or_else(|| anyhow::anyhow!("a technician's question from a non-technician"))?;
            let sections = queries
                .iter()
                .map(|q| section(tx, ctx, tech, q))
                .collect::<Result<Vec<_>>>()?;
            let invalid: Vec<String> = invalid
                .iter()
                .map(|i| format!("{}: {}", i.line, i.problem))
                .collect();
            let id = mails::query_answer(tx, ctx, tech, msg, &sections, &invalid)?;
            (id, "technician", None)
        }
        Asked::Requester(q) => {
            let (id, ticket) = requester(tx, ctx, msg, &sender, q)?;
            (id, "requester", ticket)
        }
    };
    store::queries::record(
        tx,
        &store::queries::NewQuery {
            message_id: &msg.message_id,
            content_hash: &msg.content_hash,
            sender: &sender.email,
            asker,
            ticket_id: ticket,
            asked: &asked.summary(),
            outbox_id: Some(outbox),
            now: ctx.now,
        },
    )?;
    tracing::info!(asker, sender = %sender.email, "question answered");
    Ok(outbox)
}

/// Most urgent first: the next deadline (paused and target-less ones last), then the oldest.
fn by_deadline(list: &mut [Listed]) {
    list.sort_by_key(|l| {
        (
            l.next_due()
                .map(|(due, _)| due)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            l.ticket.created_at,
            l.ticket.id,
        )
    });
}

/// A ticket as a row of a list, in `lang`.
pub fn row(ctx: &Ctx<'_>, l: &Listed, lang: &str) -> Row {
    let t = &l.ticket;
    let next = l.next_due();
    let owner = t.owner.as_deref().map(|o| {
        ctx.cfg
            .technician(o)
            .map_or(o, |tech| tech.name.as_str())
            .to_string()
    });
    Row {
        tag: ctx.tag(t.id),
        subject: t.subject.clone(),
        status_label: t.status.label(lang).to_string(),
        priority: t.priority.clone(),
        category: t.category.clone(),
        level_label: labels::level_label(lang, t.level),
        owner,
        requester: t
            .requester_name
            .clone()
            .unwrap_or_else(|| t.requester_email.clone()),
        age: view::span(ctx.now - t.created_at),
        due_local: next.map(|(due, _)| ctx.local_time(due)),
        due_target: next.map(|(_, target)| {
            labels::sla_target(
                lang,
                match target {
                    Target::Response => "response",
                    Target::Resolution => "resolution",
                },
            )
            .to_string()
        }),
        due_in: next.map(|(due, _)| view::span(due - ctx.now)),
        overdue: next.is_some_and(|(due, _)| due < ctx.now),
        next: None,
    }
}

fn empty_section(asked: String) -> Section {
    Section {
        asked,
        rows: vec![],
        more: 0,
        text: None,
        hits: vec![],
        help: false,
        error: None,
        listing: false,
    }
}

fn listing(ctx: &Ctx<'_>, asked: String, mut list: Vec<Listed>, lang: &str) -> Section {
    by_deadline(&mut list);
    let more = list.len().saturating_sub(MAX_ROWS);
    Section {
        rows: list
            .iter()
            .take(MAX_ROWS)
            .map(|l| row(ctx, l, lang))
            .collect(),
        more,
        listing: true,
        ..empty_section(asked)
    }
}

/// A technician's open tickets.
pub fn mine(tx: &Connection, tech: &Technician) -> Result<Vec<Listed>> {
    store::queries::owned_by(tx, &tech.email)
}

/// The tickets still to be worked on that `tech` may take: their level and categories (as
/// notifications go, `lifecycle::candidates`), and not waiting for an approval.
pub fn takeable(cfg: &Config, tech: &Technician, active: Vec<Listed>) -> Vec<Listed> {
    active
        .into_iter()
        .filter(|l| l.ticket.status != Status::AwaitingApproval)
        .filter(|l| {
            lifecycle::candidates(cfg, l.ticket.level, l.ticket.category.as_deref())
                .iter()
                .any(|c| c.email == tech.email)
        })
        .collect()
}

fn section(tx: &Connection, ctx: &Ctx<'_>, tech: &Technician, q: &Query) -> Result<Section> {
    let cfg = ctx.cfg;
    let lang = cfg.technician_language(tech);
    Ok(match q {
        Query::Mine => listing(ctx, "#mine".into(), mine(tx, tech)?, lang),
        Query::Queue(f) => {
            let asked = queue_words(f);
            match queue(tx, cfg, tech, f, lang)? {
                Ok(list) => listing(ctx, asked, list, lang),
                Err(error) => Section {
                    error: Some(error),
                    ..empty_section(asked)
                },
            }
        }
        Query::Show(typed) => {
            let asked = format!("#show {typed}");
            let prefix = &cfg.helpdesk.tag_prefix;
            let error = |p| Section {
                error: Some(labels::query_problem(lang, p)),
                ..empty_section(asked.clone())
            };
            match view::parse_ticket_ref(typed, prefix) {
                Err(_) => error(QueryProblem::NotATicket(typed)),
                Ok(id) if store::tickets::get(tx, id)?.is_none() => {
                    error(QueryProblem::NoTicket(typed))
                }
                Ok(id) => Section {
                    text: Some(view::render_show(tx, cfg, id, false, ctx.now)?),
                    ..empty_section(asked.clone())
                },
            }
        }
        Query::Search(words) => {
            let asked = format!("#search {words}");
            match store::search::fts_query(words) {
                None => Section {
                    error: Some(labels::query_problem(lang, QueryProblem::NothingToSearch)),
                    ..empty_section(asked)
                },
                Some(fts) => {
                    let hits = store::search::search(tx, &fts, MAX_HITS, ("*", "*"))?
                        .into_iter()
                        .map(|h| Hit {
                            tag: ctx.tag(h.ticket_id),
                            status_label: labels::status_label(lang, &h.status),
                            subject: h.subject,
                            snippet: h.snippet,
                        })
                        .collect();
                    Section {
                        hits,
                        listing: true,
                        ..empty_section(asked)
                    }
                }
            }
        }
        Query::Help => Section {
            help: true,
            ..empty_section("#help".into())
        },
    })
}

/// `#queue P1 printer`, as the technician will recognise it.
fn queue_words(f: &QueueFilter) -> String {
    let mut words = vec!["#queue".to_string()];
    words.extend(f.priority.clone());
    words.extend(f.category.clone());
    words.extend(f.level.map(|l| format!("L{l}")));
    if f.unassigned {
        words.push("unassigned".into());
    }
    words.join(" ")
}

/// The queue narrowed by `f`, or what is wrong with the filter.
fn queue(
    tx: &Connection,
    cfg: &Config,
    tech: &Technician,
    f: &QueueFilter,
    lang: &str,
) -> Result<Result<Vec<Listed>, String>> {
    let priority = match &f.priority {
        None => None,
        Some(p) => match crate::decide::rules::priority(cfg, p) {
            Some(p) => Some(p.name.clone()),
            None => {
                let known: Vec<&str> = cfg.priorities.iter().map(|p| p.name.as_str()).collect();
                let problem = QueryProblem::UnknownPriority(p, &known.join(", "));
                return Ok(Err(labels::query_problem(lang, problem)));
            }
        },
    };
    let category = match &f.category {
        None => None,
        Some(c) => match crate::decide::rules::category(cfg, c) {
            Some(c) => Some(c.name.clone()),
            None => {
                let known: Vec<&str> = cfg.categories.iter().map(|c| c.name.as_str()).collect();
                let problem = QueryProblem::UnknownCategory(c, &known.join(", "));
                return Ok(Err(labels::query_problem(lang, problem)));
            }
        },
    };
    let list = takeable(cfg, tech, store::queries::active(tx)?)
        .into_iter()
        .filter(|l| {
            priority
                .as_ref()
                .is_none_or(|p| l.ticket.priority.as_ref() == Some(p))
        })
        .filter(|l| {
            category.as_ref().is_none_or(|c| {
                l.ticket
                    .category
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(c))
            })
        })
        .filter(|l| f.level.is_none_or(|n| l.ticket.level == n))
        .filter(|l| !f.unassigned || l.ticket.owner.is_none())
        .collect();
    Ok(Ok(list))
}

/// A requester's `#status`: their tickets, or one of them; returns the outbox id and the
/// ticket it was about.
fn requester(
    tx: &Connection,
    ctx: &Ctx<'_>,
    msg: &Inbound,
    sender: &Address,
    q: &RequesterQuery,
) -> Result<(i64, Option<i64>)> {
    let cfg = ctx.cfg;
    let auto_close = |lang: &str| labels::human_duration(lang, cfg.lifecycle.auto_close_after);
    let with_next = |l: &Listed, lang: &str| {
        let mut r = row(ctx, l, lang);
        r.next = Some(match l.ticket.merged_into {
            // Where its mail goes now says more than "merged".
            Some(into) => labels::merged_into(lang, &ctx.tag(into)),
            None => labels::next_step(lang, l.ticket.status, r.owner.as_deref(), &auto_close(lang)),
        });
        r
    };
    match q {
        RequesterQuery::Mine => {
            let lang = store::queries::requester_language(tx, &sender.email)?
                .unwrap_or_else(|| cfg.helpdesk.language.clone());
            let since = ctx.now - chrono::Duration::days(STATUS_DAYS);
            let list = store::queries::requested_by(tx, &sender.email, since, MAX_ROWS as i64)?;
            let rows: Vec<Row> = list.iter().map(|l| with_next(l, &lang)).collect();
            let answer = StatusAnswer::List {
                rows: &rows,
                days: STATUS_DAYS,
            };
            let id = mails::status_answer(tx, ctx, (sender, &lang), msg, answer)?;
            Ok((id, None))
        }
        RequesterQuery::Ticket(r) => {
            let (id, typed) = match r {
                TicketRef::Id(id) => (Some(*id), ctx.tag(*id)),
                TicketRef::Typed(t) => (
                    view::parse_ticket_ref(t, &cfg.helpdesk.tag_prefix).ok(),
                    t.clone(),
                ),
            };
            let theirs = match id
                .map(|id| store::queries::one(tx, id))
                .transpose()?
                .flatten()
            {
                Some(l)
                    if l.ticket.requester_email == sender.email
                        || store::tickets::is_participant(tx, l.ticket.id, &sender.email)? =>
                {
                    Some(l)
                }
                _ => None,
            };
            match theirs {
                Some(l) => {
                    let lang = l.ticket.language.clone();
                    let row = with_next(&l, &lang);
                    let answer = StatusAnswer::One {
                        row: &row,
                        id: l.ticket.id,
                    };
                    let out = mails::status_answer(tx, ctx, (sender, &lang), msg, answer)?;
                    Ok((out, Some(l.ticket.id)))
                }
                None => {
                    let lang = store::queries::requester_language(tx, &sender.email)?
                        .unwrap_or_else(|| cfg.helpdesk.language.clone());
                    let answer = StatusAnswer::NotYours { typed: &typed };
                    let out = mails::status_answer(tx, ctx, (sender, &lang), msg, answer)?;
                    Ok((out, None))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fixtures;
    use crate::fixtures::count;
    use crate::pipeline::Outcome;
    use rusqlite::Connection;

    const STAFF: &str = r#"
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
language = "en"
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

    fn env() -> crate::env::Env {
        let cfg = fixtures::config("helpdesk@example.test", STAFF).expect("config");
        fixtures::env(cfg, fixtures::clock_at("2026-11-23T02:00:00Z"))
    }

    /// The text of the newest outbox mail to `rcpt` of `kind`.
    fn last(conn: &Connection, rcpt: &str, kind: &str) -> String {
        let raw: Vec<u8> = conn
            .query_row(
                "SELECT raw FROM outbox WHERE rcpt = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1",
                [rcpt, kind],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("no {kind} to {rcpt}: {e}"));
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("mail");
        format!(
            "Subject: {}\n{}",
            msg.subject().unwrap_or(""),
            msg.body_text(0).unwrap_or_default()
        )
    }

    #[test]
    fn a_technicians_questions_get_one_answer_and_no_ticket() {
        let env = env();
        let mut conn = crate::store::open_in_memory().unwrap();
        let d = |conn: &mut Connection, from, id, subject, body| {
            fixtures::deliver(conn, &env, (from, id), subject, body)
        };
        d(
            &mut conn,
            "rina@example.test",
            "r1@x",
            "Printer macet",
            "Kertas nyangkut.",
        );
        d(
            &mut conn,
            "rina@example.test",
            "r2@x",
            "VPN putus",
            "Tidak bisa connect.",
        );
        d(
            &mut conn,
            "joko@example.test",
            "r3@x",
            "Printer lantai 3",
            "Tinta habis.",
        );
        // Round-robin gave the printer tickets to Budi; HD-1 is handed back to the queue.
        conn.execute("UPDATE tickets SET owner = NULL WHERE id = 1", [])
            .unwrap();
        let tickets = count(&conn, "SELECT COUNT(*) FROM tickets");

        let body = "#mine\n#queue unassigned\n#show HD-2\n#search tinta\n#frobnicate\n#queue P7\n";
        let outcome = d(&mut conn, "budi@example.test", "q1@x", "pertanyaan", body);
        assert_eq!(outcome, Outcome::Answered);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), tickets);
        let answer = last(&conn, "budi@example.test", "query_answer");
        let mine = &answer
            [answer.find("==== #mine").unwrap()..answer.find("==== #queue unassigned").unwrap()];
        assert!(mine.contains("HD-3") && !mine.contains("HD-1"), "{answer}");
        let queue = &answer
            [answer.find("==== #queue unassigned").unwrap()..answer.find("==== #show").unwrap()];
        // Budi takes printer tickets: HD-1 (nobody's); HD-3 is his, VPN is Sari's.
        assert!(
            queue.contains("HD-1") && !queue.contains("HD-3") && !queue.contains("HD-2"),
            "{queue}"
        );
        assert!(
            answer.contains("HD-2: VPN putus"),
            "#show prints the ticket: {answer}"
        );
        assert!(
            answer.contains("*Tinta* habis")
                || answer.contains("*tinta*")
                || answer.contains("Tinta"),
            "{answer}"
        );
        assert!(
            answer.contains("#frobnicate") && answer.contains("unknown query"),
            "{answer}"
        );
        assert!(answer.contains("prioritas `P7` tidak dikenal"), "{answer}");

        // Sari reads English, and a redelivery is not answered twice.
        d(&mut conn, "sari@example.test", "q2@x", "#mine", "");
        assert!(last(&conn, "sari@example.test", "query_answer").contains("Dear Sari"));
        assert_eq!(
            d(&mut conn, "sari@example.test", "q2@x", "#mine", ""),
            Outcome::Duplicate
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'query_answer'"
            ),
            2
        );
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM queries"), 2);

        // Anyone else's #mine is an ordinary mail: a ticket, and no list.
        let outcome = d(&mut conn, "joko@example.test", "q3@x", "#mine", "#mine");
        assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'query_answer'"
            ),
            2
        );
    }

    #[test]
    fn a_requester_sees_only_their_own_tickets() {
        let env = env();
        let mut conn = crate::store::open_in_memory().unwrap();
        let d = |conn: &mut Connection, from, id, subject, body| {
            fixtures::deliver(conn, &env, (from, id), subject, body)
        };
        d(
            &mut conn,
            "rina@example.test",
            "r1@x",
            "Printer macet",
            "Kertas nyangkut.",
        );
        d(
            &mut conn,
            "joko@example.test",
            "r2@x",
            "VPN rahasia",
            "Tidak bisa connect.",
        );
        d(
            &mut conn,
            "rina@example.test",
            "r3@x",
            "Email penuh",
            "Kotak surat penuh.",
        );
        let tickets = count(&conn, "SELECT COUNT(*) FROM tickets");

        assert_eq!(
            d(
                &mut conn,
                "rina@example.test",
                "q1@x",
                "tanya",
                "#status\n\nRina"
            ),
            Outcome::Answered
        );
        let list = last(&conn, "rina@example.test", "status_answer");
        assert!(list.contains("HD-1") && list.contains("HD-3"), "{list}");
        assert!(!list.contains("HD-2") && !list.contains("VPN"), "{list}");
        assert!(list.contains("menunggu ditangani teknisi"), "{list}");

        // Joko's ticket, asked for by Rina: refused in the same words as a ticket that is not.
        d(
            &mut conn,
            "rina@example.test",
            "q2@x",
            "tanya",
            "#status HD-2",
        );
        let refused = last(&conn, "rina@example.test", "status_answer");
        assert!(
            refused.contains("HD-2 tidak ada di antara tiket Anda") && !refused.contains("VPN"),
            "{refused}"
        );
        d(
            &mut conn,
            "rina@example.test",
            "q3@x",
            "tanya",
            "#status HD-99",
        );
        let missing = last(&conn, "rina@example.test", "status_answer");
        assert!(
            missing.contains("HD-99 tidak ada di antara tiket Anda"),
            "{missing}"
        );

        // On a reply: that ticket's state, no reopening, nothing relayed.
        d(
            &mut conn,
            "rina@example.test",
            "q4@x",
            "RE: [HD-1] Printer macet",
            "#status\n\n> dulu",
        );
        let one = last(&conn, "rina@example.test", "status_answer");
        assert!(one.contains("[HD-1]") && one.contains("Terbuka"), "{one}");
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM messages WHERE direction = 'in'"
            ),
            3
        );
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), tickets);
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'tech_reply'"
            ),
            0
        );
    }

    #[test]
    fn automatic_senders_and_the_rate_limit_get_no_answer() {
        let cfg = fixtures::config("helpdesk@example.test", &format!("{STAFF}\n")).expect("config");
        let mut cfg = cfg;
        cfg.helpdesk.ack_rate_limit = 2;
        let env = fixtures::env(cfg, fixtures::clock_at("2026-11-23T02:00:00Z"));
        let mut conn = crate::store::open_in_memory().unwrap();
        for i in 0..3 {
            let outcome = fixtures::deliver(
                &mut conn,
                &env,
                ("rina@example.test", &format!("q{i}@x")),
                "x",
                "#status",
            );
            if i < 2 {
                assert_eq!(outcome, Outcome::Answered);
            } else {
                let Outcome::Ignored { reason } = outcome else {
                    panic!("{outcome:?}")
                };
                assert!(reason.contains("rate limit"), "{reason}");
            }
        }
        let raw = "From: <budi@example.test>\r\nTo: <helpdesk@example.test>\r\nSubject: #mine\r\n\
                   Auto-Submitted: auto-replied\r\nMessage-ID: <auto@x>\r\n\r\n#mine\r\n";
        let outcome = crate::pipeline::process(
            &mut conn,
            &env,
            raw.as_bytes(),
            &crate::pipeline::Source::Stdin,
        )
        .unwrap();
        assert!(
            matches!(outcome, Outcome::Ignored { ref reason } if reason.contains("automatic")),
            "{outcome:?}"
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'query_answer'"
            ),
            0
        );
    }
}
