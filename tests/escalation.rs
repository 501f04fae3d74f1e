//! Rules, SLA escalation, security alerts and approvals, end to end against the real Dovecot and
//! Postfix on loopback, with SLA targets of seconds on a round-the-clock calendar.

mod common;

use std::time::Duration;

use common::{Loket, Options, body_text, header, stack, unique};

const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_secs(4);

struct Desk {
    loket: Loket,
    l1: String,
    l2: String,
    it_head: String,
    manager: String,
}

fn desk() -> Desk {
    desk_with("")
}

/// [`desk`] with `more` config appended (tables of its own).
fn desk_with(more: &str) -> Desk {
    let (l1, l2, it_head, manager, boss) = (
        unique("l1"),
        unique("l2"),
        unique("kepala-it"),
        unique("kabag"),
        unique("direktur"),
    );
    let extra = format!(
        r#"
[lifecycle]
scheduler_interval = "300ms"

[escalation]
warn_at = 0.5
security = ["{it_head}"]
managers = ["{boss}"]

[approvals]
remind_after = "1h"
escalate_after = "2h"

[[departments]]
name = "Keuangan"
manager = "{manager}"
members = ["keuangan-*@example.test"]

[[technicians]]
email = "{l1}"
name = "Budi"
level = 1

[[technicians]]
email = "{l2}"
name = "Sari"
level = 2

[[priorities]]
name = "P1"
label = "Critical"
response = "4s"
resolution = "60s"
always_on = true

[[priorities]]
name = "P3"
label = "Normal"
response = "1h"
resolution = "8h"
always_on = true

[[categories]]
name = "security"
label = "Insiden keamanan"

[[categories]]
name = "access"
label = "Permintaan akses"

[[rules]]
name = "core system down"
subject_any = ["server down", "sap mati"]
priority = "P1"

[[rules]]
name = "security"
subject_any = ["phishing"]
category = "security"
escalate = true

[[rules]]
name = "cctv access"
subject_any = ["akses cctv"]
category = "access"
approval = "manager"
{more}
"#
    );
    let loket = Loket::start(Options {
        extra,
        ..Options::default()
    });
    Desk {
        loket,
        l1,
        l2,
        it_head,
        manager,
    }
}

/// Waits until `address` has a mail whose subject contains `needle`; returns it.
fn wait_subject(s: &common::Stack, address: &str, needle: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        if let Some(m) = s
            .mailbox(address)
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|h| h.contains(needle)))
        {
            return m;
        }
        assert!(
            start.elapsed() < WAIT,
            "{address} got no mail with `{needle}` in the subject"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn p1_rule_sets_priority_ack_states_it_and_a_late_response_escalates_once() {
    let s = stack();
    let d = desk();
    let user = unique("rina");
    s.send(
        &user,
        &d.loket.address,
        "SAP mati di semua cabang",
        "Tidak bisa posting.",
        "",
    );
    let ack = &s.wait_mail(&user, 1, WAIT)[0];
    let text = body_text(ack);
    assert!(text.contains("P1 (Critical)"), "{text}");
    assert!(text.contains("Target respons"), "{text}");
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM tickets WHERE priority = 'P1'"),
        1
    );
    assert!(
        d.loket
            .count("SELECT COUNT(*) FROM events WHERE kind = 'rule'")
            >= 1
    );

    // Nobody answers: at 50 % of 4 s the owner is warned, at 4 s the ticket goes to L2.
    let l1 = s.wait_mail(&d.l1, 3, WAIT);
    let subjects: Vec<String> = l1.iter().filter_map(|m| header(m, "Subject")).collect();
    assert!(
        subjects.iter().any(|s| s.contains("Peringatan SLA")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("terlewati")),
        "{subjects:?}"
    );
    let l2 = s.wait_mail(&d.l2, 1, WAIT);
    assert!(header(&l2[0], "Subject").unwrap().contains("dieskalasi"));
    d.loket
        .wait_count("SELECT COUNT(*) FROM tickets WHERE level = 2", 1, WAIT);
    std::thread::sleep(QUIET);
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM sla_steps WHERE step LIKE 'response%'"),
        2,
        "one warning, one breach"
    );
    assert_eq!(s.mailbox(&d.l2).len(), 1, "L2 told once");
}

#[test]
fn an_answer_in_time_prevents_the_response_escalation() {
    let s = stack();
    let d = desk();
    let user = unique("andi");
    s.send(
        &user,
        &d.loket.address,
        "Server down di gudang",
        "Mati.",
        "",
    );
    s.wait_mail(&d.l1, 1, WAIT);
    s.send(
        &d.l1,
        &d.loket.address,
        "RE: [HD-1] Server down di gudang",
        "Sedang kami tangani.",
        "",
    );
    d.loket.wait_count(
        "SELECT COUNT(*) FROM tickets WHERE first_response_at IS NOT NULL",
        1,
        WAIT,
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM sla_steps WHERE step = 'response_breach'"),
        0
    );
    assert_eq!(d.loket.count("SELECT level FROM tickets WHERE id = 1"), 1);
}

