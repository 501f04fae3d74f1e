//! Service quality (migration 0010_service): satisfaction ratings, merged and linked tickets,
//! and the working time technicians report. Plain functions over the caller's connection; the
//! caller's transaction decides what is committed together.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{from_ms, to_ms};

/// A ticket's rating as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub score: u8,
    pub comment: Option<String>,
    pub rater: String,
    pub rated_at: DateTime<Utc>,
}

/// Stores `score` for `ticket`, replacing an earlier rating, which is returned (the caller
/// logs the replacement in the events table).
pub fn rate(
    conn: &Connection,
    ticket: i64,
    (score, comment): (u8, Option<&str>),
    rater: &str,
    message: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<Rating>> {
    let before = rating(conn, ticket)?;
    conn.prepare_cached(
        "INSERT INTO ratings (ticket_id, score, comment, rater, rated_at, message_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (ticket_id) DO UPDATE SET score = excluded.score, comment = excluded.comment, \
         rater = excluded.rater, rated_at = excluded.rated_at, message_id = excluded.message_id",
    )?
    .execute(params![ticket, score, comment, rater, to_ms(now), message])?;
    Ok(before)
}

pub fn rating(conn: &Connection, ticket: i64) -> Result<Option<Rating>> {
    Ok(conn
        .prepare_cached("SELECT score, comment, rater, rated_at FROM ratings WHERE ticket_id = ?1")?
        .query_row([ticket], |r| {
            Ok(Rating {
                score: r.get(0)?,
                comment: r.get(1)?,
                rater: r.get(2)?,
                rated_at: from_ms(r.get(3)?),
            })
        })
        .optional()?)
}

/// Records that `a` and `b` are related; false when they already were.
pub fn link(conn: &Connection, a: i64, b: i64, by: &str, now: DateTime<Utc>) -> Result<bool> {
    let (low, high) = (a.min(b), a.max(b));
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO links (low, high, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![low, high, to_ms(now), by])?;
    Ok(n == 1)
}

/// The tickets `ticket` is linked to, lowest number first.
pub fn links(conn: &Connection, ticket: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT high FROM links WHERE low = ?1 UNION SELECT low FROM links WHERE high = ?1 ORDER BY 1",
    )?;
    let rows = stmt.query_map([ticket], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds `seconds` of `technician`'s working time to `ticket`.
pub fn add_time(
    conn: &Connection,
    ticket: i64,
    technician: &str,
    seconds: u64,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO time_spent (ticket_id, technician, seconds, at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![ticket, technician, seconds as i64, to_ms(now)])?;
    Ok(())
}

/// The working time on `ticket` per technician, in seconds, most first.
pub fn time_on(conn: &Connection, ticket: i64) -> Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT technician, SUM(seconds) FROM time_spent WHERE ticket_id = ?1 \
         GROUP BY technician ORDER BY 2 DESC, 1",
    )?;
    let rows = stmt.query_map([ticket], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Where mail to ticket `id` goes: the end of its chain of merges (itself when it was never
/// merged). A chain is at most as long as the tickets merged into each other, and a loop cannot
/// be stored (a merged ticket takes no `#merge`); the bound only keeps a hand-edited database
/// from hanging the pipeline.
pub fn merge_target(conn: &Connection, id: i64) -> Result<i64> {
    let mut at = id;
    for _ in 0..32 {
        let next: Option<i64> = conn
            .prepare_cached("SELECT merged_into FROM tickets WHERE id = ?1")?
            .query_row([at], |r| r.get(0))
            .optional()?
            .flatten();
        match next {
            Some(n) if n != at => at = n,
            _ => return Ok(at),
        }
    }
    Ok(at)
}

/// Moves what ticket `from` holds onto `into`: its messages (with their attachments, which hang
/// on the messages) and its participants, the requester of `from` joining as a copied
/// participant so their later mail and the updates of `into` reach each other. The tickets'
/// own rows are the caller's (`tickets::update`).
pub fn move_into(conn: &Connection, from: i64, into: i64) -> Result<usize> {
    let moved = conn
        .prepare_cached("UPDATE messages SET ticket_id = ?2 WHERE ticket_id = ?1")?
        .execute(params![from, into])?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO participants (ticket_id, email, name, role) \
         SELECT ?2, email, name, CASE role WHEN 'requester' THEN 'cc' ELSE role END \
         FROM participants WHERE ticket_id = ?1",
    )?
    .execute(params![from, into])?;
    // The requester of `into` is never made a participant of its own ticket twice: the
    // requester row of `into`, if any, won the INSERT OR IGNORE above.
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{self, tickets};

    fn db() -> Connection {
        store::open_in_memory().expect("db")
    }

    fn ticket(conn: &Connection, who: &str) -> i64 {
        let now = "2026-11-23T02:00:00Z".parse().expect("time");
        tickets::insert(
            conn,
            &tickets::NewTicket {
                subject: "Printer",
                requester_email: who,
                requester_name: None,
                status: crate::model::Status::Open,
                priority: None,
                category: None,
                level: 1,
                owner: None,
                language: "id",
                parent_id: None,
                mailbox: None,
                now,
            },
        )
        .expect("ticket")
    }

    #[test]
    fn a_later_rating_replaces_the_earlier_and_returns_it() {
        let conn = db();
        let t = ticket(&conn, "rina@example.test");
        let now = "2026-11-24T02:00:00Z".parse().expect("time");
        assert_eq!(
            rate(&conn, t, (2, Some("lama")), "rina@example.test", None, now).unwrap(),
            None
        );
        let before = rate(&conn, t, (5, None), "rina@example.test", None, now).unwrap();
        assert_eq!(
            before.map(|r| (r.score, r.comment)),
            Some((2, Some("lama".into())))
        );
        assert_eq!(rating(&conn, t).unwrap().map(|r| r.score), Some(5));
    }

    #[test]
    fn links_show_from_both_sides_once() {
        let conn = db();
        let (a, b, c) = (
            ticket(&conn, "a@x.test"),
            ticket(&conn, "b@x.test"),
            ticket(&conn, "c@x.test"),
        );
        let now = "2026-11-24T02:00:00Z".parse().expect("time");
        assert!(link(&conn, b, a, "budi", now).unwrap());
        assert!(!link(&conn, a, b, "budi", now).unwrap());
        assert!(link(&conn, b, c, "budi", now).unwrap());
        assert_eq!(links(&conn, a).unwrap(), vec![b]);
        assert_eq!(links(&conn, b).unwrap(), vec![a, c]);
    }

    #[test]
    fn time_sums_per_technician() {
        let conn = db();
        let t = ticket(&conn, "a@x.test");
        let now = "2026-11-24T02:00:00Z".parse().expect("time");
        add_time(&conn, t, "budi@x.test", 1800, now).unwrap();
        add_time(&conn, t, "sari@x.test", 600, now).unwrap();
        add_time(&conn, t, "budi@x.test", 900, now).unwrap();
        assert_eq!(
            time_on(&conn, t).unwrap(),
            vec![("budi@x.test".into(), 2700), ("sari@x.test".into(), 600)]
        );
    }

    #[test]
    fn a_merge_moves_messages_and_people_and_mail_follows_the_chain() {
        let conn = db();
        let (into, from) = (ticket(&conn, "rina@x.test"), ticket(&conn, "agus@x.test"));
        let now = "2026-11-24T02:00:00Z".parse().expect("time");
        tickets::add_participant(
            &conn,
            into,
            "rina@x.test",
            None,
            crate::model::Role::Requester,
        )
        .unwrap();
        tickets::add_participant(
            &conn,
            from,
            "agus@x.test",
            None,
            crate::model::Role::Requester,
        )
        .unwrap();
        tickets::add_participant(&conn, from, "rina@x.test", None, crate::model::Role::Cc).unwrap();
        store::messages::insert(
            &conn,
            &store::messages::NewMessage {
                ticket_id: from,
                direction: "in",
                kind: "request",
                message_id: "m1@x.test",
                content_hash: Some("h"),
                from_email: Some("agus@x.test"),
                from_name: None,
                to_list: String::new(),
                cc_list: String::new(),
                subject: "Printer",
                body: "rusak",
                date: None,
                now,
                raw: None,
            },
        )
        .unwrap();
        assert_eq!(move_into(&conn, from, into).unwrap(), 1);
        assert_eq!(
            store::messages::tickets_for_message_id(&conn, "m1@x.test", 8).unwrap(),
            vec![into]
        );
        let people = tickets::participants(&conn, into).unwrap();
        let role = |e: &str| people.iter().find(|p| p.email == e).map(|p| p.role);
        assert_eq!(role("rina@x.test"), Some(crate::model::Role::Requester));
        assert_eq!(role("agus@x.test"), Some(crate::model::Role::Cc));
        conn.execute(
            "UPDATE tickets SET merged_into = ?2 WHERE id = ?1",
            [from, into],
        )
        .unwrap();
        assert_eq!(merge_target(&conn, from).unwrap(), into);
        assert_eq!(merge_target(&conn, into).unwrap(), into);
    }
}
