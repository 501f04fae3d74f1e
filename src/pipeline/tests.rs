//! The pipeline as a whole, through `process`, `process_batch` and `release`. `[limits]`: what happens to a message past each limit. Nothing is dropped silently:
//! a whole message goes to quarantine with its bytes, a part of one is listed on the ticket.
use super::*;
use crate::fixtures::count;
use crate::outbound;

fn env(limits: &str) -> Env {
    let cfg = crate::fixtures::config(
        "helpdesk@example.test",
        &format!(
            "[limits]\n{limits}\n[[technicians]]\nemail = \"budi@example.test\"\nname = \"Budi\"\n"
        ),
    )
    .expect("config");
    crate::fixtures::env(cfg, crate::fixtures::clock_at("2026-11-23T02:00:00Z"))
}

fn quarantined_raw(conn: &Connection) -> Vec<u8> {
    conn.query_row("SELECT raw FROM quarantine", [], |r| r.get(0))
        .expect("one quarantined message")
}

#[test]
fn message_over_max_message_bytes_is_quarantined_whole() {
    let env = env("max_message_bytes = 4096\nmax_header_bytes = 4096");
    let mut conn = store::memory();
    let raw = format!(
        "From: <rina@example.test>\r\nSubject: big\r\nMessage-ID: <big@x>\r\n\r\n{}\r\n",
        "x".repeat(5000)
    );
    let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
    let Outcome::Quarantined { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("limits.max_message_bytes"), "{reason}");
    assert_eq!(quarantined_raw(&conn), raw.as_bytes());
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 0);
    // Its Message-ID is read from the header block alone, for `loket quarantine list`.
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM quarantine WHERE message_id = 'big@x'"
        ),
        1
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM events WHERE kind = 'quarantined' AND detail LIKE '%max_message_bytes%'"
        ),
        1
    );
}

#[test]
fn header_block_over_max_header_bytes_is_quarantined_whole() {
    let env = env("max_header_bytes = 4096");
    let mut conn = store::memory();
    let filler: String = (0..100)
        .map(|i| format!("X-Filler-{i}: {}\r\n", "y".repeat(60)))
        .collect();
    let raw = format!(
        "From: <rina@example.test>\r\n{filler}Subject: many headers\r\nMessage-ID: <h@x>\r\n\r\nshort body\r\n"
    );
    let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
    let Outcome::Quarantined { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("limits.max_header_bytes"), "{reason}");
    assert_eq!(quarantined_raw(&conn), raw.as_bytes());
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 0);

    // The same size in the body is an ordinary message.
    let raw = format!(
        "From: <rina@example.test>\r\nSubject: long body\r\nMessage-ID: <b@x>\r\n\r\n{filler}"
    );
    let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
    assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
}

fn big(id: &str) -> String {
    format!(
        "From: <rina@example.test>\r\nTo: <helpdesk@example.test>\r\nSubject: scan\r\n\
         Message-ID: <{id}>\r\n\r\n{}\r\n",
        "x".repeat(5000)
    )
}