#[test]
fn security_mail_reaches_the_it_head_at_once() {
    let s = stack();
    let d = desk();
    let user = unique("dewi");
    s.send(
        &user,
        &d.loket.address,
        "Email phishing minta password",
        "Saya dapat email aneh.",
        "",
    );
    let alert = &s.wait_mail(&d.it_head, 1, WAIT)[0];
    assert!(
        header(alert, "Subject")
            .unwrap()
            .contains("INSIDEN KEAMANAN")
    );
    assert!(body_text(alert).contains("Saya dapat email aneh."));
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM tickets WHERE category = 'security'"),
        1
    );
}

#[test]
fn approval_by_the_requesters_manager() {
    let s = stack();
    let d = desk();
    let user = unique("keuangan-rina");
    s.send(
        &user,
        &d.loket.address,
        "Akses CCTV gudang",
        "Mohon akses CCTV.",
        "",
    );
    let ack = &s.wait_mail(&user, 1, WAIT)[0];
    assert!(
        body_text(ack).contains(&d.manager),
        "ack names the approver"
    );
    let request = &s.wait_mail(&d.manager, 1, WAIT)[0];
    let subject = header(request, "Subject").unwrap();
    assert!(subject.contains("[APV-"), "{subject}");
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM tickets WHERE status = 'awaiting-approval'"),
        1
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        s.mailbox(&d.l1).is_empty(),
        "technicians wait for the approval"
    );

    // A decision from someone else (with the token) changes nothing.
    let outsider = unique("mallory");
    s.send(
        &outsider,
        &d.loket.address,
        &format!("RE: {subject}"),
        "SETUJU",
        "",
    );
    // The manager approves.
    s.send(
        &d.manager,
        &d.loket.address,
        &format!("RE: {subject}"),
        "SETUJU",
        "",
    );
    wait_subject(s, &user, "disetujui");
    wait_subject(s, &d.l1, "[HD-1]");
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'open'"),
        1
    );
    // Replayed: ignored and logged.
    s.send(
        &d.manager,
        &d.loket.address,
        &format!("RE: {subject}"),
        "TOLAK",
        "",
    );
    d.loket.wait_count(
        "SELECT COUNT(*) FROM events WHERE kind = 'approval_ignored'",
        1,
        WAIT,
    );
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'open'"),
        1
    );
}

/// Issue 21: with authentication required, a manager's answer counts only when the receiving
/// server vouched for it, as a technician's command does; the approval code alone (a forwarded
/// request, a leaked mail) is not enough.
#[test]
fn forged_approval_decides_nothing_when_authentication_is_required() {
    let s = stack();
    let d = desk_with(
        "[security]\nrequire_authenticated_commands = true\nauthserv_id = \"mx.example.test\"\n",
    );
    let user = unique("keuangan-rina");
    s.send(
        &user,
        &d.loket.address,
        "Akses CCTV gudang",
        "Mohon akses CCTV.",
        "",
    );
    let request = &s.wait_mail(&d.manager, 1, WAIT)[0];
    let subject = header(request, "Subject").unwrap();
    let forged = [
        "",
        "Authentication-Results: evil.test; dkim=pass header.d=example.test\r\n",
        "Authentication-Results: mx.example.test; dkim=fail header.d=example.test\r\n\
         Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n",
    ];
    for headers in forged {
        s.send(
            &d.manager,
            &d.loket.address,
            &format!("RE: {subject}"),
            "SETUJU",
            headers,
        );
    }
    d.loket.wait_count(
        "SELECT COUNT(*) FROM events WHERE kind = 'approval_ignored'",
        forged.len() as i64,
        WAIT,
    );
    std::thread::sleep(QUIET);
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'awaiting-approval'"),
        1,
        "forged approvals decide nothing"
    );
    assert!(s.mailbox(&d.l1).is_empty(), "technicians still wait");
    assert_eq!(s.mailbox(&user).len(), 1, "only the acknowledgement");

    // The manager's own, vouched for by the receiving server.
    s.send(
        &d.manager,
        &d.loket.address,
        &format!("RE: {subject}"),
        "SETUJU",
        "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=example.test\r\n",
    );
    wait_subject(s, &user, "disetujui");
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM tickets WHERE id = 1 AND status = 'open'"),
        1
    );
}

#[test]
fn rejection_reaches_the_requester_with_the_reason() {
    let s = stack();
    let d = desk();
    let user = unique("keuangan-budi");
    s.send(
        &user,
        &d.loket.address,
        "Akses CCTV lobby",
        "Mohon akses.",
        "",
    );
    let request = &s.wait_mail(&d.manager, 1, WAIT)[0];
    let subject = header(request, "Subject").unwrap();
    s.send(
        &d.manager,
        &d.loket.address,
        &format!("RE: {subject}"),
        "TOLAK: akses CCTV hanya untuk satpam, minta rekaman lewat kepala gudang.",
        "",
    );
    let rejected = &s.wait_mail(&user, 2, WAIT)[1];
    assert!(body_text(rejected).contains("hanya untuk satpam"));
    assert_eq!(
        d.loket
            .count("SELECT COUNT(*) FROM tickets WHERE status = 'rejected'"),
        1
    );
}
