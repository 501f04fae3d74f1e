//! A requester's rating of a resolved or closed ticket (`decide::satisfaction` read it, and
//! `decide::inbound` said it counts): the mail kept on the ticket, the rating stored (a later one
//! replaces it, and both are in the events), thanks to the rater, and a low rating mailed to the
//! owner and the managers. The ticket's status is left as it is: a rating is not a reopening.

use anyhow::{Context, Result};
use rusqlite::Connection;

use super::messages::store_message;
use crate::decide::satisfaction::Rating;
use crate::inbound::{Address, Inbound};
use crate::model::{EventKind, MessageKind};
use crate::outbound::Ctx;
use crate::outbound::mails;
use crate::store;

pub fn rate(
    tx: &Connection,
    ctx: &Ctx<'_>,
    ticket: i64,
    msg: &Inbound,
    raw: &[u8],
    rating: &Rating,
) -> Result<()> {
    let (cfg, now) = (ctx.cfg, ctx.now);
    let rater = msg.from.clone().context("a rating has a sender")?;
    let message = store_message(tx, cfg, ticket, MessageKind::Rating, msg, raw, now)?;
    let t = store::tickets::get(tx, ticket)?.context("ticket of a rating")?;
    let comment = rating.comment.as_deref();
    let before = store::service::rate(
        tx,
        ticket,
        (rating.score, comment),
        &rater.email,
        Some(message),
        now,
    )?;
    let detail = match &before {
        Some(b) => format!("{} -> {}", b.score, rating.score),
        None => rating.score.to_string(),
    };
    let detail = match comment {
        Some(c) => format!("{detail}: {}", one_line(c)),
        None => detail,
    };
    store::events::add(
        tx,
        Some(ticket),
        now,
        &rater.email,
        EventKind::Rated,
        &detail,
    )?;

    let mail = mails::About::new(tx, ctx, &t);
    let replaced = before.map(|b| b.score);
    mail.rating_thanks(&rater, (rating.score, comment), replaced)?;
    if rating.score <= cfg.satisfaction.low {
        let mut to: Vec<Address> = super::responsible(cfg, &t)
            .into_iter()
            .map(|tech| Address {
                name: Some(tech.name.clone()),
                email: tech.email.clone(),
            })
            .collect();
        for m in super::managers(cfg) {
            if !to.iter().any(|a| a.email == m.email) {
                to.push(m);
            }
        }
        mail.low_rating(to, &rater, (rating.score, comment))?;
    }
    tracing::info!(ticket, score = rating.score, "rating recorded");
    Ok(())
}

/// A comment as the events table's detail shows it: one line, not too long.
fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use crate::fixtures;
    use crate::model::MessageKind;
    use crate::pipeline::Outcome;
    use rusqlite::Connection;

    const STAFF: &str = r#"
