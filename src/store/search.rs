//! Full-text search over ticket subjects and inbound messages (FTS5 tables `tickets_fts` and
//! `messages_fts`, migration 0004_search; the triggers of 0008_search_queue note new rows, and
//! [`index_pending`] indexes them once per transaction). What a person types is
//! turned into an FTS5 query here, so no input can make a query syntax error.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use super::from_ms;

/// Turns what someone types into an FTS5 query. Every word must occur (any case, accents
/// ignored); `"quoted words"` must occur in that order; a trailing `*` matches the words that
/// begin so (`print*`); `OR` between two terms means either of them. Anything else is taken as
/// text to find, so FTS5 operators and punctuation in the input are harmless. None when nothing
/// searchable is left.
pub fn fts_query(input: &str) -> Option<String> {
    // Groups joined by AND; the terms inside one group joined by OR.
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut pending_or = false;
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let (text, quoted) = if c == '"' {
            chars.next();
            let text: String = chars.by_ref().take_while(|&c| c != '"').collect();
            (text, true)
        } else {
            let mut text = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    break;
                }
                text.push(c);
                chars.next();
            }
            (text, false)
        };
        if !quoted && text == "OR" {
            pending_or = !groups.is_empty();
            continue;
        }
        // A trailing * after a quoted phrase ("kertas mac"*) also makes its last word a prefix.
        let mut prefix = false;
        if quoted {
            while chars.peek() == Some(&'*') {
                chars.next();
                prefix = true;
            }
        }
        let mut word = text.as_str();
        while let Some(w) = word.strip_suffix('*') {
            word = w;
            prefix = true;
        }
        if !word.chars().any(char::is_alphanumeric) {
            // Nothing the tokenizer would index: an FTS5 term without tokens matches nothing.
            continue;
        }
        let term = format!(
            "\"{}\"{}",
            word.trim().replace('"', "\"\""),
            if prefix { "*" } else { "" }
        );
        match groups.last_mut() {
            Some(group) if pending_or => group.push(term),
            _ => groups.push(vec![term]),
        }
        pending_or = false;
    }
    if groups.is_empty() {
        return None;
    }
    Some(
        groups
            .into_iter()
            .map(|g| {
                if g.len() == 1 {
                    g.join("")
                } else {
                    format!("({})", g.join(" OR "))
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// One ticket that matched, with the best-matching passage.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub ticket_id: i64,
    pub status: String,
    pub subject: String,
    /// A few words around the match, the matched terms between the two markers given to
    /// [`search`]; on one line.
    pub snippet: String,
    pub created_at: DateTime<Utc>,
}

/// Indexes the tickets and inbound messages that the triggers of migration 0008 noted in
/// `search_pending`, and empties the list: one statement per table, so FTS5 writes one segment
/// for a whole batch of mail instead of two or three per message. The pipeline calls it just
/// before it commits; all of it happens or none (a savepoint, inside the caller's transaction
/// if there is one).
pub fn index_pending(conn: &Connection) -> Result<()> {
    // Nothing waiting (a duplicate, a batch of refusals): write nothing. `DELETE FROM` a table
    // without a WHERE clears it even when empty and so writes its root page, which made a
    // duplicate delivery commit (and sync) a page for nothing.
    let waiting: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM search_pending)")?
        .query_row([], |r| r.get(0))?;
    if !waiting {
        return Ok(());
    }
    conn.execute_batch("SAVEPOINT index_pending")?;
    let indexed = (|| -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO tickets_fts (rowid, subject) SELECT t.id, t.subject \
             FROM search_pending p JOIN tickets t ON t.id = p.id WHERE p.tbl = 'tickets'",
        )?
        .execute([])?;
        conn.prepare_cached(
            "INSERT INTO messages_fts (rowid, subject, body) SELECT m.id, m.subject, m.body \
             FROM search_pending p JOIN messages m ON m.id = p.id \
             WHERE p.tbl = 'messages' AND m.direction = 'in'",
        )?
        .execute([])?;
        conn.prepare_cached("DELETE FROM search_pending")?
            .execute([])?;
        Ok(())
    })();
    match indexed {
        Ok(()) => conn.execute_batch("RELEASE index_pending")?,
        Err(e) => {
            // Undo what part of it was done; if even that fails, SQLite has rolled the whole
            // transaction back by itself, which undoes it too.
            let _ = conn.execute_batch("ROLLBACK TO index_pending; RELEASE index_pending");
            return Err(e).context("updating the search index");
        }
    }
    Ok(())
}

