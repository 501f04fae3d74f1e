//! Asking by mail, end to end against the real Dovecot and Postfix on loopback: technicians'
//! `#mine` (their open tickets, nearest deadline first), an outsider's `#mine` (an ordinary
//! request, no list), a requester's `#status` (their own tickets only) and `#status` of
//! someone else's ticket (refused), and similar resolved tickets in a technician's
//! notification.

mod common;

use std::time::Duration;

use common::{Loket, Options, Stack, body_text, header, stack, unique};

const WAIT: Duration = Duration::from_secs(30);

struct Desk {
    loket: Loket,
    budi: String,
}

fn desk() -> Desk {
    let (budi, sari) = (unique("budi"), unique("sari"));
    let extra = format!(
        r#"
[[categories]]
name = "printer"
[[categories]]
name = "network"
[[technicians]]
email = "{budi}"
name = "Budi"
categories = ["printer"]
[[technicians]]
email = "{sari}"
name = "Sari"
categories = ["network"]
[[rules]]
name = "server printer"
subject_any = ["print server"]
category = "printer"
priority = "P2"
stop = true
[[rules]]
name = "printer"
subject_any = ["printer", "monitor"]
category = "printer"
priority = "P3"
[[rules]]
name = "network"
subject_any = ["vpn"]
category = "network"
"#
    );
    let loket = Loket::start(Options {
        extra,
        ..Options::default()
    });
    Desk { loket, budi }
}

/// Sends a request and waits for its acknowledgement (the `n`th mail of `from`).
fn request(s: &Stack, desk: &Desk, from: &str, (subject, body): (&str, &str), n: usize) {
    s.send(from, &desk.loket.address, subject, body, "");
    s.wait_mail(from, n, WAIT);
}

/// The mail of `address` whose subject contains `needle`, waiting for it.
fn mail_with(s: &Stack, address: &str, needle: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        if let Some(m) = s
            .mailbox(address)
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|h| h.contains(needle)))
        {
            return m;
        }
        assert!(start.elapsed() < WAIT, "no mail `{needle}` for {address}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn technicians_and_requesters_ask_by_mail_and_see_only_what_is_theirs() {
    let s = stack();
    let desk = desk();
    let (rina, joko) = (unique("rina"), unique("joko"));
    // HD-1 (P3) before HD-2 (P2): HD-2's deadline comes first. HD-3 is Sari's.
    request(
        s,
        &desk,
        &rina,
        ("Printer lantai 3 macet", "Kertas nyangkut di tray 2."),
        1,
    );
    request(
        s,
        &desk,
        &rina,
        ("Print server mati", "Semua printer tidak bisa dipakai."),
        2,
    );
    request(
        s,
        &desk,
        &joko,
        ("VPN rahasia putus", "Tidak bisa connect dari rumah."),
        1,
    );
    s.wait_mail(&desk.budi, 2, WAIT);

    // Budi's #mine: exactly his open tickets, the nearest deadline first.
    s.send(&desk.budi, &desk.loket.address, "#mine", "", "");
    let answer = mail_with(s, &desk.budi, "#mine");
    assert_eq!(
        header(&answer, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    let text = body_text(&answer);
    let (one, two) = (text.find("HD-1 ").unwrap(), text.find("HD-2 ").unwrap());
    assert!(two < one, "the P2 ticket's deadline is nearer: {text}");
    assert!(!text.contains("HD-3") && !text.contains("VPN"), "{text}");
    assert!(
        header(&answer, "Content-Type")
            .unwrap()
            .contains("multipart/alternative")
    );

    // An outsider's #mine is an ordinary mail: a ticket of theirs, and no list of anyone's.
    let outsider = unique("tamu");
    s.send(&outsider, &desk.loket.address, "#mine", "#mine", "");
    let got = s.wait_mail(&outsider, 1, WAIT);
    assert!(
        header(&got[0], "Subject").unwrap().contains("[HD-4]"),
        "{}",
        got[0]
    );
    let text = body_text(&got[0]);
    assert!(
        !text.contains("Printer lantai") && !text.contains("VPN rahasia"),
        "{text}"
    );

    // Rina's #status: her two tickets, none of Joko's.
    s.send(
        &rina,
        &desk.loket.address,
        "status",
        "#status\n\n-- \nRina",
        "",
    );
    let list = body_text(&s.wait_mail(&rina, 3, WAIT)[2]);
    assert!(list.contains("HD-1") && list.contains("HD-2"), "{list}");
    assert!(!list.contains("HD-3") && !list.contains("VPN"), "{list}");
    // Joko's ticket, asked for by Rina: refused, nothing of it told.
    s.send(&rina, &desk.loket.address, "tanya", "#status HD-3", "");
    let refused = body_text(&s.wait_mail(&rina, 4, WAIT)[3]);
    assert!(
        refused.contains("HD-3 tidak ada di antara tiket Anda"),
        "{refused}"
    );
    assert!(!refused.contains("VPN"), "{refused}");
    assert_eq!(
        desk.loket.count("SELECT COUNT(*) FROM tickets"),
        4,
        "questions open no ticket"
    );
    assert_eq!(desk.loket.count("SELECT COUNT(*) FROM queries"), 3);
}

#[test]
fn a_near_duplicate_request_shows_the_resolved_ticket_to_the_technician() {
    let s = stack();
    let desk = desk();
    let rina = unique("rina");
    request(
        s,
        &desk,
        &rina,
        (
            "Printer lantai 3 macet",
            "Kertas nyangkut di tray 2, lampu oranye.",
        ),
        1,
    );
    s.wait_mail(&desk.budi, 1, WAIT);
    s.send(
        &desk.budi,
        &desk.loket.address,
        "RE: [HD-1] Printer lantai 3 macet",
        "#resolve roller tray 2 dibersihkan",
        "",
    );
    s.wait_mail(&rina, 2, WAIT);

    let tono = unique("tono");
    request(
        s,
        &desk,
        &tono,
        (
            "Printer macet lagi",
            "Printer lantai 3 kertasnya nyangkut di tray 2.",
        ),
        1,
    );
    let note = body_text(&mail_with(s, &desk.budi, "[HD-2]"));
    assert!(note.contains("HD-1 Printer lantai 3 macet"), "{note}");
    assert!(note.contains("roller tray 2 dibersihkan"), "{note}");

    request(
        s,
        &desk,
        &tono,
        ("Monitor berkedip", "Layar monitor kedip-kedip sejak pagi."),
        2,
    );
    let unrelated = body_text(&mail_with(s, &desk.budi, "[HD-3]"));
    assert!(!unrelated.contains("HD-1"), "{unrelated}");
}
