//! The new text of a reply: what the writer typed, without the quoted history their mail client
//! appended, and without their signature. What is relayed to a requester or shown to a
//! technician is this text, so a long thread does not grow with every answer.
//!
//! Clients mark the start of the history differently: Gmail and Apple Mail with an attribution
//! line ("On ... wrote:", "Pada ... menulis:", sometimes wrapped over two lines), Thunderbird the
//! same or "-------- Original Message --------", Outlook with a header block ("From: / Sent: /
//! To: / Subject:", "Dari: / Dikirim: / Kepada: / Subjek:") often after an underscore rule.
//! Everything from the first such marker on is history. Lines quoted with ">" are history too.
//! Cutting at a marker that is not one would lose text, so the markers are strict: an
//! attribution must end in "wrote:"/"menulis:", a header block needs From plus a second
//! header field on the next lines.

/// The reply's own text: history and signature removed, surrounding blank lines trimmed.
pub fn new_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for i in 0..lines.len() {
        if starts_history(&lines, i) {
            end = i;
            break;
        }
    }
    let mut kept: Vec<&str> = lines[..end]
        .iter()
        .copied()
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect();
    cut_signature(&mut kept);
    let first = kept.iter().position(|l| !l.trim().is_empty());
    let last = kept.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(a), Some(b)) => kept[a..=b]
            .iter()
            .map(|l| l.trim_end())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn lower(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Whether line `i` opens the quoted history.
fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lower(lines[i]);
    if line.is_empty() {
        return false;
    }
    // Separators that Outlook, Thunderbird and others put above the history.
    const SEPARATORS: &[&str] = &[
        "-----original message-----",
        "----- original message -----",
        "-------- original message --------",
        "-------- forwarded message --------",
        "---------- forwarded message ---------",
        "-----pesan asli-----",
        "----- pesan asli -----",
        "-------- pesan asli --------",
        "---------- pesan yang diteruskan ---------",
        "begin forwarded message:",
    ];
    if SEPARATORS.iter().any(|s| line.starts_with(s)) {
        return true;
    }
    // Outlook's rule line, when a header block follows it.
    if line.len() >= 20 && line.chars().all(|c| c == '_') {
        return lines
            .get(i + 1..)
            .and_then(|rest| rest.iter().position(|l| !l.trim().is_empty()))
            .is_some_and(|off| header_block(lines, i + 1 + off));
    }
    if header_block(lines, i) {
        return true;
    }
    attribution(lines, i)
}

/// "From: x" (or "Dari: x") followed within the next three lines by another header field of a
/// quoted message.
fn header_block(lines: &[&str], i: usize) -> bool {
    const FROM: &[&str] = &["from:", "dari:", "von:", "de:"];
    const NEXT: &[&str] = &[
        "sent:",
        "date:",
        "to:",
        "subject:",
        "cc:",
        "dikirim:",
        "tanggal:",
        "kepada:",
        "subjek:",
        "perihal:",
        "gesendet:",
        "an:",
        "betreff:",
        "envoyé:",
        "à:",
        "objet:",
    ];
    let line = lower(lines[i]);
    // Markdown-ish clients bold the field names: "*From:* x".
    let line = line.trim_start_matches('*');
    if !FROM.iter().any(|f| line.starts_with(f)) {
        return false;
    }
    lines.iter().skip(i + 1).take(3).map(|l| lower(l)).any(|l| {
        NEXT.iter()
            .any(|n| l.trim_start_matches('*').starts_with(n))
    })
}

/// "On <date>, <name> wrote:" in English, Indonesian and a few more languages, on one line or
/// wrapped over two (Gmail wraps long attributions).
fn attribution(lines: &[&str], i: usize) -> bool {
    const OPENERS: &[&str] = &["on ", "pada ", "am ", "le ", "el ", "il ", "op "];
    const ENDINGS: &[&str] = &[
        "wrote:",
        "menulis:",
        "schrieb:",
        "a écrit :",
        "a écrit:",
        "escribió:",
        "ha scritto:",
        "schreef:",
    ];
    let first = lower(lines[i]);
    if !OPENERS.iter().any(|o| first.starts_with(o)) {
        return false;
    }
    let ends = |s: &str| ENDINGS.iter().any(|e| s.ends_with(e));
    if ends(&first) {
        return true;
    }
    // Wrapped: the ending on the next non-empty line, which is short.
    match lines.get(i + 1) {
        Some(next) => {
            let joined = format!("{first} {}", lower(next));
            ends(&joined) && next.trim().len() <= 80
        }
        None => false,
    }
}