fn released(conn: &Connection, id: i64) -> Option<String> {
    conn.query_row(
        "SELECT released_as FROM quarantine WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .expect("quarantine row")
}

#[test]
fn release_after_raising_the_limit_makes_the_ticket_and_marks_the_row() {
    let small = env("max_message_bytes = 4096\nmax_header_bytes = 4096");
    let mut conn = store::memory();
    let raw = big("scan@x");
    let outcome = process(&mut conn, &small, raw.as_bytes(), &Source::Stdin).unwrap();
    assert!(
        matches!(outcome, Outcome::Quarantined { .. }),
        "{outcome:?}"
    );

    let raised = env("max_message_bytes = 1048576");
    let outcome = release(&mut conn, &raised, 1).unwrap();
    let Outcome::Created { ticket, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let tag = format!("{}-{ticket}", raised.cfg.helpdesk.tag_prefix);
    assert_eq!(released(&conn, 1), Some(tag.clone()));
    // The ticket holds the message, says where it came from, and records the release.
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM messages WHERE message_id = 'scan@x'"
        ),
        1
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM events WHERE kind = 'created' AND detail = 'via release:1'"
        ),
        1
    );
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT COUNT(*) FROM events WHERE ticket_id = {ticket} AND kind = 'released' \
                 AND detail LIKE '%released as {tag}%max_message_bytes%'"
            )
        ),
        1
    );
    // The bytes stay, and a second release is refused with what became of it.
    assert_eq!(quarantined_raw(&conn), raw.as_bytes());
    let err = format!("{:#}", release(&mut conn, &raised, 1).unwrap_err());
    assert!(
        err.contains("already released") && err.contains(&tag),
        "{err}"
    );
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 1);
    let err = format!("{:#}", release(&mut conn, &raised, 7).unwrap_err());
    assert!(err.contains("no quarantined message 7"), "{err}");
}

#[test]
fn release_of_a_message_still_too_large_keeps_the_row_and_writes_nothing() {
    let small = env("max_message_bytes = 4096\nmax_header_bytes = 4096");
    let mut conn = store::memory();
    process(&mut conn, &small, big("still@x").as_bytes(), &Source::Stdin).unwrap();
    let events = count(&conn, "SELECT COUNT(*) FROM events");

    let outcome = release(&mut conn, &small, 1).unwrap();
    let Outcome::Quarantined { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("limits.max_message_bytes is 4096"),
        "{reason}"
    );
    assert_eq!(released(&conn, 1), None);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM quarantine"), 1);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM events"), events);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 0);
}

#[test]
fn release_of_a_message_stored_meanwhile_is_a_duplicate() {
    // Quarantined at one limit, then delivered again after the limit was raised: the ticket
    // already has it, and the release must not make a second one.
    let small = env("max_message_bytes = 4096\nmax_header_bytes = 4096");
    let raised = env("max_message_bytes = 1048576");
    let mut conn = store::memory();
    let raw = big("again@x");
    process(&mut conn, &small, raw.as_bytes(), &Source::Stdin).unwrap();
    let outcome = process(&mut conn, &raised, raw.as_bytes(), &Source::Stdin).unwrap();
    assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");

    assert_eq!(release(&mut conn, &raised, 1).unwrap(), Outcome::Duplicate);
    assert_eq!(
        released(&conn, 1).as_deref(),
        Some("duplicate of a stored message")
    );
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 1);
}

#[test]
fn released_message_keeps_the_mailbox_it_came_in_at() {
    let env = env("");
    let cfg = &*env.cfg;
    let original = |label: &str| Source::Release {
        id: 1,
        original: label.to_string(),
    };
    // The [helpdesk] mailbox, by its IMAP key and by its address; anything else: none.
    let helpdesk = &cfg.accounts()[0];
    assert_eq!(
        original(&format!("ingest:{}", helpdesk.address))
            .account(cfg)
            .map(|a| a.address.clone()),
        Some(helpdesk.address.clone())
    );
    assert_eq!(
        original(&format!("imap:{}:42", helpdesk.key))
            .account(cfg)
            .map(|a| a.address.clone()),
        Some(helpdesk.address.clone())
    );
    assert!(original("ingest").account(cfg).is_none());
    assert!(original("imap:nobody:1").account(cfg).is_none());
    assert_eq!(original("ingest").label(), "release:1");
}

#[test]
fn header_block_length_stops_at_the_first_empty_line() {
    assert_eq!(
        parse::header_block_len(b"A: b\r\nC: d\r\n\r\nbody\r\n\r\n"),
        12
    );
    assert_eq!(parse::header_block_len(b"A: b\nC: d\n\nbody\n\n"), 10);
    assert_eq!(parse::header_block_len(b"A: b\nC: d\n"), 10);
    assert_eq!(parse::header_block_len(b"\r\nbody"), 0);
    assert_eq!(parse::header_block_len(b""), 0);
}

