//! A message added to an existing ticket, and what it causes by who wrote it: a technician's
//! commands and answer to the requester, an approver's decision, or the requester's (or a
//! copied person's) new words for the technicians. Inside the caller's transaction.

use anyhow::{Context, Result};
use rusqlite::Connection;

use super::messages::{add_copied_participants, store_message};
use crate::config::Technician;
use crate::decide::{authn, commands, lifecycle, quote};
use crate::inbound::Inbound;
use crate::model::{EventKind, MessageKind, Status, Ticket};
use crate::outbound::mails::{self, NewFor};
use crate::outbound::{Ctx, labels};
use crate::store;

/// Stores `msg` on ticket `ticket` as `kind`; a person's reply then acts by who wrote it.
pub fn append(
    tx: &Connection,
    ctx: &Ctx<'_>,
    ticket: i64,
    kind: MessageKind,
    msg: &Inbound,
    raw: &[u8],
) -> Result<()> {
    let (cfg, now) = (ctx.cfg, ctx.now);
    let technician = authn::technician(cfg, msg);
    store_message(tx, cfg, ticket, kind, msg, raw, now)?;
    if kind == MessageKind::Reply && technician.is_none() {
        add_copied_participants(tx, cfg, ticket, msg, now)?;
    }
    let actor = msg
        .from
        .as_ref()
        .map(|a| a.email.as_str())
        .unwrap_or("unknown");
    store::events::add(tx, Some(ticket), now, actor, kind.event(), &msg.subject)?;
    store::tickets::touch(tx, ticket, now)?;
    if kind == MessageKind::Reply {
        let current = store::tickets::get(tx, ticket)?.context("ticket of a reply")?;
        let sender = msg.from.as_ref().map(|a| a.email.as_str()).unwrap_or("");
        match technician {
            Some(tech) => technician_reply(tx, ctx, &current, msg, tech)?,
            None if sender != current.requester_email
                && store::approvals::is_approver(tx, ticket, sender)? =>
            {
                approval_reply(tx, ctx, &current, msg, sender)?
            }
            None => requester_reply(tx, ctx, &current, msg)?,
        }
    }
    tracing::info!(ticket, kind = kind.as_str(), "message added to ticket");
    Ok(())
}

/// A technician's mail on a ticket: commands first (all or nothing), then their new text to the
/// requester. A reply whose commands fail changes nothing and relays nothing; the technician is
/// told what was wrong.
fn technician_reply(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    msg: &Inbound,
    tech: &Technician,
) -> Result<()> {
    let parsed = commands::parse(&msg.text);
    let mut known = super::known(ctx.cfg);
    for c in &parsed.commands {
        if let commands::Command::Merge(n) | commands::Command::Link(n) = c
            && let Some(t) = store::tickets::get(conn, *n)?
        {
            known.tickets.push(t);
        }
    }
    let mut errors: Vec<String> = parsed
        .invalid
        .iter()
        .map(|i| format!("{}: {}", i.line, i.problem))
        .collect();
    let plan = if errors.is_empty() {
        match lifecycle::apply(ticket, tech, &parsed.commands, &known, ctx.now) {
            Ok(plan) => Some(plan),
            Err(e) => {
                errors = e;
                None
            }
        }
    } else {
        None
    };
    let Some(mut plan) = plan else {
        store::events::add(
            conn,
            Some(ticket.id),
            ctx.now,
            &tech.email,
            EventKind::CommandsRefused,
            &errors.join("; "),
        )?;
        mails::About::new(conn, ctx, ticket).command_error(&errors, tech)?;
        tracing::info!(ticket = ticket.id, technician = %tech.email, "technician commands refused");
        return Ok(());
    };

    let text = quote::new_text(&parsed.rest);
    let answered = !text.is_empty()
        || plan
            .changes
            .iter()
            .any(|c| matches!(c, lifecycle::Change::Status { .. }));
    if answered && plan.ticket.first_response_at.is_none() {
        plan.ticket.first_response_at = Some(ctx.now);
    }
    if !text.is_empty() && plan.ticket.owner.is_none() {
        // The first technician to answer an unowned ticket takes it.
        plan.changes.insert(
            0,
            lifecycle::Change::Owner {
                from: None,
                to: Some(tech.email.clone()),
            },
        );
        plan.ticket.owner = Some(tech.email.clone());
    }
    if !text.is_empty() {
        mails::About::new(conn, ctx, &plan.ticket).relay(&text, tech)?;
        store::events::add(
            conn,
            Some(ticket.id),
            ctx.now,
            &tech.email,
            EventKind::Relayed,
            "",
        )?;
    }
    super::commit(conn, ctx, ticket, &plan, &tech.email, Some(tech))?;
    Ok(())
}

