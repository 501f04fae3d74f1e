//! Running Loket for a company: several helpdesk addresses in one daemon, and a config reload
//! by SIGHUP without a restart. Against the real mail stack.

mod common;

use std::time::{Duration, Instant};

use common::{Loket, Options, header, stack, unique};

const WAIT: Duration = Duration::from_secs(30);

fn tag_number(subject: &str) -> i64 {
    let start = subject.find("[HD-").expect("a tag") + 4;
    let end = start + subject[start..].find(']').expect("tag end");
    subject[start..end].parse().expect("tag number")
}

#[test]
fn two_mailboxes_share_one_store_and_one_tag_sequence() {
    let s = stack();
    let sap = unique("sap-support");
    let loket = Loket::start(Options {
        extra: format!(
            r#"
[[categories]]
name = "sap"
label = "SAP"

[[categories]]
name = "general"

[classify]
default_category = "general"

[[mailboxes]]
address = "{sap}"
name = "SAP Support"
category = "sap"
username = "{sap}"
password = "secret"
"#
        ),
        ..Options::default()
    });
    let (rina, budi) = (unique("rina"), unique("budi"));
    s.send(
        &rina,
        &loket.address,
        "Printer macet",
        "Tolong dibantu.",
        "",
    );
    let rina_ack = s.wait_mail(&rina, 1, WAIT).remove(0);
    s.send(
        &budi,
        &sap,
        "Tidak bisa posting jurnal",
        "Error di FB50.",
        "",
    );
    let budi_ack = s.wait_mail(&budi, 1, WAIT).remove(0);

    // Each answered from the address it was sent to.
    let from = |raw: &str| header(raw, "From").unwrap_or_default();
    assert!(from(&rina_ack).contains(&loket.address), "{rina_ack}");
    assert!(
        from(&budi_ack).contains(&sap) && from(&budi_ack).contains("SAP Support"),
        "{budi_ack}"
    );
    // One tag sequence: two different numbers from the same store.
    let (a, b) = (
        tag_number(&header(&rina_ack, "Subject").unwrap_or_default()),
        tag_number(&header(&budi_ack, "Subject").unwrap_or_default()),
    );
    assert_ne!(a, b);
    // The mailbox's own category; the other falls back to classify.default_category.
    let category = |id: i64| {
        loket
            .db()
            .query_row("SELECT category FROM tickets WHERE id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .expect("ticket")
    };
    assert_eq!(category(b).as_deref(), Some("sap"));
    assert_eq!(category(a).as_deref(), Some("general"));

    // A reply threads by its tag whichever helpdesk address it is sent to.
    s.send(
        &budi,
        &sap,
        &format!("Re: [HD-{b}] Tidak bisa posting jurnal"),
        "Sudah dicoba lagi.",
        "",
    );
    s.send(
        &budi,
        &loket.address,
        &format!("Re: [HD-{b}] Tidak bisa posting jurnal"),
        "Masih error.",
        "",
    );
    loket.wait_count(
        &format!("SELECT COUNT(*) FROM messages WHERE ticket_id = {b} AND direction = 'in'"),
        3,
        WAIT,
    );
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 2);

    // Mail from one helpdesk address to the other is the helpdesk's own: no ticket, no answer.
    s.send(
        &sap,
        &loket.address,
        "Catatan internal",
        "dari sap-support",
        "",
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 2);
    assert!(
        s.mailbox(&sap)
            .iter()
            .all(|m| !m.contains("Catatan internal"))
    );

    // The MDA path: `loket ingest --to` files the message under that address.
    let sari = unique("sari");
    let raw = format!(
        "From: Sari <{sari}>\r\nTo: <{sap}>\r\nSubject: Akses SAP terkunci\r\n\
         Message-ID: <ingest-{sari}>\r\n\r\nUser saya terkunci.\r\n"
    );
    let (code, out, err) = loket.cli(&["ingest", "--to", &sap], Some(raw.as_bytes()));
    assert_eq!(code, 0, "{out}{err}");
    let sari_ack = s.wait_mail(&sari, 1, WAIT).remove(0);
    assert!(from(&sari_ack).contains(&sap), "{sari_ack}");
    let c = tag_number(&header(&sari_ack, "Subject").unwrap_or_default());
    assert_eq!(category(c).as_deref(), Some("sap"));

    // `loket check` looks at both mailboxes.
    let (code, out, err) = loket.cli(&["check"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("({sap} as {sap}, folder INBOX): login ok")),
        "{out}"
    );
    assert!(out.contains(&format!("({} as", loket.address)), "{out}");
}