[[technicians]]
email = "budi@example.test"
name = "Budi"
[[managers]]
email = "rina.head@example.test"
name = "Bu Rina"
"#;

    fn env(extra: &str) -> crate::env::Env {
        let cfg =
            fixtures::config("helpdesk@example.test", &format!("{STAFF}{extra}")).expect("config");
        fixtures::env(cfg, fixtures::clock_at("2026-11-23T02:00:00Z"))
    }

    fn one<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> T {
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    fn mails(conn: &Connection, kind: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT rcpt FROM outbox WHERE kind = ?1 ORDER BY id")
            .unwrap();
        stmt.query_map([kind], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// Ticket 1 from Andi, handled by Budi, closed with `last` (`#close` or `#resolve`).
    fn handled(env: &crate::env::Env, last: &str) -> Connection {
        let mut conn = crate::store::open_in_memory().unwrap();
        let d = |conn: &mut Connection, from, id, subject, body| {
            fixtures::deliver(conn, env, (from, id), subject, body)
        };
        d(
            &mut conn,
            "andi@example.test",
            "a1@x",
            "Printer macet",
            "Kertas nyangkut.",
        );
        d(
            &mut conn,
            "budi@example.test",
            "b1@x",
            "[HD-1] Printer macet",
            &format!("#assign me\n{last}"),
        );
        conn
    }

    #[test]
    fn a_rating_after_closure_is_kept_replaced_and_never_a_reopening() {
        let env = env("");
        let mut conn = handled(&env, "#close");
        let out = fixtures::deliver(
            &mut conn,
            &env,
            ("andi@example.test", "a2@x"),
            "Re: [HD-1] Printer macet",
            "5 terima kasih\n\n> Tiket HD-1 telah ditutup.",
        );
        assert_eq!(
            out,
            Outcome::Appended {
                ticket: 1,
                kind: MessageKind::Rating
            }
        );
        assert_eq!(
            one::<String>(&conn, "SELECT status FROM tickets WHERE id = 1"),
            "closed"
        );
        assert_eq!(one::<i64>(&conn, "SELECT COUNT(*) FROM tickets"), 1);
        assert_eq!(
            one::<i64>(&conn, "SELECT score FROM ratings WHERE ticket_id = 1"),
            5
        );
        assert_eq!(
            one::<String>(&conn, "SELECT comment FROM ratings WHERE ticket_id = 1"),
            "terima kasih"
        );
        assert_eq!(mails(&conn, "rating_thanks"), vec!["andi@example.test"]);
        assert!(mails(&conn, "low_rating").is_empty());
        // Nothing reached the technician as a reply.
        assert!(mails(&conn, "tech_reply").is_empty());

        // A second thought replaces the first; a low one reaches the owner and the managers.
        fixtures::deliver(
            &mut conn,
            &env,
            ("andi@example.test", "a3@x"),
            "Re: [HD-1] Printer macet",
            "1\nTernyata macet lagi.",
        );
        assert_eq!(
            one::<i64>(&conn, "SELECT score FROM ratings WHERE ticket_id = 1"),
            1
        );
        assert_eq!(one::<i64>(&conn, "SELECT COUNT(*) FROM ratings"), 1);
        let events: String = one(
            &conn,
            "SELECT group_concat(detail, ' | ') FROM events WHERE kind = 'rated'",
        );
        assert_eq!(events, "5: terima kasih | 5 -> 1: Ternyata macet lagi.");
        // One mail, to both.
        assert_eq!(
            mails(&conn, "low_rating"),
            vec!["budi@example.test,rina.head@example.test"]
        );
    }

    #[test]
    fn outsiders_machines_and_bad_numbers_do_not_rate() {
        let env = env("");
        let mut conn = handled(&env, "#close");
        // An outsider's tag is not followed: a new request.
        let out = fixtures::deliver(
            &mut conn,
            &env,
            ("joko@example.test", "j1@x"),
            "Re: [HD-1] Printer macet",
            "5",
        );
        assert!(matches!(out, Outcome::Created { .. }), "{out:?}");
        // A 7 is no rating: the reply to a closed ticket is a new request, as always.
        let out = fixtures::deliver(
            &mut conn,
            &env,
            ("andi@example.test", "a2@x"),
            "Re: [HD-1] Printer macet",
            "7",
        );
        assert!(matches!(out, Outcome::Created { .. }), "{out:?}");
        // An automatic answer is kept on the ticket and rates nothing.
        let raw = b"From: andi@example.test\r\nTo: helpdesk@example.test\r\nSubject: Re: [HD-1] Printer macet\r\nMessage-ID: <auto1@x>\r\nAuto-Submitted: auto-replied\r\n\r\n5\r\n";
        let out = crate::pipeline::process(&mut conn, &env, raw, &crate::pipeline::Source::Stdin)
            .unwrap();
        assert_eq!(
            out,
            Outcome::Appended {
                ticket: 1,
                kind: MessageKind::Auto
            }
        );
        assert_eq!(one::<i64>(&conn, "SELECT COUNT(*) FROM ratings"), 0);
    }

    #[test]
    fn a_resolved_ticket_takes_ratings_only_when_the_resolved_mail_asks() {
        let env_off = env("");
        let mut conn = handled(&env_off, "#resolve toner diganti");
        fixtures::deliver(
            &mut conn,
            &env_off,
            ("andi@example.test", "a2@x"),
            "Re: [HD-1] Printer macet",
            "5 mantap",
        );
        // Not asked: an ordinary reply, which reopens.
        assert_eq!(
            one::<String>(&conn, "SELECT status FROM tickets WHERE id = 1"),
            "in-progress"
        );

        let env_on = env("[satisfaction]\non_resolved = true\n");
        let mut conn = handled(&env_on, "#resolve toner diganti");
        let raw: Vec<u8> = one(&conn, "SELECT raw FROM outbox WHERE kind = 'resolved'");
        let resolved = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("mail");
        let text = resolved.body_text(0).unwrap_or_default();
        assert!(text.contains("angka 1-5"), "{text}");
        fixtures::deliver(
            &mut conn,
            &env_on,
            ("andi@example.test", "a2@x"),
            "Re: [HD-1] Printer macet",
            "5 mantap",
        );
        assert_eq!(
            one::<String>(&conn, "SELECT status FROM tickets WHERE id = 1"),
            "resolved"
        );
        assert_eq!(one::<i64>(&conn, "SELECT score FROM ratings"), 5);
        // Rated already: the closing mail does not ask again.
        fixtures::deliver(
            &mut conn,
            &env_on,
            ("budi@example.test", "b2@x"),
            "[HD-1] Printer macet",
            "#close",
        );
        let raw: Vec<u8> = one(&conn, "SELECT raw FROM outbox WHERE kind = 'closed'");
        let closed = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("mail");
        let text = closed.body_text(0).unwrap_or_default();
        assert!(text.contains("ditutup") && !text.contains("1-5"), "{text}");
    }

    #[test]
    fn ratings_are_taken_within_the_window_only_and_not_when_off() {
        let env = env("[satisfaction]\nwindow = \"1h\"\n");
        let mut conn = handled(&env, "#close");
        conn.execute(
            "UPDATE tickets SET closed_at = closed_at - 2 * 3600 * 1000",
            [],
        )
        .unwrap();
        let out = fixtures::deliver(
            &mut conn,
            &env,
            ("andi@example.test", "a2@x"),
            "Re: [HD-1] Printer macet",
            "5",
        );
        assert!(matches!(out, Outcome::Created { .. }), "{out:?}");

        let env = self::env("[satisfaction]\nenabled = false\n");
        let mut conn = handled(&env, "#close");
        let closing = mails(&conn, "closed");
        assert_eq!(closing.len(), 1);
        let out = fixtures::deliver(
            &mut conn,
            &env,
            ("andi@example.test", "a2@x"),
            "Re: [HD-1] Printer macet",
            "5",
        );
        assert!(matches!(out, Outcome::Created { .. }), "{out:?}");
    }
}
