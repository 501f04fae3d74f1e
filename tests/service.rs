//! Service quality by mail, end to end against the real Dovecot and Postfix on loopback: a
//! requester's rating after closure (kept, not a reopening, thanked; a low one reaches the owner
//! and the managers; an outsider's is an ordinary mail), `#merge` (the mail moves, a later reply
//! to the merged ticket lands on the target, a loop is refused) and `#time` (summed in
//! `loket tickets show` and in the monthly report's CSV).

mod common;

use std::time::Duration;

use common::{Loket, Options, body_text, header, stack, unique};

const WAIT: Duration = Duration::from_secs(30);

struct Desk {
    loket: Loket,
    budi: String,
    head: String,
}

/// A helpdesk with one technician (Budi) and one manager, whose resolved tickets close after
/// two seconds of silence.
fn desk() -> Desk {
    let (budi, head) = (unique("budi"), unique("kepala"));
    let extra = format!(
        r#"
[lifecycle]
auto_close_after = "2s"
scheduler_interval = "500ms"
[[technicians]]
email = "{budi}"
name = "Budi"
[[managers]]
email = "{head}"
name = "Bu Kepala"
"#
    );
    let loket = Loket::start(Options {
        extra,
        ..Options::default()
    });
    Desk { loket, budi, head }
}