#[test]
fn sighup_reloads_rules_and_keeps_the_old_config_when_the_new_one_is_bad() {
    let s = stack();
    let loket = Loket::start(Options {
        extra: "\n[[categories]]\nname = \"printer\"\n".into(),
        ..Options::default()
    });
    let user = unique("reload");
    let category_of_last = || {
        loket
            .db()
            .query_row(
                "SELECT category FROM tickets ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get::<_, Option<String>>(0),
            )
            .expect("a ticket")
    };
    s.send(
        &user,
        &loket.address,
        "Printer lantai 3 macet",
        "kertas nyangkut",
        "",
    );
    s.wait_mail(&user, 1, WAIT);
    assert_eq!(category_of_last(), None, "no rule yet");

    // A new rule, and a change that needs a restart (named in the log, not applied).
    let original = std::fs::read_to_string(&loket.config).expect("config");
    let with_rule = format!(
        "{}\n[[rules]]\nname = \"printer\"\nsubject_any = [\"printer\"]\ncategory = \"printer\"\n",
        original.replace("poll_interval = \"2s\"", "poll_interval = \"3s\"")
    );
    std::fs::write(&loket.config, &with_rule).expect("write config");
    loket.signal("HUP");
    let log = loket.wait_log("SIGHUP: config and templates reloaded", 1, WAIT);
    let reloaded = log
        .lines()
        .find(|l| l.contains("SIGHUP: config and templates reloaded"))
        .expect("reload line");
    assert!(
        reloaded.contains("need a restart") && reloaded.contains("\"imap\""),
        "{reloaded}"
    );
    s.send(&user, &loket.address, "Printer lantai 5 macet", "lagi", "");
    s.wait_mail(&user, 2, WAIT);
    assert_eq!(category_of_last().as_deref(), Some("printer"));

    // A broken config: the reload is refused with the key named; the rule stays in force.
    std::fs::write(
        &loket.config,
        with_rule.replace("category = \"printer\"\n", "category = \"printr\"\n"),
    )
    .expect("write config");
    loket.signal("HUP");
    let log = loket.wait_log(
        "SIGHUP: reload failed; keeping the config in force",
        1,
        WAIT,
    );
    let failure = log
        .lines()
        .find(|l| l.contains("reload failed"))
        .expect("failure line");
    assert!(
        failure.contains("rules[0].category") && failure.contains("printr"),
        "{failure}"
    );
    s.send(
        &user,
        &loket.address,
        "Printer lantai 7 macet",
        "lagi lagi",
        "",
    );
    s.wait_mail(&user, 3, WAIT);
    assert_eq!(category_of_last().as_deref(), Some("printer"));
    // Still running, and a reload does not disturb the mailbox: nothing was processed twice.
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 3);
    assert_eq!(s.mailbox(&user).len(), 3);
}

#[test]
fn a_rotated_password_file_is_read_at_the_next_login() {
    let s = stack();
    let mut loket = Loket::configure(Options::default());
    // The IMAP password from a file that is wrong at the start (Dovecot takes "secret").
    let pass = loket.dir.path().join("imap.pass");
    std::fs::write(&pass, "wrong\n").expect("password file");
    let config = std::fs::read_to_string(&loket.config).expect("config");
    let config = config.replacen(
        "password = \"secret\"",
        &format!("password_file = \"{}\"", pass.display()),
        1,
    );
    std::fs::write(&loket.config, config).expect("config");
    loket.spawn();
    let user = unique("rotate");
    s.send(&user, &loket.address, "Sesudah ganti password", "halo", "");
    let start = Instant::now();
    while !loket.log().contains("IMAP login as") {
        assert!(
            start.elapsed() < WAIT,
            "no failed login logged:\n{}",
            loket.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The administrator fixes the file; no restart, no SIGHUP.
    std::fs::write(&pass, "secret\n").expect("password file");
    s.wait_mail(&user, 1, WAIT);
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 1);
}
