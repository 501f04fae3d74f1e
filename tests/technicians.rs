//! Technicians work by e-mail: relayed replies, commands, status mails and auto-closure, end to
//! end against the real Dovecot and Postfix on loopback.

mod common;

use std::time::Duration;

use common::{Loket, Options, Stack, body_text, header, stack, unique};

const WAIT: Duration = Duration::from_secs(30);
/// How long to keep watching a mailbox that must stay as it is (several poll intervals).
const QUIET: Duration = Duration::from_secs(5);

struct Desk {
    loket: Loket,
    /// Level-1 technicians, in config (round-robin) order.
    techs: Vec<String>,
}

fn desk(auto_close_after: &str, level_one: usize) -> Desk {
    let techs: Vec<String> = (0..level_one).map(|_| unique("tech")).collect();
    let mut extra = format!(
        "[lifecycle]\nauto_close_after = \"{auto_close_after}\"\nscheduler_interval = \"500ms\"\n"
    );
    for (i, t) in techs.iter().enumerate() {
        extra.push_str(&format!(
            "[[technicians]]\nemail = \"{t}\"\nname = \"Teknisi {i}\"\nlevel = 1\n"
        ));
    }
    let loket = Loket::start(Options {
        extra,
        ..Options::default()
    });
    Desk { loket, techs }
}

fn status(loket: &Loket, ticket: i64) -> String {
    loket
        .db()
        .query_row("SELECT status FROM tickets WHERE id = ?1", [ticket], |r| {
            r.get(0)
        })
        .expect("ticket status")
}

/// A technician's (or anyone's) mail to the helpdesk on ticket HD-1.
fn reply(s: &Stack, from: &str, desk: &Desk, body: &str) {
    s.send(
        from,
        &desk.loket.address,
        "RE: [HD-1] Printer lantai 2 macet",
        body,
        "",
    );
}

/// A requester opens HD-1; returns them once the acknowledgement and the technicians'
/// notifications have arrived.
fn open_ticket(s: &Stack, desk: &Desk) -> String {
    let user = unique("rina");
    s.send(
        &user,
        &desk.loket.address,
        "Printer lantai 2 macet",
        "Kertas nyangkut terus di tray 2.",
        "",
    );
    s.wait_mail(&user, 1, WAIT);
    for t in &desk.techs {
        let note = &s.wait_mail(t, 1, WAIT)[0];
        assert!(
            header(note, "Subject").unwrap().contains("[HD-1]"),
            "technicians are told with the tag"
        );
        assert!(
            body_text(note).contains("Kertas nyangkut"),
            "with the request"
        );
    }
    user
}

#[test]
fn technician_reply_reaches_requester_without_quoted_history() {
    let s = stack();
    let desk = desk("1h", 1);
    let user = open_ticket(s, &desk);
    reply(
        s,
        &desk.techs[0],
        &desk,
        "Sudah saya cek, tolong buka tray 2 dan tarik kertasnya pelan-pelan.\n\n\
         Salam,\nTeknisi 0\n\n\
         From: IT Helpdesk <helpdesk@example.test>\nSent: Monday, November 23, 2026 9:00 AM\n\
         To: Teknisi 0\nSubject: [HD-1] Printer lantai 2 macet\n\nRIWAYAT-LAMA yang tidak boleh ikut.",
    );
    let mails = s.wait_mail(&user, 2, WAIT);
    let relay = &mails[1];
    let text = body_text(relay);
    assert!(text.contains("tarik kertasnya pelan-pelan"), "{text}");
    assert!(
        !text.contains("RIWAYAT-LAMA"),
        "quoted history stripped: {text}"
    );
    assert!(header(relay, "Subject").unwrap().contains("[HD-1]"));
    assert!(header(relay, "From").unwrap().contains(&desk.loket.address));
    assert!(
        header(relay, "In-Reply-To").is_some(),
        "threaded to the conversation"
    );
    assert_eq!(
        desk.loket
            .count("SELECT COUNT(*) FROM tickets WHERE first_response_at IS NOT NULL"),
        1
    );
    std::thread::sleep(QUIET);
    assert_eq!(s.mailbox(&user).len(), 2, "ack and relay, nothing else");
}