#[test]
fn attachments_beyond_max_attachments_are_listed_as_dropped() {
    let env = env("max_attachments = 2\nmax_attachment_bytes = 100");
    let mut conn = store::memory();
    let mut raw = String::from(
        "From: <rina@example.test>\r\nSubject: files\r\nMessage-ID: <f@x>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee files\r\n",
    );
    for (i, size) in [10, 500, 10, 10, 10].iter().enumerate() {
        raw.push_str(&format!(
            "--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f{i}.bin\r\n\r\n{}\r\n",
            "z".repeat(*size)
        ));
    }
    raw.push_str("--B--\r\n");
    let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
    assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
    let rows: Vec<(String, Option<String>, Option<String>)> = conn
        .prepare("SELECT name, sha256, dropped FROM attachments ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(rows.len(), 5, "every attachment is listed: {rows:?}");
    assert!(rows[0].1.is_some() && rows[0].2.is_none(), "{rows:?}");
    assert!(
        rows[1].1.is_none()
            && rows[1]
                .2
                .as_deref()
                .unwrap()
                .contains("max_attachment_bytes"),
        "{rows:?}"
    );
    for row in &rows[2..] {
        assert!(row.1.is_none(), "{rows:?}");
        assert!(
            row.2
                .as_deref()
                .unwrap()
                .contains("limits.max_attachments (2"),
            "{rows:?}"
        );
    }
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM blobs"), 1);
}

#[test]
fn copied_addresses_beyond_max_recipients_are_recorded_and_never_mailed() {
    let env = env("max_recipients = 3");
    let mut conn = store::memory();
    let cc: Vec<String> = (0..6).map(|i| format!("c{i}@example.test")).collect();
    let raw = format!(
        "From: <rina@example.test>\r\nTo: <helpdesk@example.test>, <c0@example.test>\r\n\
         Cc: {}\r\nSubject: rapat\r\nMessage-ID: <r@x>\r\n\r\nproyektor mati\r\n",
        cc.join(", ")
    );
    process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM participants WHERE role = 'cc'"),
        2,
        "room for the requester and two copied people"
    );
    let detail: String = conn
        .query_row(
            "SELECT detail FROM events WHERE kind = 'recipients_dropped'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        detail.starts_with("4 address(es)") && detail.contains("c5@example.test"),
        "{detail}"
    );

    // A technician's answer goes to the requester and the copied people: at most 3.
    let reply = "From: <budi@example.test>\r\nTo: <helpdesk@example.test>\r\n\
         Subject: RE: [HD-1] rapat\r\nMessage-ID: <t@x>\r\n\r\nSudah dicek, coba lagi.\r\n";
    process(&mut conn, &env, reply.as_bytes(), &Source::Stdin).unwrap();
    let rcpt: String = conn
        .query_row("SELECT rcpt FROM outbox WHERE kind = 'relay'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rcpt.split(',').count(), 3, "{rcpt}");
    assert!(rcpt.starts_with("rina@example.test"), "{rcpt}");
}

#[test]
fn cap_recipients_keeps_to_before_cc_and_counts_duplicates_once() {
    let a = |e: &str| crate::inbound::Address {
        name: None,
        email: e.to_string(),
    };
    let mut to = vec![a("r@x"), a("r@x")];
    let mut cc = vec![a("c1@x"), a("r@x"), a("c2@x"), a("c3@x")];
    let dropped = outbound::cap_recipients(&mut to, &mut cc, 3);
    assert_eq!(
        to.iter().map(|a| a.email.as_str()).collect::<Vec<_>>(),
        ["r@x"]
    );
    assert_eq!(
        cc.iter().map(|a| a.email.as_str()).collect::<Vec<_>>(),
        ["c1@x", "c2@x"]
    );
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].email, "c3@x");
}

