//! Resolved tickets like a new one, for the technicians' notification: the words of the new
//! request (subject and the start of the text, less the words every request has) are looked up
//! with FTS5 in the subjects and the requesters' messages of the tickets resolved in the last
//! year, ranked by BM25 (`rank`); a candidate counts only when it shares at least
//! `similar.min_overlap` of those words, because BM25 figures depend on the size of the store
//! and cannot be compared with one fixed threshold.

use std::collections::HashSet;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{from_ms, to_ms};
use crate::decide::words::tokens;

/// A resolved ticket like the new one.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    pub ticket_id: i64,
    pub subject: String,
    /// What the technician wrote with `#resolve`, if anything.
    pub note: Option<String>,
    pub resolved_at: DateTime<Utc>,
    /// The share of the new request's words it has, 0 to 1.
    pub overlap: f64,
}

/// At most this many words of a request are looked up: the subject's first, then the text's.
const MAX_TERMS: usize = 12;

/// Candidates ranked by BM25 before the overlap check.
const CANDIDATES: i64 = 10;
/// The start of a text that is read for words (its first lines say what it is about).
const TEXT_CHARS: usize = 1500;

/// Words every request has, in Bahasa Indonesia and English: they say nothing about what it is
/// about, and each would match most of the store.
const STOPWORDS: &[&str] = &[
    "ada",
    "adalah",
    "agar",
    "akan",
    "anda",
    "atas",
    "atau",
    "bagaimana",
    "bantu",
    "bantuan",
    "bapak",
    "belum",
    "berikut",
    "bisa",
    "bu",
    "dalam",
    "dan",
    "dapat",
    "dari",
    "dengan",
    "di",
    "dibantu",
    "dong",
    "hari",
    "ibu",
    "ini",
    "itu",
    "jam",
    "juga",
    "kami",
    "karena",
    "kasih",
    "ke",
    "kita",
    "lagi",
    "malam",
    "masih",
    "mau",
    "mohon",
    "nya",
    "pada",
    "pagi",
    "pak",
    "salam",
    "saya",
    "selamat",
    "siang",
    "sore",
    "sudah",
    "tapi",
    "terima",
    "terimakasih",
    "tersebut",
    "tidak",
    "tolong",
    "untuk",
    "yang",
    "yth",
    "and",
    "are",
    "can",
    "dear",
    "for",
    "from",
    "has",
    "have",
    "hello",
    "help",
    "not",
    "please",
    "regards",
    "thank",
    "thanks",
    "that",
    "the",
    "this",
    "was",
    "with",
    "you",
    "your",
    "best",
    "kind",
    "sent",
    "iphone",
    "android",
    "fwd",
    "halo",
    "hai",
    "hallo",
];

/// The words of a request that say what it is about: lower case, three letters or more, no
/// stopwords or bare numbers, each once, subject first.
pub fn terms(subject: &str, text: &str) -> Vec<String> {
    let start: String = text.chars().take(TEXT_CHARS).collect();
    let mut seen = HashSet::new();
    tokens(subject)
        .into_iter()
        .chain(tokens(&start))
        .filter(|w| w.chars().count() >= 3)
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .filter(|w| seen.insert(w.clone()))
        .take(MAX_TERMS)
        .collect()
}

/// Up to `limit` tickets resolved since `since` (not `exclude`) that share at least
/// `min_overlap` of the words of `subject` and `text`, most alike first.
pub fn similar(
    conn: &Connection,
    (subject, text): (&str, &str),
    since: DateTime<Utc>,
    exclude: i64,
    (limit, min_overlap): (usize, f64),
) -> Result<Vec<Similar>> {
    let words = terms(subject, text);
    if words.is_empty() || limit == 0 {
        return Ok(vec![]);
    }
    // Ranking is what costs: FTS5 scores every message that has one of the words looked up,
    // and an OR of a request's words ranked a tenth of the store (400 ms at 100,000 tickets).
    // The rare words are the ones that tell a near-duplicate, so only they are looked up.
    let rare = rare_terms(conn, &words)?;
    if rare.is_empty() {
        return Ok(vec![]);
    }
    let fts = rare
        .iter()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" OR ");
    // The best-ranked requesters' messages (each holds its subject too), then their tickets:
    // resolved ones of the window only (`resolved_at` is kept when a resolved ticket closes).
    let mut stmt = conn.prepare_cached(
        "WITH hits (id, rank) AS (
             SELECT rowid, rank FROM messages_fts WHERE messages_fts MATCH ?1
             ORDER BY rank LIMIT 50
         )
         SELECT t.id, t.subject, t.resolved_at, MIN(h.rank) AS best
         FROM hits h JOIN messages m ON m.id = h.id JOIN tickets t ON t.id = m.ticket_id
         WHERE t.status IN ('resolved', 'closed') AND t.resolved_at >= ?2 AND t.id <> ?3
         GROUP BY t.id ORDER BY best LIMIT ?4",
    )?;
    let candidates = stmt
        .query_map(params![fts, to_ms(since), exclude, CANDIDATES], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("looking for similar tickets")?;
    let asked: HashSet<&str> = words.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for (id, subject, resolved_at) in candidates {
        let body = first_request(conn, id)?;
        let theirs: HashSet<String> = terms(&subject, &body).into_iter().collect();
        let shared = asked.iter().filter(|w| theirs.contains(**w)).count();
        let overlap = shared as f64 / asked.len() as f64;
        if overlap >= min_overlap {
            found.push(Similar {
                ticket_id: id,
                subject,
                note: resolution_note(conn, id)?,
                resolved_at: from_ms(resolved_at),
                overlap,
            });
        }
    }
    // BM25 order among the ones that pass, the more alike first where the overlap differs.
    found.sort_by(|a, b| b.overlap.total_cmp(&a.overlap));
    found.truncate(limit);
    Ok(found)
}