#[test]
fn resolve_then_silence_closes_once_and_a_later_reply_opens_a_new_ticket() {
    let s = stack();
    let desk = desk("3s", 1);
    let user = open_ticket(s, &desk);
    reply(
        s,
        &desk.techs[0],
        &desk,
        "#resolve toner dan roller diganti",
    );
    let mails = s.wait_mail(&user, 2, WAIT);
    let resolved = body_text(&mails[1]);
    assert!(resolved.contains("toner dan roller diganti"), "{resolved}");
    assert!(
        !resolved.contains("#resolve"),
        "command lines are not relayed"
    );

    let mails = s.wait_mail(&user, 3, WAIT);
    assert!(
        header(&mails[2], "Subject").unwrap().contains("ditutup"),
        "closing mail: {}",
        header(&mails[2], "Subject").unwrap()
    );
    assert_eq!(status(&desk.loket, 1), "closed");
    std::thread::sleep(QUIET);
    assert_eq!(s.mailbox(&user).len(), 3, "exactly one closing mail");
    assert_eq!(
        desk.loket.count(
            "SELECT COUNT(*) FROM events WHERE kind = 'status' AND detail LIKE '%-> closed%'"
        ),
        1
    );

    // A reply to the closed ticket: a new ticket that refers to it.
    reply(s, &user, &desk, "Printernya macet lagi.");
    desk.loket
        .wait_count("SELECT COUNT(*) FROM tickets WHERE parent_id = 1", 1, WAIT);
    assert_eq!(status(&desk.loket, 1), "closed");
}

#[test]
fn requester_reply_after_resolve_reopens_and_reaches_the_technician() {
    let s = stack();
    let desk = desk("1h", 1);
    let user = open_ticket(s, &desk);
    reply(s, &desk.techs[0], &desk, "#resolve");
    s.wait_mail(&user, 2, WAIT);
    assert_eq!(status(&desk.loket, 1), "resolved");

    reply(
        s,
        &user,
        &desk,
        "Masih macet, Pak.\n\nPada Sen, 23 Nov 2026 pukul 09.00 IT Helpdesk menulis:\n> Tiket selesai\n",
    );
    let tech_mail = s.wait_mail(&desk.techs[0], 2, WAIT);
    let text = body_text(&tech_mail[1]);
    assert!(text.contains("Masih macet, Pak."), "{text}");
    assert!(!text.contains("Tiket selesai"), "{text}");
    assert_eq!(status(&desk.loket, 1), "in-progress");
    let mails = s.wait_mail(&user, 3, WAIT);
    assert!(
        body_text(&mails[2]).contains("Sedang dikerjakan"),
        "the requester is told about the status change"
    );
}

#[test]
fn note_never_reaches_the_requester() {
    let s = stack();
    let desk = desk("1h", 2);
    let user = open_ticket(s, &desk);
    reply(
        s,
        &desk.techs[0],
        &desk,
        "#note kabel LAN di lantai 2 juga longgar, RAHASIA-INTERNAL",
    );
    let other = s.wait_mail(&desk.techs[1], 2, WAIT);
    assert!(body_text(&other[1]).contains("RAHASIA-INTERNAL"));
    std::thread::sleep(QUIET);
    let mine = s.mailbox(&user);
    assert_eq!(mine.len(), 1, "only the acknowledgement");
    assert!(!mine.iter().any(|m| m.contains("RAHASIA-INTERNAL")));
    assert_eq!(
        desk.loket
            .count("SELECT COUNT(*) FROM events WHERE kind = 'note'"),
        1
    );
}

#[test]
fn commands_from_a_requester_are_plain_text() {
    let s = stack();
    let desk = desk("1h", 1);
    let user = open_ticket(s, &desk);
    reply(s, &user, &desk, "#resolve\n#priority P1\nTolong segera.");
    let tech_mail = s.wait_mail(&desk.techs[0], 2, WAIT);
    assert!(body_text(&tech_mail[1]).contains("#priority P1"));
    std::thread::sleep(QUIET);
    assert_eq!(status(&desk.loket, 1), "open");
    assert_eq!(
        desk.loket
            .count("SELECT COUNT(*) FROM tickets WHERE priority = 'P3'"),
        1,
        "the default priority, not the requester's P1"
    );
    assert_eq!(s.mailbox(&user).len(), 1, "only the acknowledgement");
}

#[test]
fn invalid_command_changes_nothing_and_is_explained() {
    let s = stack();
    let desk = desk("1h", 1);
    let user = open_ticket(s, &desk);
    reply(
        s,
        &desk.techs[0],
        &desk,
        "#status done\n#resolve\n\nSudah beres ya.",
    );
    let tech_mail = s.wait_mail(&desk.techs[0], 2, WAIT);
    let text = body_text(&tech_mail[1]);
    assert!(text.contains("unknown status `done`"), "{text}");
    std::thread::sleep(QUIET);
    assert_eq!(status(&desk.loket, 1), "open");
    assert_eq!(
        s.mailbox(&user).len(),
        1,
        "nothing relayed when commands fail"
    );
}