/// Tickets matching the FTS5 query `fts` (see [`fts_query`]) in their subject or in the subject
/// or body of one of their inbound messages, best match first, one hit per ticket. `mark` goes
/// around the matched words in the snippet. Rows still waiting to be indexed (written outside
/// the pipeline, which indexes before it commits) are indexed first.
pub fn search(conn: &Connection, fts: &str, limit: i64, mark: (&str, &str)) -> Result<Vec<Hit>> {
    let waiting: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM search_pending)")?
        .query_row([], |r| r.get(0))?;
    if waiting {
        index_pending(conn)?;
    }
    // SQLite takes the bare column `snip` from the row that gave MIN(rank): the ticket's best
    // passage. bm25 ranks are negative, smaller is better.
    let mut stmt = conn.prepare_cached(
        "WITH hits (ticket_id, rank, snip) AS (
             SELECT messages.ticket_id, messages_fts.rank,
                    snippet(messages_fts, -1, ?3, ?4, '…', 12)
             FROM messages_fts JOIN messages ON messages.id = messages_fts.rowid
             WHERE messages_fts MATCH ?1
           UNION ALL
             SELECT tickets_fts.rowid, tickets_fts.rank, snippet(tickets_fts, 0, ?3, ?4, '…', 12)
             FROM tickets_fts WHERE tickets_fts MATCH ?1
         )
         SELECT t.id, t.status, t.subject, h.snip, MIN(h.rank) AS best, t.created_at
         FROM hits h JOIN tickets t ON t.id = h.ticket_id
         GROUP BY t.id ORDER BY best, t.id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![fts, limit, mark.0, mark.1], |r| {
        let snip: Option<String> = r.get(3)?;
        Ok(Hit {
            ticket_id: r.get(0)?,
            status: r.get(1)?,
            subject: r.get(2)?,
            snippet: one_line(snip.as_deref().unwrap_or("")),
            created_at: from_ms(r.get(5)?),
        })
    })?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .with_context(|| format!("searching for {fts}"))
}

/// Collapses the line breaks and runs of spaces a mail body brings into a snippet.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Messages indexed per transaction by [`rebuild`]: short write transactions, so a running
/// daemon waits at most a moment for its turn.
const REBUILD_BATCH: i64 = 500;