/// Words looked up per new request: the rarest of its words.
const LOOKED_UP: usize = 3;
/// A word in this many messages or more is too common to look up (it still counts in the
/// overlap).
const COMMON: i64 = 200;

/// The rarest of `words` in the index, at most [`LOOKED_UP`], each in fewer than [`COMMON`]
/// messages. Each word's count is read from its doclist without ranking and stops at
/// [`COMMON`], so a common word costs no more than a rare one.
fn rare_terms<'w>(conn: &Connection, words: &'w [String]) -> Result<Vec<&'w str>> {
    let mut stmt = conn.prepare_cached(
        "SELECT COUNT(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?1 LIMIT ?2)",
    )?;
    let mut counted = Vec::new();
    for w in words {
        let phrase = format!("\"{}\"", w.replace('"', "\"\""));
        let docs: i64 = stmt.query_row(params![phrase, COMMON], |r| r.get(0))?;
        if docs > 0 && docs < COMMON {
            counted.push((docs, w.as_str()));
        }
    }
    counted.sort();
    Ok(counted
        .into_iter()
        .take(LOOKED_UP)
        .map(|(_, w)| w)
        .collect())
}

/// The start of a ticket's first inbound message.
fn first_request(conn: &Connection, ticket: i64) -> Result<String> {
    Ok(conn
        .prepare_cached(
            "SELECT substr(body, 1, ?2) FROM messages WHERE ticket_id = ?1 AND direction = 'in' \
             ORDER BY id LIMIT 1",
        )?
        .query_row(params![ticket, TEXT_CHARS as i64], |r| r.get(0))
        .optional()?
        .unwrap_or_default())
}

/// The note of the ticket's latest `#resolve` ("open -> resolved: toner diganti").
fn resolution_note(conn: &Connection, ticket: i64) -> Result<Option<String>> {
    let detail: Option<String> = conn
        .prepare_cached(
            "SELECT detail FROM events WHERE ticket_id = ?1 AND kind = 'status' \
             AND detail LIKE '% -> resolved%' ORDER BY id DESC LIMIT 1",
        )?
        .query_row([ticket], |r| r.get(0))
        .optional()?;
    Ok(detail
        .and_then(|d| d.split_once(": ").map(|(_, note)| note.trim().to_string()))
        .filter(|n| !n.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_leave_out_what_every_request_says() {
        assert_eq!(
            terms(
                "Re: Printer lantai 3 macet",
                "Selamat pagi Pak, printer di lantai 3 tidak bisa print, kertas nyangkut. Terima kasih"
            ),
            vec!["printer", "lantai", "macet", "print", "kertas", "nyangkut"]
        );
        assert!(terms("Halo", "ok 123").is_empty());
    }

    /// The newest technicians' notification of a new ticket, as text.
    fn last_tech_new(conn: &Connection) -> String {
        let raw: Vec<u8> = conn
            .query_row(
                "SELECT raw FROM outbox WHERE kind = 'tech_new' ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
        msg.body_text(0).unwrap_or_default().into_owned()
    }

    #[test]
    fn a_near_duplicate_shows_the_resolved_ticket_and_its_note() {
        let cfg = crate::fixtures::config(
            "helpdesk@example.test",
            "[[technicians]]\nemail = \"budi@example.test\"\nname = \"Budi\"\n",
        )
        .unwrap();
        let env = crate::fixtures::env(cfg, crate::fixtures::clock_at("2026-11-23T02:00:00Z"));
        let mut conn = crate::store::open_in_memory().unwrap();
        let deliver = |conn: &mut Connection, from, id, subject, body| {
            crate::fixtures::deliver(conn, &env, (from, id), subject, body)
        };
        deliver(
            &mut conn,
            "rina@example.test",
            "a@x",
            "Printer lantai 3 macet",
            "Kertas nyangkut di tray 2, lampu oranye berkedip.",
        );
        deliver(
            &mut conn,
            "budi@example.test",
            "b@x",
            "RE: [HD-1] Printer lantai 3 macet",
            "#resolve roller tray 2 dibersihkan\nSudah normal.",
        );
        deliver(
            &mut conn,
            "joko@example.test",
            "c@x",
            "VPN putus",
            "Tidak bisa login VPN dari rumah.",
        );
        assert!(
            !last_tech_new(&conn).contains("HD-1"),
            "an unrelated request lists nothing"
        );
        deliver(
            &mut conn,
            "sari@example.test",
            "d@x",
            "Printer macet lagi",
            "Printer lantai 3 kertasnya nyangkut terus di tray 2.",
        );
        let note = last_tech_new(&conn);
        assert!(note.contains("HD-1 Printer lantai 3 macet"), "{note}");
        assert!(note.contains("roller tray 2 dibersihkan"), "{note}");
        // Only resolved tickets: the open VPN ticket is not offered for another VPN request.
        deliver(
            &mut conn,
            "tono@example.test",
            "e@x",
            "VPN putus lagi",
            "Tidak bisa login VPN dari rumah.",
        );
        assert!(
            !last_tech_new(&conn).contains("HD-3"),
            "{}",
            last_tech_new(&conn)
        );
    }
}