/// The first mail of `address` whose subject contains `needle`, waiting for it.
fn mail_with(address: &str, needle: &str) -> String {
    let s = stack();
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
fn a_rating_after_closure_is_recorded_thanked_and_a_low_one_reaches_owner_and_managers() {
    let s = stack();
    let desk = desk();
    let (rina, tamu) = (unique("rina"), unique("tamu"));
    let to = desk.loket.address.clone();
    s.send(
        &rina,
        &to,
        "Printer lantai 2 rusak",
        "Hasil cetak bergaris.",
        "",
    );
    s.wait_mail(&rina, 1, WAIT);
    s.wait_mail(&desk.budi, 1, WAIT);
    s.send(
        &desk.budi,
        &to,
        "RE: [HD-1] Printer lantai 2 rusak",
        "#resolve drum dibersihkan",
        "",
    );
    // Resolved, then closed by the scheduler after two silent seconds: the closing mail asks.
    let closing = mail_with(&rina, "ditutup");
    let text = body_text(&closing);
    assert!(text.contains("angka 1-5"), "{text}");

    let reply_subject = format!("Re: {}", header(&closing, "Subject").unwrap());
    s.send(
        &rina,
        &to,
        &reply_subject,
        "5 terima kasih\n\n> Tiket HD-1 telah ditutup.",
        "",
    );
    let thanks = mail_with(&rina, "Terima kasih atas penilaian");
    assert!(
        body_text(&thanks).contains("5 dari 5"),
        "{}",
        body_text(&thanks)
    );
    assert_eq!(
        desk.loket
            .count("SELECT score FROM ratings WHERE ticket_id = 1"),
        5
    );
    assert_eq!(
        desk.loket
            .count("SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'closed'"),
        1,
        "a rating does not reopen"
    );
    assert_eq!(desk.loket.count("SELECT COUNT(*) FROM tickets"), 1);

    // An outsider's "5" with the tag is an ordinary mail: a new ticket, no rating.
    s.send(&tamu, &to, &reply_subject, "5", "");
    s.wait_mail(&tamu, 1, WAIT);
    assert_eq!(desk.loket.count("SELECT COUNT(*) FROM tickets"), 2);
    assert_eq!(desk.loket.count("SELECT COUNT(*) FROM ratings"), 1);

    // Rina thinks again: "1" replaces the 5 and reaches Budi and the manager.
    s.send(&rina, &to, &reply_subject, "1\nTernyata bergaris lagi.", "");
    let low = mail_with(&desk.head, "Penilaian rendah");
    assert!(
        body_text(&low).contains("Ternyata bergaris lagi"),
        "{}",
        body_text(&low)
    );
    let to_budi = mail_with(&desk.budi, "Penilaian rendah");
    assert_eq!(
        header(&to_budi, "Message-ID"),
        header(&low, "Message-ID"),
        "one mail to both"
    );
    assert_eq!(
        desk.loket
            .count("SELECT score FROM ratings WHERE ticket_id = 1"),
        1
    );
    assert_eq!(
        desk.loket
            .count("SELECT COUNT(*) FROM events WHERE kind = 'rated'"),
        2,
        "both ratings are in the log"
    );
    let (code, show, _) = desk.loket.cli(&["tickets", "show", "HD-1"], None);
    assert_eq!(code, 0);
    assert!(show.contains("Rating: 1/5"), "{show}");
    // Nothing was relayed to Budi as a reply of Rina's.
    assert!(
        !s.mailbox(&desk.budi)
            .iter()
            .any(|m| body_text(m).contains("terima kasih")
                && !header(m, "Subject").unwrap().contains("Penilaian")),
        "a rating is not relayed"
    );
}

#[test]
fn merge_moves_the_mail_follows_later_replies_refuses_a_loop_and_time_is_summed() {
    let s = stack();
    let desk = desk();
    let (rina, joko) = (unique("rina"), unique("joko"));
    let to = desk.loket.address.clone();
    s.send(&rina, &to, "Printer lantai 3 macet", "Kertas nyangkut.", "");
    s.wait_mail(&rina, 1, WAIT);
    s.send(
        &joko,
        &to,
        "Printer lt 3 tidak bisa",
        "Tidak bisa print sejak pagi.",
        "",
    );
    s.wait_mail(&joko, 1, WAIT);
    s.wait_mail(&desk.budi, 2, WAIT);

    s.send(
        &desk.budi,
        &to,
        "RE: [HD-2] Printer lt 3 tidak bisa",
        "#merge HD-1\n#time 20m",
        "",
    );
    let told_joko = mail_with(&joko, "digabungkan ke HD-1");
    assert!(body_text(&told_joko).contains("HD-1"));
    let told_rina = mail_with(&rina, "digabungkan ke tiket ini");
    assert!(body_text(&told_rina).contains("HD-2"));
    assert_eq!(
        desk.loket.count(
            "SELECT COUNT(*) FROM tickets WHERE id = 2 AND status = 'merged' AND merged_into = 1"
        ),
        1
    );
    assert_eq!(
        desk.loket
            .count("SELECT COUNT(*) FROM messages WHERE ticket_id = 2 AND direction = 'in'"),
        0,
        "the merged ticket's mail moved"
    );

    // Joko answers the mail of HD-2: his words land on HD-1 and reach Budi.
    let joko_subject = format!("Re: {}", header(&told_joko, "Subject").unwrap());
    s.send(&joko, &to, &joko_subject, "Sekarang lampunya merah.", "");
    desk.loket.wait_count(
        "SELECT COUNT(*) FROM messages WHERE ticket_id = 1 AND body LIKE '%lampunya merah%'",
        1,
        WAIT,
    );

    // Merging HD-1 back into HD-2 is refused, and nothing changes.
    s.send(
        &desk.budi,
        &to,
        "RE: [HD-1] Printer lantai 3 macet",
        "#merge HD-2",
        "",
    );
    let refused = mail_with(&desk.budi, "Perintah tidak dijalankan");
    assert!(
        body_text(&refused).contains("loop"),
        "{}",
        body_text(&refused)
    );
    assert_eq!(
        desk.loket
            .count("SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'open'"),
        1
    );

    // #time on HD-1 as well; `tickets show` sums each ticket's.
    s.send(
        &desk.budi,
        &to,
        "RE: [HD-1] Printer lantai 3 macet",
        "#time 1h 10m",
        "",
    );
    desk.loket
        .wait_count("SELECT COUNT(*) FROM time_spent", 2, WAIT);
    let (code, show, err) = desk.loket.cli(&["tickets", "show", "HD-1"], None);
    assert_eq!(code, 0, "{err}");
    assert!(show.contains("Time spent: 1h 10m"), "{show}");
    assert!(show.contains("Budi"), "{show}");
    let (_, show2, _) = desk.loket.cli(&["tickets", "show", "HD-2"], None);
    assert!(
        show2.contains("merged into: HD-1") && show2.contains("Time spent: 20m"),
        "{show2}"
    );
}