fn request(n: usize, subject: &str) -> Vec<u8> {
    format!(
        "From: User {n} <user{n}@example.test>\r\nTo: <helpdesk@example.test>\r\n\
         Subject: {subject}\r\nMessage-ID: <batch.{n}@example.test>\r\n\r\nTolong dibantu.\r\n"
    )
    .into_bytes()
}

#[test]
fn batch_keeps_the_messages_before_a_failure_and_nothing_of_it() {
    let env = env("");
    let mut conn = store::memory();
    // The second message cannot be stored (as a poison message in production would fail).
    conn.execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON tickets WHEN NEW.subject LIKE '%RACUN%' \
         BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
    )
    .unwrap();
    let raws = [
        request(1, "Printer rusak"),
        request(2, "RACUN"),
        request(3, "VPN putus"),
    ];
    let items: Vec<(&[u8], Source)> = raws
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let source = Source::Imap {
                mailbox: "INBOX".into(),
                uid_validity: 7,
                uid: i as u32 + 1,
            };
            (r.as_slice(), source)
        })
        .collect();
    let batch = process_batch(&mut conn, &env, &items, &|_| false).unwrap();
    // The first one is kept, as it came out the first time; the failure is reported; the
    // third was never tried.
    assert_eq!(
        batch.outcomes,
        vec![Outcome::Created {
            ticket: 1,
            acknowledged: true
        }]
    );
    let failure = format!("{:#}", batch.failure.expect("the failure"));
    assert!(failure.contains("poisoned"), "{failure}");
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 1);
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM messages WHERE direction = 'in'"
        ),
        1
    );
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM outbox WHERE kind = 'ack'"),
        1
    );
    // The mailbox progress is that of the first message, not of the failed one.
    assert_eq!(
        count(
            &conn,
            "SELECT last_uid FROM mailbox_state WHERE mailbox = 'INBOX'"
        ),
        1
    );
    // The search index holds the first message once.
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'printer'"
        ),
        1
    );
    // The message after the failed one gets the next ticket number.
    let batch = process_batch(&mut conn, &env, &items[2..], &|_| false).unwrap();
    assert_eq!(
        batch.outcomes,
        vec![Outcome::Created {
            ticket: 2,
            acknowledged: true
        }]
    );
    assert!(batch.failure.is_none());
}

#[test]
fn batch_failing_on_its_first_message_keeps_nothing() {
    let env = env("");
    let mut conn = store::memory();
    conn.execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON tickets \
         BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
    )
    .unwrap();
    let raw = request(1, "Printer rusak");
    let items = [(raw.as_slice(), Source::Stdin)];
    let batch = process_batch(&mut conn, &env, &items, &|_| false).unwrap();
    assert!(batch.outcomes.is_empty());
    assert!(batch.failure.is_some());
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM messages"), 0);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM events"), 0);
    // A batch of one runs without a savepoint and is rolled back whole: the connection is out
    // of its transaction, and the same message goes in once the fault is gone.
    assert!(conn.is_autocommit());
    conn.execute_batch("DROP TRIGGER poison").unwrap();
    let batch = process_batch(&mut conn, &env, &items, &|_| false).unwrap();
    assert!(matches!(
        batch.outcomes.as_slice(),
        [Outcome::Created { ticket: 1, .. }]
    ));
}

#[test]
fn a_reused_message_id_joins_the_ticket_of_its_own_sender() {
    // One Message-ID from two senders (a client that reuses IDs): each keeps to their own
    // ticket, whichever sent last (issue 21).
    let env = env("");
    let mut conn = store::memory();
    let deliver = |conn: &mut Connection, from: &str, body: &str| {
        crate::fixtures::deliver(conn, &env, (from, "same@client.test"), "Printer", body)
    };
    assert!(matches!(
        deliver(&mut conn, "rina@example.test", "Printer rusak."),
        Outcome::Created { ticket: 1, .. }
    ));
    assert!(matches!(
        deliver(&mut conn, "andi@example.test", "Monitor mati."),
        Outcome::Created { ticket: 2, .. }
    ));
    assert_eq!(
        deliver(&mut conn, "rina@example.test", "Masih rusak."),
        Outcome::Appended {
            ticket: 1,
            kind: MessageKind::Reply
        }
    );
    assert_eq!(
        deliver(&mut conn, "andi@example.test", "Masih mati."),
        Outcome::Appended {
            ticket: 2,
            kind: MessageKind::Reply
        }
    );
}