/// Removes a trailing signature: from a "-- " delimiter, a "Sent from my phone" line, or a
/// valediction ("Salam,", "Regards,") that stands on its own line near the end.
fn cut_signature(lines: &mut Vec<&str>) {
    if let Some(pos) = lines.iter().position(|l| *l == "-- " || *l == "--") {
        lines.truncate(pos);
    }
    const DEVICE: &[&str] = &[
        "sent from my ",
        "dikirim dari ",
        "get outlook for ",
        "sent from mail for windows",
        "sent from outlook",
        "sent from yahoo mail",
        "sent via ",
        "diketik dari ",
    ];
    if let Some(pos) = lines.iter().rposition(|l| {
        let l = lower(l);
        DEVICE.iter().any(|d| l.starts_with(d)) && l.len() < 80
    }) {
        lines.truncate(pos);
    }
    const VALEDICTIONS: &[&str] = &[
        "salam",
        "salam hormat",
        "hormat saya",
        "hormat kami",
        "terima kasih",
        "terimakasih",
        "makasih",
        "wassalam",
        "regards",
        "best regards",
        "kind regards",
        "best",
        "thanks",
        "thank you",
        "many thanks",
        "cheers",
        "br",
    ];
    // Only within the last few lines: a valediction further up is part of the message.
    let non_empty_tail = |from: usize, lines: &[&str]| {
        lines[from + 1..]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .count()
    };
    if let Some(pos) = lines.iter().rposition(|l| {
        let l = lower(l);
        let word = l.trim_end_matches([',', '.', '!']).trim();
        VALEDICTIONS.contains(&word)
    }) {
        if pos > 0 && non_empty_tail(pos, lines) <= 5 {
            lines.truncate(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::new_text;

    #[test]
    fn gmail_indonesian_wrapped_attribution() {
        let t = "Masih macet mas, kertasnya nyangkut lagi di tray 2.\n\n\
                 Pada Rab, 18 Nov 2026 pukul 11.40 IT Helpdesk <helpdesk@example.co.id>\n\
                 menulis:\n\n> Printer sudah kami bersihkan, mohon dicoba kembali.\n>\n> --\n> IT Helpdesk\n";
        assert_eq!(
            new_text(t),
            "Masih macet mas, kertasnya nyangkut lagi di tray 2."
        );
    }

    #[test]
    fn gmail_english_one_line_attribution() {
        let t = "Still broken after the restart.\n\nOn Wed, Nov 18, 2026 at 11:40 AM IT Helpdesk <helpdesk@example.test> wrote:\n> Please restart.\n";
        assert_eq!(new_text(t), "Still broken after the restart.");
    }

    #[test]
    fn outlook_indonesian_header_block_and_signature() {
        let t = "Terima kasih Pak, sekarang sudah bisa login kembali.\n\nSalam,\nRina Wulandari\n\
                 Bagian Keuangan - Kebun Kalisanen\n\nFrom: IT Helpdesk <helpdesk@example.co.id>\n\
                 Sent: Tuesday, November 17, 2026 8:50 AM\nTo: Rina <rina@example.co.id>\n\
                 Subject: [HD-1042] Tidak bisa login SAP\n\nPassword SAP Ibu sudah kami reset.\n";
        assert_eq!(
            new_text(t),
            "Terima kasih Pak, sekarang sudah bisa login kembali."
        );
    }

    #[test]
    fn outlook_localised_fields_after_rule() {
        let t = "Sudah saya coba, tetap error.\n\n________________________________\n\
                 Dari: IT Helpdesk <helpdesk@example.co.id>\nDikirim: Selasa, 17 November 2026 08.50\n\
                 Kepada: Budi\nSubjek: [HD-7] VPN\n\nSilakan coba lagi.\n";
        assert_eq!(new_text(t), "Sudah saya coba, tetap error.");
    }

    #[test]
    fn outlook_original_message_separator() {
        let t = "Done, the account is unlocked.\n\n-----Original Message-----\nFrom: Rina\nSent: today\n\nPlease unlock.\n";
        assert_eq!(new_text(t), "Done, the account is unlocked.");
    }

    #[test]
    fn apple_mail_and_phone_signature() {
        let t = "Ok, saya tunggu teknisinya.\n\nDikirim dari iPhone saya\n\n\
                 Pada 18 Nov 2026, pukul 09.12, IT Helpdesk <helpdesk@example.co.id> menulis:\n\n> Teknisi akan datang.\n";
        assert_eq!(new_text(t), "Ok, saya tunggu teknisinya.");
        let t = "Will do.\n\nSent from my iPhone\n\n> On 18 Nov 2026, at 09:12, IT Helpdesk <helpdesk@example.test> wrote:\n> \n> Please try.\n";
        assert_eq!(new_text(t), "Will do.");
    }

    #[test]
    fn thunderbird_attribution_and_dash_signature() {
        let t = "Printer sudah normal.\n\n-- \nAndi Saputra\nIT Support L1\n\n\
                 On 18/11/2026 10:02, Rina wrote:\n> Printer macet\n";
        assert_eq!(new_text(t), "Printer sudah normal.");
        let t = "Sudah diganti tonernya.\n\nPada 18/11/26 10.02, Rina menulis:\n> Toner habis\n";
        assert_eq!(new_text(t), "Sudah diganti tonernya.");
    }

    #[test]
    fn text_that_only_mentions_markers_is_kept() {
        let t = "From: the log it looks like the disk is full.\nOn Monday we will replace it.\nTerima kasih sudah menunggu, disk diganti besok pagi.\n";
        assert_eq!(new_text(t), t.trim_end());
    }

    #[test]
    fn only_history_gives_empty_text() {
        assert_eq!(new_text("> quoted\n> more\n"), "");
        assert_eq!(new_text(""), "");
    }
    /// Lines a reply may hold: a marker-free start ("zq") so none of them is mistaken for a
    /// signature, a valediction or the start of the history.
    const REPLY_LINE: &str = "zq( [a-zA-Z0-9àéíóúäöüß?!.,]{1,12}){0,8}";

    /// Text that looks like mail: plain words, quote marks, attributions, separators, header
    /// fields, signatures, in any order.
    const MAILISH: &str = "((\\PC{0,30}|>|> \\PC{0,20}|On Mon wrote:|Pada Senin menulis:|-- |--|\
        -----Original Message-----|From: a|Sent: b|To: c|Dari: d|Kepada: e|Salam,|Thanks|\
        Sent from my phone|_{10,40}|)\\n){0,25}";

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Never panics, and what it keeps is the writer's lines, in their order: every output
        /// line is an input line (less trailing blanks), never something new or reordered.
        #[test]
        fn output_lines_are_input_lines_in_order(text in MAILISH) {
            let out = new_text(&text);
            let mut input = text.lines().map(str::trim_end);
            for line in out.lines() {
                proptest::prop_assert!(
                    input.any(|l| l == line),
                    "{:?} is not an input line in order; input {:?}", line, text
                );
            }
        }

        /// Whatever history follows an attribution, the reply typed above it comes through
        /// whole.
        #[test]
        fn reply_above_an_attribution_is_kept(
            reply in proptest::collection::vec(REPLY_LINE, 1..6),
            attribution in proptest::sample::select(vec![
                "On Wed, Nov 18, 2026 at 11:40 AM IT Helpdesk <helpdesk@example.test> wrote:",
                "Pada Rab, 18 Nov 2026 pukul 11.40 IT Helpdesk <helpdesk@example.co.id> menulis:",
                "On 18/11/2026 10:02, Rina wrote:",
                "-----Original Message-----",
            ]),
            history in MAILISH,
        ) {
            let reply = reply.join("\n");
            let text = format!("{reply}\n\n{attribution}\n{history}");
            proptest::prop_assert_eq!(new_text(&text), reply);
        }
    }
}
