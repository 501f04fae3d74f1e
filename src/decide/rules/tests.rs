//! Rules over realistic mail: every message here is raw RFC 5322 text run through
//! `inbound::parse`, as the pipeline sees it.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::ConfigError;
use crate::inbound::parse;
use crate::model::Targets;

/// The example config shipped at the repository root: loaded here so that it can never rot.
const EXAMPLE: &str = include_str!("../../../loket.example.toml");

/// Added to `fixtures::minimal_toml` (which switches authenticated commands off: rules do
/// not look at them).
const MINIMAL_EXTRA: &str = r#"
[[technicians]]
email = "sari@example.co.id"
name = "Sari"
level = 2
"#;

fn example() -> Config {
    Config::from_toml(EXAMPLE, Path::new("loket.example.toml"))
        .unwrap_or_else(|e| panic!("loket.example.toml: {e}"))
}

fn load(extra: &str) -> Result<Config, ConfigError> {
    // `extra` first: its top-level keys (`priorities = []`) must not land in a table of MINIMAL.
    let minimal = crate::fixtures::minimal_toml("helpdesk@example.co.id");
    Config::from_toml(
        &format!("{extra}\n{minimal}{MINIMAL_EXTRA}"),
        Path::new("test.toml"),
    )
}

fn config(extra: &str) -> Config {
    load(extra).unwrap_or_else(|e| panic!("{e}"))
}