#[test]
fn a_mail_with_only_a_reply_to_becomes_a_ticket_for_that_address() {
    // A web form or a script that sends "From: <>" with a Reply-To: the request reaches the
    // helpdesk and the acknowledgement its Reply-To (issue 21).
    let env = env("");
    let mut conn = store::memory();
    let raw = "From: <>\r\nReply-To: Dewi <dewi@example.test>\r\nTo: <helpdesk@example.test>\r\n\
               Subject: Formulir: akses VPN\r\nMessage-ID: <form.1@example.test>\r\n\r\n\
               Mohon akses VPN untuk Dewi.\r\n";
    let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Created {
                ticket: 1,
                acknowledged: true
            }
        ),
        "{outcome:?}"
    );
    let requester: String = conn
        .query_row("SELECT requester_email FROM tickets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(requester, "dewi@example.test");
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND rcpt = 'dewi@example.test'"
        ),
        1
    );
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM quarantine"), 0);
    // Neither From nor Reply-To: quarantined, as before.
    let none = "To: <helpdesk@example.test>\r\nSubject: x\r\nMessage-ID: <form.2@example.test>\r\n\r\nx\r\n";
    let outcome = process(&mut conn, &env, none.as_bytes(), &Source::Stdin).unwrap();
    assert!(
        matches!(outcome, Outcome::Quarantined { .. }),
        "{outcome:?}"
    );
}

#[test]
fn an_attachment_over_the_limit_is_kept_nowhere_not_even_in_the_raw_copy() {
    // The limit holds on disk (issue 21): the raw copy keeps the headers, the text and a note
    // where the large part was, in the part's own encoding, and still parses.
    use base64::Engine as _;
    let env = env("max_attachment_bytes = 1000");
    let mut conn = store::memory();
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0x5au8; 300_000]);
    let small = base64::engine::general_purpose::STANDARD.encode(b"kecil");
    let raw = format!(
        "From: <rina@example.test>\r\nSubject: scan\r\nMessage-ID: <big@x>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n\
         hasil scan terlampir\r\n--B\r\nContent-Type: application/pdf\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=scan.pdf\r\n\r\n\
         {big}\r\n--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=kecil.txt\r\n\r\n{small}\r\n--B--\r\n"
    );
    let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
    assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
    let kept: Vec<u8> = conn
        .query_row("SELECT data FROM raw_messages", [], |r| r.get(0))
        .unwrap();
    assert!(kept.len() < 2_000, "raw copy of {} bytes", kept.len());
    assert!(!kept.windows(64).any(|w| w == &big.as_bytes()[..64]));
    let reparsed = crate::inbound::parse::parse(&kept).expect("the cut copy parses");
    assert!(reparsed.text.contains("hasil scan terlampir"));
    let names: Vec<&str> = reparsed
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["scan.pdf", "kecil.txt"]);
    let note = String::from_utf8_lossy(&reparsed.attachments[0].data).into_owned();
    assert!(
        note.contains("removed by Loket") && note.contains("max_attachment_bytes"),
        "{note}"
    );
    assert_eq!(
        reparsed.attachments[1].data, b"kecil",
        "a part within the limit is untouched"
    );
    // Nothing of it in the attachment files either; the small one is there.
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM blobs"), 1);
    let (raw_bytes, blob_bytes) = store::stats::stored_bytes(&conn).unwrap();
    assert!(
        raw_bytes < 2_000 && blob_bytes == 5,
        "{raw_bytes} {blob_bytes}"
    );
}