#[test]
fn spoofed_technician_is_not_obeyed_when_authentication_is_required() {
    let s = stack();
    let tech = unique("tech");
    let loket = Loket::start(Options {
        extra: format!(
            "[security]\nrequire_authenticated_commands = true\nauthserv_id = \"mx.example.test\"\n\
             [[technicians]]\nemail = \"{tech}\"\nname = \"Budi\"\n"
        ),
        ..Options::default()
    });
    let desk = Desk {
        loket,
        techs: vec![tech.clone()],
    };
    let user = open_ticket(s, &desk);

    // Forged: no Authentication-Results, then one from a server we do not trust.
    s.send(
        &tech,
        &desk.loket.address,
        "RE: [HD-1] Printer lantai 2 macet",
        "#resolve",
        "",
    );
    s.send(
        &tech,
        &desk.loket.address,
        "RE: [HD-1] Printer lantai 2 macet",
        "#close",
        "Authentication-Results: evil.test; dkim=pass header.d=example.test\r\n",
    );
    desk.loket.wait_processed(3, WAIT);
    assert_eq!(
        status(&desk.loket, 1),
        "open",
        "forged commands change nothing"
    );
    assert_eq!(
        desk.loket
            .count("SELECT COUNT(*) FROM messages WHERE ticket_id = 1 AND direction = 'in'"),
        1,
        "a forged technician cannot write to the ticket"
    );

    // Authenticated by the trusted server: obeyed.
    s.send(
        &tech,
        &desk.loket.address,
        "RE: [HD-1] Printer lantai 2 macet",
        "#resolve",
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.test header.s=s1\r\n",
    );
    desk.loket.wait_count(
        "SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'resolved'",
        1,
        WAIT,
    );
    s.wait_mail(&user, 2, WAIT);
}

/// Issue 21: a sender can write `Authentication-Results` headers with the trusted server's id
/// themselves. Only the server's own (the topmost run) counts, and its failure wins: a forged
/// `dkim=pass` below a `dkim=fail`, or below the server's `dkim=none`, vouches for nothing.
#[test]
fn forged_authentication_results_below_the_servers_own_are_not_obeyed() {
    let s = stack();
    let tech = unique("tech");
    let outsider = unique("mallory");
    let loket = Loket::start(Options {
        extra: format!(
            "[security]\nrequire_authenticated_commands = true\nauthserv_id = \"mx.example.test\"\n\
             [[technicians]]\nemail = \"{tech}\"\nname = \"Budi\"\n"
        ),
        ..Options::default()
    });
    let desk = Desk {
        loket,
        techs: vec![tech.clone()],
    };
    let user = open_ticket(s, &desk);
    let priority = |l: &Loket| -> Option<String> {
        l.db()
            .query_row("SELECT priority FROM tickets WHERE id = 1", [], |r| {
                r.get(0)
            })
            .expect("ticket priority")
    };
    let before = priority(&desk.loket);

    let forgeries = [
        // The server's verdict on top, the sender's "pass" with the same id below it.
        "Authentication-Results: mx.example.test; dkim=fail (signature did not verify) header.d=example.test\r\n\
         Authentication-Results: mx.example.test; dkim=pass header.d=example.test header.s=s1\r\n",
        // The server found no signature at all.
        "Authentication-Results: mx.example.test; dkim=none; spf=none smtp.mailfrom=example.test\r\n\
         Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n",
        // Both in one header: an aligned failure wins over the pass.
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.test; spf=fail smtp.mailfrom=x@example.test\r\n",
    ];
    for headers in forgeries {
        s.send(
            &tech,
            &desk.loket.address,
            "RE: [HD-1] Printer lantai 2 macet",
            &format!(
                "#priority P1\n#cc {outsider}\n#resolve\n\nKlik tautan ini untuk reset sandi."
            ),
            headers,
        );
    }
    desk.loket.wait_processed(1 + forgeries.len(), WAIT);
    assert_eq!(status(&desk.loket, 1), "open", "forged #resolve not obeyed");
    assert_eq!(priority(&desk.loket), before, "forged #priority not obeyed");
    assert_eq!(
        desk.loket.count(&format!(
            "SELECT COUNT(*) FROM participants WHERE email = '{outsider}'"
        )),
        0,
        "forged #cc adds no one"
    );
    std::thread::sleep(QUIET);
    assert_eq!(
        s.mailbox(&user).len(),
        1,
        "nothing relayed to the requester from a forged technician"
    );
    assert!(s.mailbox(&outsider).is_empty());

    // The server's own pass on top is still obeyed.
    s.send(
        &tech,
        &desk.loket.address,
        "RE: [HD-1] Printer lantai 2 macet",
        "#priority P1\n#resolve",
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.test header.s=s1\r\n",
    );
    desk.loket.wait_count(
        "SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'resolved' AND priority = 'P1'",
        1,
        WAIT,
    );
}