fn error(extra: &str) -> String {
    match load(extra) {
        Ok(_) => panic!("config was accepted:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

fn parsed(raw: &str) -> Inbound {
    parse::parse(raw.as_bytes()).unwrap_or_else(|e| panic!("{e}:\n{raw}"))
}

/// A plain-text mail as a mail client writes it.
fn mail(from: &str, subject: &str, body: &str) -> Inbound {
    parsed(&format!(
        "Return-Path: <{addr}>\r\n\
         Received: from mail.example.co.id (mail.example.co.id [10.0.0.5])\r\n\
         \tby mx.example.co.id with ESMTPS id 4Xk2; Mon, 3 Mar 2025 09:15:02 +0700\r\n\
         From: {from}\r\n\
         To: IT Helpdesk <helpdesk@example.co.id>\r\n\
         Subject: {subject}\r\n\
         Date: Mon, 3 Mar 2025 09:15:00 +0700\r\n\
         Message-ID: <{id}@mail.example.co.id>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=\"UTF-8\"\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}\r\n",
        addr = from
            .rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>'))
            .unwrap_or(from),
        id = subject.len() * 7919 + body.len(),
        body = body.replace('\n', "\r\n"),
    ))
}

fn category_of(c: &Classification) -> &str {
    c.category.as_deref().unwrap_or("-")
}

// ---------------------------------------------------------------------------------------------
// The example config's default categories, in both languages

struct Case {
    lang: &'static str,
    from: &'static str,
    subject: &'static str,
    body: &'static str,
    category: &'static str,
    priority: &'static str,
}

const CASES: &[Case] = &[
    // hardware
    Case {
        lang: "id",
        from: "Rina Wulandari <rina@example.co.id>",
        subject: "Laptop tidak mau menyala",
        body: "Selamat pagi,\n\nLaptop saya (ThinkPad T14) sejak tadi pagi tidak mau menyala \
               walaupun sudah dicas semalaman. Lampu indikator tidak hidup sama sekali.\n\n\
               Mohon bantuannya.\n\nTerima kasih,\nRina\nStaf Keuangan\n\
               Email: rina@example.co.id | Telp: 021-555-0101",
        category: "hardware",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "Kevin Tan <kevin.tan@example.co.id>",
        subject: "Second monitor flickering since the desk move",
        body: "Hi team,\n\nSince we moved desks yesterday my second monitor keeps flickering \
               and goes black every few minutes. I already tried another cable.\n\n\
               Thanks,\nKevin\n\nSent from Outlook for Android",
        category: "hardware",
        priority: "P3",
    },
    // printer
    Case {
        lang: "id",
        from: "Budi Santoso <budi.s@example.co.id>",
        subject: "Printer lantai 2 rusak",
        body: "Printer HP di lantai 2 hanya mencetak halaman kosong, padahal toner baru \
               diganti kemarin.\n\nDikirim dari iPhone saya",
        category: "printer",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "maya@example.co.id",
        subject: "Paper jam on the 3rd floor",
        body: "Hello, the big Canon on the third floor says paper jam in tray 2 but there is \
               no paper stuck anywhere. Regards, Maya",
        category: "printer",
        priority: "P3",
    },
    // network
    Case {
        lang: "id",
        from: "Dimas <dimas@example.co.id>",
        subject: "Internet di ruang marketing sering putus",
        body: "Sejak pagi koneksi internet di ruang marketing sering putus, wifi kantor juga \
               tidak bisa konek dari HP.\n\nSalam,\nDimas",
        category: "network",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "Linda <linda@example.co.id>",
        subject: "Cannot connect to VPN from home",
        body: "I get 'connection timed out' in FortiClient since this morning when I work \
               from home. Colleagues at the office have no problem.\n\nLinda",
        category: "network",
        priority: "P3",
    },
    // email, mailbox quota included
    Case {
        lang: "id",
        from: "Sri Lestari <sri@example.co.id>",
        subject: "Mailbox penuh, tidak bisa kirim email",
        body: "Setiap kali saya mengirim email muncul pesan bahwa kuota mailbox sudah \
               penuh. Lampiran dari vendor juga tidak masuk.\n\nTerima kasih",
        category: "email",
        priority: "P3",
    },
    Case {
        lang: "id",
        from: "Agus <agus@example.co.id>",
        subject: "Kuota email hampir habis",
        body: "Muncul peringatan kotak surat saya sudah 98%. Apakah bisa ditambah?",
        category: "email",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "Peter <peter@example.co.id>",
        subject: "Outlook keeps asking for my password",
        body: "Since the password change on Friday, Outlook keeps prompting for my \
               credentials every few minutes. Webmail works fine.",
        category: "email",
        priority: "P3",
    },
    // SAP and other business applications
    Case {
        lang: "id",
        from: "Wati <wati@example.co.id>",
        subject: "SAP error saat posting invoice",
        body: "Saat posting invoice di SAP (t-code MIRO) muncul error 'Balance not zero'. \
               Padahal nilainya sudah sama. Mohon dicek.",
        category: "application",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "Hannah <hannah@example.co.id>",
        subject: "HRIS payroll report shows wrong totals",
        body: "The monthly payroll report in the HRIS shows totals that do not match the \
               sum of the rows. Attached is a screenshot.",
        category: "application",
        priority: "P3",
    },
    // change request
    Case {
        lang: "id",
        from: "Wati <wati@example.co.id>",
        subject: "Permintaan perubahan: tambah kolom di laporan SAP",
        body: "Mohon ditambahkan kolom nomor PO pada laporan aging di SAP, untuk \
               kebutuhan audit bulan depan.",
        category: "change-request",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "Hannah <hannah@example.co.id>",
        subject: "Change request: add a field to the leave form on the intranet",
        body: "Could we add a 'replacement employee' field to the leave form? HR needs it \
               from next month.",
        category: "change-request",
        priority: "P3",
    },
    // access request: accounts, VPN, CCTV, data center
    Case {
        lang: "id",
        from: "Dewi <dewi@example.co.id>",
        subject: "Permohonan akses folder bersama Keuangan",
        body: "Mohon dibuatkan hak akses baca ke folder \\\\fileserver\\keuangan untuk staf \
               baru kami, Andika (andika@example.co.id), mulai Senin.",
        category: "access-request",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "Kevin Tan <kevin.tan@example.co.id>",
        subject: "Request access to the VPN for a new engineer",
        body: "Please create a VPN account for Arif, who joins the network team on \
               Monday.",
        category: "access-request",
        priority: "P3",
    },
    Case {
        lang: "id",
        from: "Satpam Lobi <satpam@example.co.id>",
        subject: "Permintaan rekaman CCTV lobi tanggal 3 Maret",
        body: "Mohon rekaman CCTV lobi utama tanggal 3 Maret pukul 13.00-15.00 untuk \
               keperluan investigasi kehilangan barang.",
        category: "access-request",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "Facilities <facilities@example.co.id>",
        subject: "Data center visit for the UPS vendor on Friday",
        body: "The UPS vendor needs to enter the data center on Friday 10:00 for the \
               yearly maintenance. Two technicians.",
        category: "access-request",
        priority: "P3",
    },
    // virtual meeting support: urgency high, so P2 through the matrix
    Case {
        lang: "id",
        from: "Sekretariat Direksi <sekdir@example.co.id>",
        subject: "Bantuan rapat virtual direksi jam 14.00",
        body: "Mohon bantuan menyiapkan Zoom dan kamera di ruang rapat lantai 5 untuk \
               rapat direksi dengan kantor cabang jam 14.00.",
        category: "meeting",
        priority: "P2",
    },
    Case {
        lang: "en",
        from: "Maya <maya@example.co.id>",
        subject: "Help with Teams for the client call",
        body: "Could someone help set up the room PC for the client call at 3pm? About \
               ten people will join from Singapore.",
        category: "meeting",
        priority: "P2",
    },
    // security incidents: escalated, P1
    Case {
        lang: "id",
        from: "Rina Wulandari <rina@example.co.id>",
        subject: "Akun email saya diretas",
        body: "Teman-teman menerima email dari akun saya yang berisi link aneh. \
               Sepertinya akun saya diretas. Password sudah saya ganti.",
        category: "security",
        priority: "P1",
    },
    Case {
        lang: "id",
        from: "Agus <agus@example.co.id>",
        subject: "Mohon bantuan, komputer aneh",
        body: "Komputer saya sepertinya terkena virus, muncul jendela tebusan dan file \
               berubah nama menjadi .locked.",
        category: "security",
        priority: "P1",
    },
    Case {
        lang: "en",
        from: "Peter <peter@example.co.id>",
        subject: "Suspicious email asking for my password",
        body: "I received an email that looks like it comes from IT, asking me to confirm \
               my password at a strange link. I did not click it. Is this phishing?",
        category: "security",
        priority: "P1",
    },
    // procurement
    Case {
        lang: "id",
        from: "Dewi <dewi@example.co.id>",
        subject: "Pengadaan laptop untuk karyawan baru",
        body: "Mohon diproses pengadaan 3 unit laptop untuk karyawan baru divisi \
               keuangan yang mulai bulan depan.",
        category: "procurement",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "Linda <linda@example.co.id>",
        subject: "Purchase request: 5 monitors for the design team",
        body: "Please raise a purchase request for five 27-inch monitors; budget was \
               approved by Pak Hadi.",
        category: "procurement",
        priority: "P3",
    },
    // nothing matches: the default category and priority
    Case {
        lang: "id",
        from: "Yanti <yanti@example.co.id>",
        subject: "Pertanyaan jam operasional",
        body: "Selamat siang, saya mau tanya jam operasional helpdesk saat libur lebaran.\n\n\
               Terima kasih.\n\n--\nVirus-free. www.avast.com",
        category: "general",
        priority: "P3",
    },
    Case {
        lang: "en",
        from: "Maya <maya@example.co.id>",
        subject: "Question about the induction session",
        body: "Hello, when is the next induction session for new employees?\n\nRegards,\nMaya",
        category: "general",
        priority: "P3",
    },
];

#[test]
fn example_config_loads_with_its_rules() {
    let cfg = example();
    assert!(cfg.rules.len() > 20, "{}", cfg.rules.len());
    assert_eq!(cfg.priorities.len(), 3);
    assert_eq!(
        cfg.matrix.as_ref(),
        Some(&Matrix::derived(&cfg.priorities)),
        "the example's matrix is documented as the derived one"
    );
    for name in [
        "hardware",
        "printer",
        "network",
        "email",
        "application",
        "change-request",
        "access-request",
        "meeting",
        "security",
        "procurement",
        "general",
    ] {
        assert!(category(&cfg, name).is_some(), "{name}");
    }
}

#[test]
fn example_rules_classify_every_default_category_in_both_languages() {
    let cfg = example();
    let mut failures = Vec::new();
    for case in CASES {
        let c = evaluate(&cfg, &mail(case.from, case.subject, case.body));
        if category_of(&c) != case.category || c.priority != case.priority {
            failures.push(format!(
                "[{}] {:?}: got {} {}, want {} {}\n{}",
                case.lang,
                case.subject,
                category_of(&c),
                c.priority,
                case.category,
                case.priority,
                c.matched()
                    .map(|t| format!("    {t}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // Every default category is covered in both languages.
    for cat in &example().categories {
        for lang in ["id", "en"] {
            assert!(
                CASES
                    .iter()
                    .any(|c| c.category == cat.name && c.lang == lang),
                "no {lang} case for {}",
                cat.name
            );
        }
    }
}

#[test]
fn example_security_rule_escalates_and_stops() {
    let cfg = example();
    let c = evaluate(
        &cfg,
        &mail(
            "rina@example.co.id",
            "Akun email saya diretas",
            "Mailbox saya penuh dengan email spam yang terkirim dari akun saya.",
        ),
    );
    assert_eq!(category_of(&c), "security");
    assert!(c.escalate);
    assert_eq!(c.level, 2, "the security category starts at level 2");
    assert_eq!(c.tags, vec!["security".to_string()]);
    assert!(c.trace[0].matched && c.trace[0].set.contains(&"stop".to_string()));
    assert!(c.trace[1..].iter().all(|t| !t.matched
        && t.reason.contains("not evaluated")
        && t.reason.contains("rules[0]")));
}

#[test]
fn example_sap_alias_routes_to_the_sap_team() {
    let cfg = example();
    let msg = parsed(
        "From: Wati <wati@example.co.id>\r\n\
         To: SAP Support <sap-support@example.co.id>\r\n\
         Cc: helpdesk@example.co.id\r\n\
         Subject: Tidak bisa login\r\n\
         Message-ID: <alias-1@example.co.id>\r\n\
         \r\n\
         Muncul pesan user terkunci.\r\n",
    );
    let c = evaluate(&cfg, &msg);
    assert_eq!(category_of(&c), "application");
    assert_eq!(c.assignee.as_deref(), Some("sari@example.co.id"));
    assert_eq!(c.level, 2);
    assert!(c.tags.contains(&"sap".to_string()));
}

#[test]
fn example_physical_access_needs_the_managers_approval() {
    let cfg = example();
    let c = evaluate(
        &cfg,
        &mail(
            "satpam@example.co.id",
            "Permintaan rekaman CCTV parkir",
            "Untuk investigasi.",
        ),
    );
    assert_eq!(category_of(&c), "access-request");
    assert_eq!(c.approval.as_deref(), Some("manager"));
    assert!(c.tags.contains(&"physical-access".to_string()));
}

#[test]
fn example_company_wide_outage_with_urgent_subject_is_p1() {
    let cfg = example();
    let c = evaluate(
        &cfg,
        &mail(
            "wati@example.co.id",
            "PENTING: SAP down",
            "SAP tidak bisa dibuka oleh semua user di kantor pusat sejak 08.10.",
        ),
    );
    assert_eq!(category_of(&c), "application");
    assert_eq!(c.priority, "P1");
    assert_eq!(c.urgent_word.as_deref(), Some("penting"));
}

#[test]
fn example_vendor_gets_english_and_importance_header_raises_urgency() {
    let cfg = example();
    let msg = parsed(
        "From: Support <support@emea.sap-partner.example>\r\n\
         To: helpdesk@example.co.id\r\n\
         Subject: Patch window for the production system\r\n\
         Importance: High\r\n\
         Message-ID: <vendor-1@sap-partner.example>\r\n\
         \r\n\
         We plan to apply the patch on Saturday.\r\n",
    );
    let c = evaluate(&cfg, &msg);
    assert_eq!(c.language.as_deref(), Some("en"));
    assert!(c.tags.contains(&"vendor".to_string()));
    assert_eq!(c.urgency, Some(Grade::High));
    assert_eq!(c.priority, "P2");
}

// ---------------------------------------------------------------------------------------------
// Conditions

#[test]
fn words_match_whole_words_in_any_case_and_script() {
    let cfg = config(
        r#"
[[categories]]
name = "x"

[[rules]]
subject_any = ["sap", "mailbox penuh", "café", "print*", "e-mail"]
category = "x"
"#,
    );
    let hit = |subject: &str| evaluate(&cfg, &mail("a@example.co.id", subject, "-")).category;
    for yes in [
        "SAP lambat",
        "(sap) error",
        "Mailbox PENUH!!",
        "mailbox - penuh",
        "Mesin CAFÉ rusak",
        "Printernya macet",
        "PRINTING gagal",
        "E-Mail tidak masuk",
        "e mail tidak masuk",
    ] {
        assert_eq!(hit(yes).as_deref(), Some("x"), "{yes}");
    }
    for no in [
        "Sapu hilang",
        "mailbox saya penuh",
        "cafe",
        "Reprint faktur",
        "email tidak masuk",
        "",
    ] {
        assert_eq!(hit(no), None, "{no}");
    }
}

#[test]
fn sender_globs_match_the_address_or_the_domain() {
    let cfg = config(
        r#"
[[rules]]
name = "vendor"
from = ["*@vendor.example", "*.partner.example", "boss@example.co.id"]
tags = ["hit"]
"#,
    );
    let tagged = |from: &str| !evaluate(&cfg, &mail(from, "Halo", "-")).tags.is_empty();
    assert!(tagged("Ann <ann@vendor.example>"));
    assert!(tagged("ANN@VENDOR.EXAMPLE"));
    assert!(tagged("bob@mail.partner.example"));
    assert!(tagged("boss@example.co.id"));
    assert!(!tagged("ann@vendor.example.evil.test"));
    assert!(!tagged("bob@partner.example"));
    assert!(!tagged("rina@example.co.id"));
    let c = evaluate(&cfg, &mail("rina@example.co.id", "Halo", "-"));
    assert!(
        c.trace[0].reason.contains("rina@example.co.id"),
        "{}",
        c.trace[0]
    );
}

#[test]
fn recipient_globs_look_at_to_and_cc() {
    let cfg = config(
        r#"
[[rules]]
to = "sap-support@*"
tags = ["sap"]
"#,
    );
    let with = |to: &str, cc: &str| {
        let msg = parsed(&format!(
            "From: rina@example.co.id\r\nTo: {to}\r\nCc: {cc}\r\nSubject: x\r\n\r\nbody\r\n"
        ));
        evaluate(&cfg, &msg).tags
    };
    assert_eq!(
        with("sap-support@example.co.id", "x@example.co.id"),
        ["sap"]
    );
    assert_eq!(
        with("helpdesk@example.co.id", "SAP <SAP-Support@example.co.id>"),
        ["sap"]
    );
    assert!(with("helpdesk@example.co.id", "sap@example.co.id").is_empty());
}

#[test]
fn regular_expressions_headers_and_attachments() {
    let cfg = config(
        r#"
[[rules]]
name = "invoice number"
subject_regex = '(?i)\binv-\d{4}\b'
tags = ["invoice"]

[[rules]]
name = "monitoring"
body_regex = 'severity=(critical|major)'
header = [{ name = "X-Mailer", contains = "zabbix" }, { name = "X-Env", equals = "prod" }]
tags = ["alert"]

[[rules]]
name = "screenshots"
has_attachment = true
tags = ["attachment"]
"#,
    );
    let plain = evaluate(
        &cfg,
        &mail("rina@example.co.id", "Tagihan INV-2024 salah", "-"),
    );
    assert_eq!(plain.tags, ["invoice"]);
    assert!(
        plain.trace[1].reason.starts_with("body does not match"),
        "{}",
        plain.trace[1]
    );
    assert_eq!(plain.trace[2].reason, "the message has no attachments");

    let alert = parsed(
        "From: zabbix@example.co.id\r\nTo: helpdesk@example.co.id\r\nSubject: Problem\r\n\
         X-Mailer: Zabbix 6.0\r\nX-Env:  PROD \r\n\r\nHost db1: severity=critical\r\n",
    );
    assert_eq!(evaluate(&cfg, &alert).tags, ["alert"]);
    let staging = parsed(
        "From: zabbix@example.co.id\r\nTo: helpdesk@example.co.id\r\nSubject: Problem\r\n\
         X-Mailer: Zabbix 6.0\r\nX-Env: staging\r\n\r\nHost db1: severity=critical\r\n",
    );
    let c = evaluate(&cfg, &staging);
    assert!(c.tags.is_empty());
    assert!(
        c.trace[1].reason.contains("does not equal"),
        "{}",
        c.trace[1]
    );

    let with_file = parsed(
        "From: Rina <rina@example.co.id>\r\n\
         To: helpdesk@example.co.id\r\n\
         Subject: Layar error\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Lihat lampiran.\r\n\
         --b1\r\n\
         Content-Type: image/png; name=\"layar.png\"\r\n\
         Content-Disposition: attachment; filename=\"layar.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         iVBORw0KGgo=\r\n\
         --b1--\r\n",
    );
    let c = evaluate(&cfg, &with_file);
    assert_eq!(c.tags, ["attachment"]);
    assert!(c.trace[2].reason.contains("1 attachment"), "{}", c.trace[2]);
}

#[test]
fn encoded_subjects_and_quoted_printable_bodies_are_matched_decoded() {
    let cfg = config(
        r#"
[[categories]]
name = "network"

[[rules]]
subject_any = ["jaringan"]
category = "network"

[[rules]]
body_any = ["kantor cabang"]
tags = ["cabang"]
"#,
    );
    let msg = parsed(
        "From: =?UTF-8?Q?Rina_Wulandari?= <rina@example.co.id>\r\n\
         To: helpdesk@example.co.id\r\n\
         Subject: =?UTF-8?B?SmFyaW5nYW4gbGFtYmF0IOKAkyBtb2hvbiBiYW50dWFu?=\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         Di kantor =\r\n\
         cabang Bandung internet sangat lambat =E2=80=93 mohon dicek.\r\n",
    );
    assert_eq!(msg.subject, "Jaringan lambat – mohon bantuan");
    let c = evaluate(&cfg, &msg);
    assert_eq!(category_of(&c), "network");
    assert_eq!(c.tags, ["cabang"]);
}

// ---------------------------------------------------------------------------------------------
// Matrix

#[test]
fn derived_matrix_for_three_priorities() {
    let m = Matrix::derived(&default_priorities());
    use Grade::*;
    let table = [
        (High, High, "P1"),
        (High, Medium, "P2"),
        (Medium, High, "P2"),
        (High, Low, "P3"),
        (Medium, Medium, "P3"),
        (Low, High, "P3"),
        (Medium, Low, "P3"),
        (Low, Medium, "P3"),
        (Low, Low, "P3"),
    ];
    for (impact, urgency, want) in table {
        assert_eq!(m.get(impact, urgency), want, "{impact} x {urgency}");
    }
}

#[test]
fn impact_or_urgency_alone_goes_through_the_matrix_with_medium_for_the_other() {
    let cfg = config(
        r#"
[[rules]]
subject_any = ["semua"]
impact = "high"

[[rules]]
subject_any = ["nanti"]
urgency = "low"

[[rules]]
subject_any = ["kritis"]
impact = "high"
urgency = "high"
"#,
    );
    let prio = |subject: &str| {
        let c = evaluate(&cfg, &mail("a@example.co.id", subject, "-"));
        (c.priority, c.priority_from)
    };
    use Grade::*;
    assert_eq!(
        prio("semua user"),
        (
            "P2".into(),
            PriorityFrom::Matrix {
                impact: High,
                urgency: Medium
            }
        )
    );
    assert_eq!(prio("nanti saja").0, "P3");
    assert_eq!(prio("semua kritis").0, "P1");
    assert_eq!(prio("halo"), ("P3".into(), PriorityFrom::Default));
}

#[test]
fn configured_matrix_replaces_the_derived_one() {
    let cfg = config(
        r#"
[matrix]
high   = { high = "p1", medium = "P1", low = "P2" }
medium = { high = "P2", medium = "P2", low = "P3" }
low    = { high = "P3", medium = "P3", low = "P3" }

[[rules]]
subject_any = ["semua"]
impact = "high"
"#,
    );
    assert_eq!(matrix(&cfg).get(Grade::High, Grade::High), "P1");
    let c = evaluate(&cfg, &mail("a@example.co.id", "semua", "-"));
    assert_eq!(c.priority, "P1");
}

// ---------------------------------------------------------------------------------------------
// Precedence and stop

const LAYERED: &str = r#"
[[categories]]
name = "hardware"

[[categories]]
name = "printer"
level = 2

[[rules]]
name = "device"
subject_any = ["rusak"]
category = "hardware"
tags = ["device"]
urgency = "high"

[[rules]]
name = "printer"
subject_any = ["printer"]
category = "printer"
tags = ["printer", "device"]

[[rules]]
name = "vip"
from = "*@direksi.example.co.id"
priority = "P1"
level = 3
assignee = "Sari@Example.co.id"
stop = true

[[rules]]
name = "after stop"
subject_any = ["printer"]
priority = "P3"
tags = ["never"]
"#;

#[test]
fn later_rules_override_and_tags_add_up() {
    let cfg = config(LAYERED);
    let c = evaluate(&cfg, &mail("rina@example.co.id", "Printer rusak", "-"));
    assert_eq!(category_of(&c), "printer");
    assert_eq!(c.tags, ["device", "printer", "never"]);
    assert_eq!(c.level, 2, "the category's level when no rule sets one");
    // The last rule's explicit priority beats the urgency an earlier rule set.
    assert_eq!(c.priority, "P3");
    assert_eq!(c.priority_from, PriorityFrom::Rule(3));
    assert_eq!(c.urgency, Some(Grade::High));
    assert_eq!(
        c.trace.iter().map(|t| t.matched).collect::<Vec<_>>(),
        [true, true, false, true]
    );
    assert_eq!(
        c.trace[1].set,
        ["category = \"printer\"", "tags += \"printer\", \"device\""]
    );
}

#[test]
fn stop_ends_evaluation_and_says_so() {
    let cfg = config(LAYERED);
    let c = evaluate(
        &cfg,
        &mail("pak.hadi@direksi.example.co.id", "Printer rusak", "-"),
    );
    assert_eq!(category_of(&c), "printer");
    assert_eq!(c.priority, "P1");
    assert_eq!(c.priority_from, PriorityFrom::Rule(2));
    assert_eq!(c.level, 3, "a rule's level beats the category's");
    assert_eq!(c.assignee.as_deref(), Some("sari@example.co.id"));
    assert_eq!(c.tags, ["device", "printer"]);
    assert!(!c.trace[3].matched);
    assert_eq!(
        c.trace[3].reason,
        "not evaluated: rules[2] matched and stops evaluation"
    );
    assert_eq!(
        c.trace[2].to_string(),
        "rules[2] \"vip\" matched (from pak.hadi@direksi.example.co.id matches \
         \"*@direksi.example.co.id\"): priority = \"P1\", assignee = \"sari@example.co.id\", \
         level = 3, stop"
    );
}

#[test]
fn explicit_priority_wins_over_a_later_matrix_rule() {
    let cfg = config(
        r#"
[[rules]]
subject_any = ["printer"]
priority = "P3"

[[rules]]
subject_any = ["printer"]
impact = "high"
urgency = "high"
"#,
    );
    let c = evaluate(&cfg, &mail("a@example.co.id", "printer", "-"));
    assert_eq!(c.priority, "P3");
    assert_eq!(c.priority_from, PriorityFrom::Rule(0));
}

#[test]
fn unmatched_mail_gets_the_configured_defaults() {
    let cfg = config(
        r#"
[[categories]]
name = "general"
label = "Umum"

[classify]
default_category = "GENERAL"
default_priority = "p2"
"#,
    );
    let c = evaluate(&cfg, &mail("a@example.co.id", "Halo", "Apa kabar?"));
    assert_eq!(c.category.as_deref(), Some("general"));
    assert_eq!(c.priority, "P2");
    assert_eq!(c.priority_from, PriorityFrom::Default);
    assert_eq!(c.level, 1);
    assert!(c.trace.is_empty());
    assert!(c.to_string().contains("no rule matched"), "{c}");

    // Without [classify]: uncategorised, and the least urgent priority.
    let c = evaluate(&config(""), &mail("a@example.co.id", "Halo", "-"));
    assert_eq!(c.category, None);
    assert_eq!(c.priority, "P3");
}

// ---------------------------------------------------------------------------------------------
// Urgent words

#[test]
fn urgent_words_in_the_subject_raise_urgency() {
    let cfg = config("");
    for subject in [
        "URGENT: printer rusak",
        "[PENTING] SAP tidak bisa login",
        "Mohon segera dibantu",
        "Laptop mati - mendesak!",
        "darurat",
    ] {
        let c = evaluate(&cfg, &mail("a@example.co.id", subject, "-"));
        assert_eq!(c.urgency, Some(Grade::High), "{subject}");
        assert_eq!(c.priority, "P2", "{subject}: medium impact x high urgency");
        assert!(c.urgent_word.is_some());
    }
    for subject in ["Urgently needed?", "Kepentingan umum", "Printer rusak"] {
        let c = evaluate(&cfg, &mail("a@example.co.id", subject, "-"));
        assert_eq!(c.urgency, None, "{subject}");
        assert_eq!(c.priority, "P3");
    }
    // In the body only: no marker.
    let c = evaluate(
        &cfg,
        &mail("a@example.co.id", "Printer", "Mohon segera, urgent."),
    );
    assert_eq!(c.urgency, None);
}

#[test]
fn rules_run_after_urgent_words_and_may_override_them() {
    let cfg = config(
        r#"
[classify]
urgent_words = ["kilat"]

[[rules]]
from = "*@newsletter.example"
urgency = "low"
"#,
    );
    let c = evaluate(
        &cfg,
        &mail("promo@newsletter.example", "Promo KILAT hari ini", "-"),
    );
    assert_eq!(c.urgent_word.as_deref(), Some("kilat"));
    assert_eq!(c.urgency, Some(Grade::Low));
    assert_eq!(c.priority, "P3");
    // The configured list replaces the default one.
    let c = evaluate(&cfg, &mail("a@example.co.id", "URGENT", "-"));
    assert_eq!(c.urgency, None);
    let off = config("[classify]\nurgent_words = []\n");
    assert_eq!(
        evaluate(&off, &mail("a@example.co.id", "URGENT", "-")).urgency,
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Config errors name the rule's index and key

#[test]
fn bad_regex_is_named() {
    let err = error(
        r#"
[[rules]]
subject_regex = "ok"
tags = ["a"]

[[rules]]
body_regex = "(unclosed"
tags = ["b"]
"#,
    );
    assert!(
        err.contains("rules[1].body_regex") && err.contains("not a valid regular expression"),
        "{err}"
    );
}

#[test]
fn unknown_priority_is_named_with_the_known_ones() {
    let err = error(
        r#"
[[rules]]
subject_any = ["a"]
tags = ["a"]

[[rules]]
subject_any = ["b"]
tags = ["b"]

[[rules]]
subject_any = ["c"]
tags = ["c"]

[[rules]]
subject_any = ["d"]
priority = "P9"
"#,
    );
    assert!(
        err.contains(r#"rules[3].priority`: unknown priority "P9" (known: P1, P2, P3)"#),
        "{err}"
    );
}

#[test]
fn unknown_category_is_named() {
    let err = error(
        r#"
[[categories]]
name = "printer"

[[rules]]
subject_any = ["printer"]
category = "printers"
"#,
    );
    assert!(
        err.contains("rules[0].category") && err.contains(r#""printers" (known: printer)"#),
        "{err}"
    );
    let err = error("[[rules]]\nsubject_any = [\"x\"]\ncategory = \"x\"\n");
    assert!(err.contains("none configured"), "{err}");
}

#[test]
fn unknown_key_is_named() {
    let err = error(
        r#"
[[rules]]
subject_any = ["a"]
tags = ["a"]

[[rules]]
subject_any = ["b"]
prioritee = "P1"
"#,
    );
    assert!(err.contains("rules[1].prioritee"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn bad_values_are_named_by_rule_and_key() {
    let cases = [
        ("urgency = \"mid\"", "rules[0].urgency"),
        ("impact = 3", "rules[0].impact"),
        ("level = 7", "rules[0].level"),
        ("level = 300", "rules[0].level"),
        ("tags = \"a\"", "rules[0].tags"),
        ("language = \"fr\"", "rules[0].language"),
        ("assignee = \"nobody@example.co.id\"", "rules[0].assignee"),
        ("approval = \"not an address\"", "rules[0].approval"),
        ("header = { name = \"X-A\" }", "rules[0].header[0]"),
        (
            "header = { name = \"X-A\", equals = \"1\", contains = \"1\" }",
            "rules[0].header[0]",
        ),
        (
            "header = { name = \"X A\", equals = \"1\" }",
            "rules[0].header[0].name",
        ),
        ("header = { name = \"X-A\", is = \"1\" }", "rules[0].header"),
        ("subject_any = [\"--\"]", "rules[0].subject_any[0]"),
        ("from = [\"*@a.example\", \"\"]", "rules[0].from[1]"),
        ("to = 5", "rules[0].to"),
    ];
    for (line, key) in cases {
        let err = error(&format!("[[rules]]\nstop = true\n{line}\n"));
        assert!(err.contains(&format!("`{key}`")), "{line}: {err}");
    }
    let err = error("[[rules]]\nsubject_any = [\"x\"]\n");
    assert!(
        err.contains("`rules[0]`") && err.contains("sets nothing"),
        "{err}"
    );
    let err = error("rules = [1]\n");
    assert!(err.contains("`rules[0]`"), "{err}");
}

#[test]
fn other_sections_are_checked_by_key() {
    let cases = [
        (
            "[matrix]\nhigh = { high = \"P0\", medium = \"P1\", low = \"P2\" }\n\
             medium = { high = \"P1\", medium = \"P2\", low = \"P3\" }\n\
             low = { high = \"P2\", medium = \"P3\", low = \"P3\" }\n",
            "matrix.high.high",
        ),
        (
            "[classify]\ndefault_priority = \"P4\"\n",
            "classify.default_priority",
        ),
        (
            "[classify]\ndefault_category = \"x\"\n",
            "classify.default_category",
        ),
        (
            "[classify]\nurgent_words = [\"!!\"]\n",
            "classify.urgent_words[0]",
        ),
        ("[[categories]]\nname = \"a b\"\n", "categories[0].name"),
        (
            "[[categories]]\nname = \"a\"\nlevel = 4\n",
            "categories[0].level",
        ),
        (
            "[[categories]]\nname = \"a\"\n[[categories]]\nname = \"A\"\n",
            "categories[1].name",
        ),
        (
            "[[priorities]]\nname = \"P1\"\nresponse = \"1h\"\nresolution = \"30m\"\n",
            "priorities[0].resolution",
        ),
        (
            "[[priorities]]\nname = \"P1\"\nresponse = \"0s\"\nresolution = \"30m\"\n",
            "priorities[0].response",
        ),
        (
            "[[priorities]]\nname = \"P1\"\nresponse = \"1h\"\nresolution = \"2h\"\n\
             [[priorities]]\nname = \"p1\"\nresponse = \"1h\"\nresolution = \"2h\"\n",
            "priorities[1].name",
        ),
        ("priorities = []\n", "priorities"),
    ];
    for (text, key) in cases {
        let err = error(text);
        assert!(err.contains(&format!("`{key}`")), "{text}: {err}");
    }
    // A matrix missing a row, or a priority with a bad duration: toml names the key and line.
    let err = error("[matrix]\nhigh = { high = \"P1\", medium = \"P2\", low = \"P3\" }\n");
    assert!(err.contains("medium"), "{err}");
    let err = error("[[priorities]]\nname = \"P1\"\nresponse = \"soon\"\nresolution = \"2h\"\n");
    assert!(err.contains("response") && err.contains("soon"), "{err}");
    let err = error("[classify]\ndefault = \"x\"\n");
    assert!(err.contains("default"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// A four-level priority set

#[test]
fn four_level_priorities() {
    let cfg = config(
        r#"
[[priorities]]
name = "Urgent"
response = "15m"
resolution = "4h"
always_on = true

[[priorities]]
name = "High"
response = "1h"
resolution = "8h"

[[priorities]]
name = "Medium"
response = "4h"
resolution = "24h"

[[priorities]]
name = "Low"
label = "Rendah"
response = "8h"
resolution = "72h"

[[rules]]
subject_any = ["semua"]
impact = "high"

[[rules]]
subject_any = ["nanti"]
urgency = "low"

[[rules]]
subject_any = ["gedung"]
priority = "urgent"
"#,
    );
    use Grade::*;
    let m = matrix(&cfg);
    assert_eq!(m.get(High, High), "Urgent");
    assert_eq!(m.get(High, Medium), "High");
    assert_eq!(m.get(Medium, High), "High");
    assert_eq!(m.get(High, Low), "Medium");
    assert_eq!(m.get(Medium, Medium), "Medium");
    assert_eq!(m.get(Low, High), "Medium");
    assert_eq!(m.get(Medium, Low), "Low");
    assert_eq!(m.get(Low, Low), "Low");

    let prio = |subject: &str| evaluate(&cfg, &mail("a@example.co.id", subject, "-")).priority;
    assert_eq!(prio("semua"), "High");
    assert_eq!(prio("semua URGENT"), "Urgent");
    assert_eq!(prio("nanti saja"), "Low");
    assert_eq!(
        prio("gedung"),
        "Urgent",
        "names are matched in any case, kept as declared"
    );
    assert_eq!(prio("halo"), "Low", "the default is the least urgent");

    let urgent = priority(&cfg, "URGENT").map(Priority::targets);
    assert_eq!(
        urgent,
        Some(Targets {
            response: Duration::from_secs(15 * 60),
            resolution: Duration::from_secs(4 * 3600),
            always_on: true,
        })
    );
    assert_eq!(
        priority(&cfg, "Low").map(|p| p.label.as_str()),
        Some("Rendah")
    );
    assert_eq!(
        priority(&cfg, "High").map(|p| p.label.as_str()),
        Some("High")
    );
    assert!(priority(&cfg, "P1").is_none());
}

#[test]
fn default_priorities_when_none_are_configured() {
    let cfg = config("");
    let names: Vec<(&str, &str, bool)> = cfg
        .priorities
        .iter()
        .map(|p| (p.name.as_str(), p.label.as_str(), p.always_on))
        .collect();
    assert_eq!(
        names,
        [
            ("P1", "Critical", true),
            ("P2", "High", false),
            ("P3", "Normal", false)
        ]
    );
    let p3 = priority(&cfg, "P3").map(Priority::targets);
    assert_eq!(
        p3.map(|t| (t.response, t.resolution)),
        Some((
            Duration::from_secs(4 * 3600),
            Duration::from_secs(48 * 3600)
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// The explanation `loket rules test` prints

#[test]
fn explain_shows_message_verdicts_and_targets() {
    let cfg = example();
    let out = explain(
        &cfg,
        &mail(
            "Rina Wulandari <rina@example.co.id>",
            "Akun email saya diretas",
            "Sepertinya akun saya diretas.\nPassword sudah saya ganti.",
        ),
    );
    for want in [
        "from:        Rina Wulandari <rina@example.co.id>",
        "to:          IT Helpdesk <helpdesk@example.co.id>",
        "subject:     Akun email saya diretas",
        "attachments: -",
        "    | Sepertinya akun saya diretas.",
        "[0] \"security (subject)\" MATCHED: subject has \"diretas\"",
        "set category = \"security\"",
        "[1] \"security (body)\" not matched: not evaluated",
        "category:    security (Insiden keamanan / Security incident)",
        "priority:    P1 Critical (matrix: impact high x urgency high)",
        "targets:     response 15m, resolution 4h (24x7)",
        "level:       L2",
        "escalate:    yes",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let out = explain(&cfg, &mail("a@example.co.id", "Pertanyaan", "Halo"));
    assert!(out.contains("not matched: subject has none of"), "{out}");
    assert!(out.contains("priority:    P3 Normal (default)"), "{out}");
    assert!(
        out.contains("targets:     response 4h, resolution 2days (business hours)"),
        "{out}"
    );
}