/// Empties the search index and fills it again from the tickets and inbound messages, in
/// batches, calling `progress(done, total)` after each. Safe beside a running daemon: rows
/// written after the start are indexed as usual (noted by the triggers, indexed by
/// [`index_pending`]), the batches fill in everything older.
/// Returns the number of messages indexed.
pub fn rebuild(conn: &mut Connection, mut progress: impl FnMut(u64, u64)) -> Result<u64> {
    let (upto, total) = {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // tickets_fts indexes every ticket, so FTS5 can re-read it whole; it is small.
        // Whatever was waiting to be indexed is covered by the rebuild: the tickets now, the
        // messages by the batches below.
        tx.execute_batch(
            "INSERT INTO tickets_fts (tickets_fts) VALUES ('rebuild');
             INSERT INTO messages_fts (messages_fts) VALUES ('delete-all');
             DELETE FROM search_pending;",
        )
        .context("emptying the search index")?;
        // messages_fts holds inbound messages only, so it is filled here rather than with
        // 'rebuild' (which would index every row). From this commit on the triggers index new
        // rows (through `search_pending`); everything up to `upto` is the batches' job.
        let (upto, total): (i64, i64) = tx.query_row(
            "SELECT COALESCE(MAX(id), 0), COUNT(*) FROM messages WHERE direction = 'in'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.commit()?;
        (upto, u64::try_from(total).unwrap_or(0))
    };
    progress(0, total);
    let mut last = 0i64;
    let mut done = 0u64;
    while last < upto {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (end, n): (Option<i64>, i64) = tx.query_row(
            "SELECT MAX(id), COUNT(*) FROM (SELECT id FROM messages \
             WHERE direction = 'in' AND id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3)",
            params![last, upto, REBUILD_BATCH],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let Some(end) = end else { break };
        tx.execute(
            "INSERT INTO messages_fts (rowid, subject, body) SELECT id, subject, body \
             FROM messages WHERE direction = 'in' AND id > ?1 AND id <= ?2",
            params![last, end],
        )
        .context("indexing messages")?;
        tx.commit()?;
        last = end;
        done += u64::try_from(n).unwrap_or(0);
        progress(done, total);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{self, messages};

    #[test]
    fn words_become_quoted_terms() {
        assert_eq!(
            fts_query("printer lantai 3").as_deref(),
            Some(r#""printer" "lantai" "3""#)
        );
        assert_eq!(fts_query("HD-42").as_deref(), Some(r#""HD-42""#));
        assert_eq!(fts_query("  ").as_deref(), None);
        assert_eq!(fts_query("- * ( )").as_deref(), None);
    }

    #[test]
    fn prefixes_phrases_and_or() {
        assert_eq!(fts_query("print*").as_deref(), Some(r#""print"*"#));
        assert_eq!(
            fts_query(r#""kertas macet" OR "paper jam" lantai"#).as_deref(),
            Some(r#"("kertas macet" OR "paper jam") "lantai""#)
        );
        assert_eq!(
            fts_query(r#""kertas mac"*"#).as_deref(),
            Some(r#""kertas mac"*"#)
        );
        // A dangling or leading OR is a word nobody meant: dropped.
        assert_eq!(fts_query("OR vpn OR").as_deref(), Some(r#""vpn""#));
        // Lower-case "or" is a word like any other.
        assert_eq!(fts_query("vpn or").as_deref(), Some(r#""vpn" "or""#));
        // FTS5 syntax in the input is text.
        assert_eq!(
            fts_query("NEAR(a b) col:x").as_deref(),
            Some(r#""NEAR(a" "b)" "col:x""#)
        );
    }

    fn seed(conn: &Connection) -> (i64, i64) {
        let now = Utc::now();
        let mut ids = vec![];
        for (subject, body) in [
            (
                "Printer lantai 3 rusak",
                "Printer di lantai 3 hanya mencetak halaman kosong.",
            ),
            ("VPN tidak bisa konek", "Sejak pagi VPN kantor putus terus."),
        ] {
            // Plain SQL rather than tickets::insert: the migration test seeds a store of an
            // older schema, without the columns later migrations added.
            conn.execute(
                "INSERT INTO tickets (subject, requester_email, status, priority, level, language, \
                 created_at, updated_at) VALUES (?1, 'rina@example.test', 'open', 'P3', 1, 'id', ?2, ?2)",
                rusqlite::params![subject, store::to_ms(now)],
            )
            .unwrap();
            let t = conn.last_insert_rowid();
            messages::insert(
                conn,
                &messages::NewMessage {
                    ticket_id: t,
                    direction: "in",
                    kind: "new",
                    message_id: &format!("m{t}@example.test"),
                    content_hash: None,
                    from_email: Some("rina@example.test"),
                    from_name: None,
                    to_list: String::new(),
                    cc_list: String::new(),
                    subject,
                    body,
                    date: None,
                    now,
                    raw: None,
                },
            )
            .unwrap();
            ids.push(t);
        }
        // An acknowledgement: outbound mail is not searched.
        messages::insert(
            conn,
            &messages::NewMessage {
                ticket_id: ids[1],
                direction: "out",
                kind: "ack",
                message_id: "ack@example.test",
                content_hash: None,
                from_email: None,
                from_name: None,
                to_list: String::new(),
                cc_list: String::new(),
                subject: "[HD-2] VPN tidak bisa konek",
                body: "Terima kasih, printer Anda kami catat.",
                date: None,
                now,
                raw: None,
            },
        )
        .unwrap();
        (ids[0], ids[1])
    }

    fn find(conn: &Connection, q: &str) -> Vec<i64> {
        let fts = fts_query(q).unwrap();
        search(conn, &fts, 10, ("[", "]"))
            .unwrap()
            .into_iter()
            .map(|h| h.ticket_id)
            .collect()
    }

    #[test]
    fn new_messages_are_indexed_and_found_by_ticket() {
        let conn = store::open_in_memory().unwrap();
        let (printer, vpn) = seed(&conn);
        assert_eq!(find(&conn, "printer lantai 3"), vec![printer]);
        assert_eq!(find(&conn, "kosong"), vec![printer]);
        assert_eq!(find(&conn, "PUTUS"), vec![vpn]);
        assert_eq!(find(&conn, "print*"), vec![printer]);
        assert_eq!(find(&conn, "kosong OR putus").len(), 2);
        assert!(find(&conn, "printer vpn").is_empty());
        // "terima kasih" appears only in the outbound acknowledgement.
        assert!(find(&conn, "terima kasih").is_empty());
        let hit = &search(&conn, &fts_query("kosong").unwrap(), 10, ("[", "]")).unwrap()[0];
        assert_eq!(hit.subject, "Printer lantai 3 rusak");
        assert_eq!(hit.status, "open");
        assert!(hit.snippet.contains("[kosong]"), "{}", hit.snippet);
    }

    #[test]
    fn odd_input_never_breaks_the_query() {
        let conn = store::open_in_memory().unwrap();
        seed(&conn);
        for q in [
            "\"",
            "\"\"\"",
            "a\"b",
            "AND",
            "NOT x",
            "x AND",
            "(",
            "*x",
            "x**",
            "NEAR(x)",
            "a:b",
            "^x",
            "{x}",
            "x + y",
            "'",
            "OR OR OR x",
            "ünïcödé",
            "日本語",
        ] {
            if let Some(fts) = fts_query(q) {
                search(&conn, &fts, 10, ("[", "]")).unwrap_or_else(|e| panic!("{q}: {e:#}"));
            }
        }
    }

    #[test]
    fn migration_indexes_what_was_stored_before() {
        let mut conn = Connection::open_in_memory().unwrap();
        let before = store::MIGRATIONS
            .iter()
            .position(|(name, _)| *name == "0004_search")
            .unwrap();
        for (_, sql) in &store::MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", before as i64)
            .unwrap();
        // Without the triggers yet: only the migration can index these.
        let (printer, _) = seed(&conn);
        store::migrate(&mut conn).unwrap();
        assert_eq!(find(&conn, "kosong"), vec![printer]);
        assert!(find(&conn, "terima kasih").is_empty());
    }

    #[test]
    fn rebuild_restores_the_index() {
        let mut conn = store::open_in_memory().unwrap();
        let (printer, _) = seed(&conn);
        index_pending(&conn).unwrap();
        conn.execute_batch("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')")
            .unwrap();
        assert!(find(&conn, "kosong").is_empty());
        let mut calls = vec![];
        let n = rebuild(&mut conn, |done, total| calls.push((done, total))).unwrap();
        assert_eq!(n, 2);
        assert_eq!(calls.first(), Some(&(0, 2)));
        assert_eq!(calls.last(), Some(&(2, 2)));
        assert_eq!(find(&conn, "kosong"), vec![printer]);
        // Rebuilding twice indexes nothing twice.
        rebuild(&mut conn, |_, _| {}).unwrap();
        let fts = fts_query("kosong").unwrap();
        assert_eq!(search(&conn, &fts, 10, ("[", "]")).unwrap().len(), 1);
        assert_eq!(indexed(&conn, "messages_fts", "kosong"), 1);
    }

    fn pending(conn: &Connection) -> i64 {
        crate::fixtures::count(conn, "SELECT COUNT(*) FROM search_pending")
    }

    fn indexed(conn: &Connection, table: &str, word: &str) -> i64 {
        crate::fixtures::count(
            conn,
            &format!("SELECT COUNT(*) FROM {table} WHERE {table} MATCH '\"{word}\"'"),
        )
    }

    #[test]
    fn new_rows_wait_for_index_pending_and_are_indexed_once() {
        let conn = store::open_in_memory().unwrap();
        let (printer, vpn) = seed(&conn);
        // Two tickets and their two inbound messages wait; the acknowledgement is never indexed.
        assert_eq!(pending(&conn), 4);
        assert_eq!(indexed(&conn, "messages_fts", "kosong"), 0);
        index_pending(&conn).unwrap();
        assert_eq!(pending(&conn), 0);
        assert_eq!(indexed(&conn, "messages_fts", "kosong"), 1);
        assert_eq!(indexed(&conn, "tickets_fts", "vpn"), 1);
        assert_eq!(indexed(&conn, "messages_fts", "terima"), 0);
        // Nothing waiting: nothing indexed twice.
        index_pending(&conn).unwrap();
        assert_eq!(indexed(&conn, "messages_fts", "kosong"), 1);
        assert_eq!(find(&conn, "kosong"), vec![printer]);
        assert_eq!(find(&conn, "konek"), vec![vpn]);
    }

    #[test]
    fn search_indexes_what_is_waiting_first() {
        let conn = store::open_in_memory().unwrap();
        let (printer, _) = seed(&conn);
        assert_eq!(find(&conn, "kosong"), vec![printer]);
        assert_eq!(pending(&conn), 0);
    }

    #[test]
    fn changes_before_and_after_indexing_keep_the_index_true() {
        let conn = store::open_in_memory().unwrap();
        let (printer, vpn) = seed(&conn);
        // Changed while waiting: indexed as it is now, once.
        conn.execute(
            "UPDATE tickets SET subject = 'Scanner macet' WHERE id = ?1",
            [printer],
        )
        .unwrap();
        // Deleted while waiting: never indexed (and the index never told to delete it).
        conn.execute(
            "DELETE FROM messages WHERE ticket_id = ?1 AND direction = 'in'",
            [vpn],
        )
        .unwrap();
        index_pending(&conn).unwrap();
        assert_eq!(indexed(&conn, "tickets_fts", "scanner"), 1);
        assert_eq!(indexed(&conn, "tickets_fts", "printer"), 0);
        assert_eq!(indexed(&conn, "messages_fts", "sejak"), 0);
        // Changed after indexing: out of the index at once, back in at the next index_pending.
        conn.execute(
            "UPDATE tickets SET subject = 'Scanner rusak' WHERE id = ?1",
            [printer],
        )
        .unwrap();
        assert_eq!(indexed(&conn, "tickets_fts", "macet"), 0);
        index_pending(&conn).unwrap();
        assert_eq!(indexed(&conn, "tickets_fts", "rusak"), 1);
        assert_eq!(indexed(&conn, "tickets_fts", "scanner"), 1);
        // Deleted after indexing: out of the index.
        conn.execute(
            "DELETE FROM messages WHERE ticket_id = ?1 AND direction = 'in'",
            [printer],
        )
        .unwrap();
        assert_eq!(indexed(&conn, "messages_fts", "kosong"), 0);
        // FTS5's own checks: the index is sound, and the tickets' index holds exactly what
        // the tickets say (messages_fts leaves outbound mail out by design, so only the first).
        conn.execute_batch(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 0)",
        )
        .expect("messages_fts sound");
        conn.execute_batch(
            "INSERT INTO tickets_fts (tickets_fts, rank) VALUES ('integrity-check', 1)",
        )
        .expect("tickets_fts matches tickets");
    }
}