/// The requester (or someone they copied) wrote again: a resolved ticket reopens, and the
/// technicians in charge get the new text.
fn requester_reply(conn: &Connection, ctx: &Ctx<'_>, ticket: &Ticket, msg: &Inbound) -> Result<()> {
    let sender = msg.from.as_ref().context("a reply has a sender")?;
    let mut current = ticket.clone();
    let mut reopened = false;
    if let Some(plan) = lifecycle::on_requester_reply(ticket, ctx.now) {
        reopened = ticket.status == Status::Resolved;
        super::commit(conn, ctx, ticket, &plan, &sender.email, None)?;
        current = plan.ticket;
    }
    let to = super::responsible(ctx.cfg, &current);
    let attachments: Vec<&str> = msg.attachments.iter().map(|a| a.name.as_str()).collect();
    let text = quote::new_text(&msg.text);
    mails::About::new(conn, ctx, &current).tech_reply(
        &to,
        sender,
        &text,
        reopened,
        &attachments,
    )?;
    Ok(())
}

/// A reply from an approver of `ticket`. Only a decision that carries the pending approval's
/// token, from that approval's approver, counts; anything else changes nothing and is logged.
fn approval_reply(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    msg: &Inbound,
    sender: &str,
) -> Result<()> {
    use crate::decide::approval::{Decision, decision, token_in_subject, token_tag};
    // An answer that decides nothing: on the ticket's events and in the log, nothing else.
    let ignored = |why: &str, log: &str| -> Result<()> {
        store::events::add(
            conn,
            Some(ticket.id),
            ctx.now,
            sender,
            EventKind::ApprovalIgnored,
            why,
        )?;
        tracing::warn!(ticket = ticket.id, sender, "{log}");
        Ok(())
    };
    // A manager's From is as easy to forge as a technician's.
    if !authn::authenticated(ctx.cfg, msg) {
        return ignored(
            "not authenticated by the receiving server (security.authserv_id)",
            "unauthenticated approval answer ignored",
        );
    }
    let approval = match token_in_subject(&msg.subject) {
        Some(token) => store::approvals::by_token(conn, &token)?,
        None => None,
    };
    let Some(approval) = approval.filter(|a| a.ticket_id == ticket.id) else {
        return ignored(
            "no valid approval code in the subject",
            "approval answer without a valid token ignored",
        );
    };
    if approval.approver != sender {
        return ignored(
            &format!("code belongs to {}, not to the sender", approval.approver),
            "approval answer from the wrong address ignored",
        );
    }
    if approval.decided_at.is_some() {
        return ignored(
            "code already used (replayed decision)",
            "replayed approval answer ignored",
        );
    }
    // The decision, its event and the ticket's new status, in that order.
    let settle = |verdict: &str, event: EventKind, status: Status, note: Option<&str>| {
        store::approvals::decide(conn, approval.id, verdict, note, ctx.now)?;
        let detail = note.unwrap_or("");
        store::events::add(conn, Some(ticket.id), ctx.now, sender, event, detail)?;
        let quiet_note = if status == Status::Open {
            Some("approved")
        } else {
            note
        };
        super::set_status_quietly(conn, ctx, ticket, status, sender, quiet_note)
    };
    match decision(&msg.text) {
        None => {
            ignored(
                "no decision on the first line",
                "approval answer without a decision ignored",
            )?;
            let why = labels::approval_without_decision(&ctx.cfg.helpdesk.language);
            let token_tag = token_tag(&approval.token);
            mails::About::new(conn, ctx, ticket).approval_refused(sender, why, &token_tag)?;
        }
        Some(Decision::Approved(note)) => {
            let t = settle(
                "approved",
                EventKind::Approved,
                Status::Open,
                note.as_deref(),
            )?;
            mails::About::new(conn, ctx, &t).approved(&approval.approver, note.as_deref())?;
            let to = super::responsible(ctx.cfg, &t);
            super::notify_technicians(conn, ctx, &t, &to, NewFor::New, Some("approved"))?;
        }
        Some(Decision::Rejected(reason)) => {
            let rejected = (EventKind::ApprovalRejected, Status::Rejected);
            let t = settle("rejected", rejected.0, rejected.1, reason.as_deref())?;
            let note = reason.unwrap_or_else(|| "-".into());
            mails::About::new(conn, ctx, &t).rejected(&note)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! `#merge`, `#link` and `#time` through the pipeline.
    use crate::fixtures;
    use crate::pipeline::Outcome;
    use rusqlite::Connection;

    fn env() -> crate::env::Env {
        let staff = "[[technicians]]\nemail = \"budi@example.test\"\nname = \"Budi\"\n";
        let cfg = fixtures::config("helpdesk@example.test", staff).expect("config");
        fixtures::env(cfg, fixtures::clock_at("2026-11-23T02:00:00Z"))
    }

    fn one<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> T {
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    fn newest(conn: &Connection, kind: &str) -> (String, String) {
        let (rcpt, raw): (String, Vec<u8>) = conn
            .query_row(
                "SELECT rcpt, raw FROM outbox WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
                [kind],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or_else(|e| panic!("no {kind}: {e}"));
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("mail");
        (rcpt, msg.body_text(0).unwrap_or_default().into_owned())
    }

    /// HD-1 from Rina, HD-2 from Joko about the same printer, HD-3 from Rina, closed.
    fn three(env: &crate::env::Env) -> Connection {
        let mut conn = crate::store::open_in_memory().unwrap();
        let d = |conn: &mut Connection, from, id, subject, body| {
            fixtures::deliver(conn, env, (from, id), subject, body)
        };
        d(
            &mut conn,
            "rina@example.test",
            "r1@x",
            "Printer lt 3 macet",
            "Kertas nyangkut.",
        );
        d(
            &mut conn,
            "joko@example.test",
            "j1@x",
            "Printer lantai 3",
            "Tidak bisa print.",
        );
        d(
            &mut conn,
            "rina@example.test",
            "r2@x",
            "Mouse rusak",
            "Klik kiri mati.",
        );
        d(
            &mut conn,
            "budi@example.test",
            "b0@x",
            "[HD-3] Mouse rusak",
            "#close",
        );
        conn
    }

    #[test]
    fn a_merge_moves_the_mail_tells_both_requesters_and_later_mail_follows() {
        let env = env();
        let mut conn = three(&env);
        let out = fixtures::deliver(
            &mut conn,
            &env,
            ("budi@example.test", "b1@x"),
            "[HD-2] Printer lantai 3",
            "#merge HD-1",
        );
        assert!(
            matches!(out, Outcome::Appended { ticket: 2, .. }),
            "{out:?}"
        );
        assert_eq!(
            one::<String>(&conn, "SELECT status FROM tickets WHERE id = 2"),
            "merged"
        );
        assert_eq!(
            one::<i64>(&conn, "SELECT merged_into FROM tickets WHERE id = 2"),
            1
        );
        // Joko's request (and Budi's command mail) now stand on HD-1; Joko follows HD-1.
        assert_eq!(
            one::<i64>(
                &conn,
                "SELECT COUNT(*) FROM messages WHERE ticket_id = 2 AND direction = 'in'"
            ),
            0
        );
        assert_eq!(
            one::<i64>(
                &conn,
                "SELECT ticket_id FROM messages WHERE message_id = 'j1@x'"
            ),
            1
        );
        assert_eq!(
            one::<String>(
                &conn,
                "SELECT role FROM participants WHERE ticket_id = 1 AND email = 'joko@example.test'"
            ),
            "cc"
        );
        // One mail to each requester; no status mail besides.
        assert_eq!(
            one::<i64>(&conn, "SELECT COUNT(*) FROM outbox WHERE kind = 'merged'"),
            2
        );
        let (to, text) = newest(&conn, "merged");
        assert_eq!(to, "joko@example.test");
        assert!(text.contains("HD-2") && text.contains("HD-1"), "{text}");
        assert_eq!(
            one::<i64>(
                &conn,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'status' AND ticket_id = 2"
            ),
            0
        );

        // Joko answers the mail of HD-2: it lands on HD-1 and reaches its technician.
        let out = fixtures::deliver(
            &mut conn,
            &env,
            ("joko@example.test", "j2@x"),
            "Re: [HD-2] Printer lantai 3",
            "Sekarang malah mati total.",
        );
        assert_eq!(
            out,
            Outcome::Appended {
                ticket: 1,
                kind: crate::model::MessageKind::Reply
            }
        );
        let show = crate::view::render_show(&conn, &env.cfg, 2, false, env.clock.now()).unwrap();
        assert!(show.contains("merged into: HD-1"), "{show}");
    }

    #[test]
    fn a_merge_into_itself_a_closed_ticket_an_unknown_one_or_back_is_refused() {
        let env = env();
        let mut conn = three(&env);
        let cases = [
            ("#merge HD-2", "into itself"),
            ("#merge HD-3", "is closed"),
            ("#merge HD-99", "no such ticket"),
        ];
        for (i, (cmd, why)) in cases.iter().enumerate() {
            let id = format!("b{i}x@x");
            fixtures::deliver(
                &mut conn,
                &env,
                ("budi@example.test", &id),
                "[HD-2] Printer lantai 3",
                cmd,
            );
            let (to, text) = newest(&conn, "command_error");
            assert_eq!(to, "budi@example.test");
            assert!(text.contains(why), "{cmd}: {text}");
            assert_eq!(
                one::<String>(&conn, "SELECT status FROM tickets WHERE id = 2"),
                "open",
                "{cmd}"
            );
        }
        fixtures::deliver(
            &mut conn,
            &env,
            ("budi@example.test", "b5@x"),
            "[HD-2] Printer lantai 3",
            "#merge HD-1",
        );
        fixtures::deliver(
            &mut conn,
            &env,
            ("budi@example.test", "b6@x"),
            "[HD-1] Printer lt 3 macet",
            "#merge HD-2",
        );
        let (_, text) = newest(&conn, "command_error");
        assert!(text.contains("loop"), "{text}");
        assert_eq!(
            one::<String>(&conn, "SELECT status FROM tickets WHERE id = 1"),
            "open"
        );
    }

    #[test]
    fn time_and_links_show_on_the_ticket_and_bad_time_is_refused() {
        let env = env();
        let mut conn = three(&env);
        fixtures::deliver(
            &mut conn,
            &env,
            ("budi@example.test", "t1@x"),
            "[HD-1] Printer lt 3 macet",
            "#time 30m\n#link HD-3",
        );
        // A closed ticket takes time too (reported after the fact).
        fixtures::deliver(
            &mut conn,
            &env,
            ("budi@example.test", "t2@x"),
            "[HD-1] Printer lt 3 macet",
            "#waktu 1 jam",
        );
        fixtures::deliver(
            &mut conn,
            &env,
            ("budi@example.test", "t3@x"),
            "[HD-3] Mouse rusak",
            "#time 15m",
        );
        let show = crate::view::render_show(&conn, &env.cfg, 1, false, env.clock.now()).unwrap();
        assert!(show.contains("Time spent: 1h 30m"), "{show}");
        assert!(show.contains("Linked: HD-3"), "{show}");
        let show3 = crate::view::render_show(&conn, &env.cfg, 3, false, env.clock.now()).unwrap();
        assert!(
            show3.contains("Linked: HD-1") && show3.contains("Time spent: 15m"),
            "{show3}"
        );

        for bad in ["#time", "#time abc"] {
            let before: i64 = one(&conn, "SELECT COUNT(*) FROM time_spent");
            let id = format!("{bad}@x").replace([' ', '#'], "");
            fixtures::deliver(
                &mut conn,
                &env,
                ("budi@example.test", &id),
                "[HD-1] Printer lt 3 macet",
                &format!("{bad}\n#resolve"),
            );
            let (_, text) = newest(&conn, "command_error");
            assert!(text.contains("#time"), "{bad}: {text}");
            assert_eq!(one::<i64>(&conn, "SELECT COUNT(*) FROM time_spent"), before);
            // Nothing half-done: the #resolve beside it did not apply either.
            assert_eq!(
                one::<String>(&conn, "SELECT status FROM tickets WHERE id = 1"),
                "open"
            );
        }
    }
}
