//! Approvals by e-mail, decided without I/O: who approves a requester's ticket, where the
//! single-use token sits in a subject, and what an approver's reply decides.
//!
//! The approver answers with `SETUJU` / `APPROVE`, or `TOLAK` / `REJECT` followed by the reason,
//! on the first line of their own text (quoted history is ignored). The token Loket put in the
//! request's subject (`[APV-...]`) must come back with it: a decision without it, or with a
//! spent one, changes nothing.

use std::sync::LazyLock;

use regex::Regex;

use crate::decide::quote;

pub use crate::config::Department;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approved(Option<String>),
    Rejected(Option<String>),
}

// Address globs are matched like rule globs; the matcher is a leaf shared with the config.
pub use crate::decide::words::glob;

/// The approver for a ticket of `requester`: `spec` is an address, or `manager` for the
/// requester's manager from `[[departments]]`. `None` when no manager is known.
pub fn approver(spec: &str, requester: &str, departments: &[Department]) -> Option<String> {
    let spec = spec.trim();
    if spec.eq_ignore_ascii_case("manager") {
        return departments
            .iter()
            .find(|d| d.members.iter().any(|m| glob(m, requester)))
            .map(|d| d.manager.to_ascii_lowercase())
            // Nobody approves their own request.
            .filter(|m| m != requester);
    }
    Some(spec.to_ascii_lowercase())
}

/// The subject tag that carries a token.
pub fn token_tag(token: &str) -> String {
    format!("[APV-{token}]")
}

/// The token in a subject, if there is one.
pub fn token_in_subject(subject: &str) -> Option<String> {
    static RE: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)\[\s*APV-([0-9a-f]{16,64})\s*\]").ok());
    RE.as_ref()?
        .captures(subject)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_ascii_lowercase())
}

/// The first words of an approver's reply that approve, and (`REJECT`) that refuse; any case.
/// `docs/technician-card.md` and the admin guide must show every one (`tests/docs.rs`).
pub const APPROVE: &[&str] = &[
    "setuju",
    "disetujui",
    "approve",
    "approved",
    "ok",
    "yes",
    "ya",
];
pub const REJECT: &[&str] = &["tolak", "ditolak", "reject", "rejected", "no", "tidak"];

/// The decision in an approver's reply: the first line of their own text.
pub fn decision(text: &str) -> Option<Decision> {
    let own = quote::new_text(text);
    let mut lines = own.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    let word_end = first
        .find(|c: char| !c.is_alphanumeric())
        .unwrap_or(first.len());
    let word = first[..word_end].to_lowercase();
    let rest_of_line = first[word_end..]
        .trim_start_matches([' ', ':', ',', '-', '.', '!'])
        .trim();
    let mut reason: Vec<&str> = Vec::new();
    if !rest_of_line.is_empty() {
        reason.push(rest_of_line);
    }
    reason.extend(lines);
    let reason = (!reason.is_empty()).then(|| reason.join("\n"));
    if APPROVE.contains(&word.as_str()) {
        Some(Decision::Approved(reason))
    } else if REJECT.contains(&word.as_str()) {
        Some(Decision::Rejected(reason))
    } else {
        None
    }
}

/// A fresh token: 128 bits from the kernel's random source, hex.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_in_both_languages() {
        assert_eq!(
            decision("SETUJU\n\nPada ... menulis:\n> x"),
            Some(Decision::Approved(None))
        );
        assert_eq!(
            decision("Approve, go ahead"),
            Some(Decision::Approved(Some("go ahead".into())))
        );
        assert_eq!(
            decision("TOLAK: akses CCTV hanya untuk satpam.\nGunakan laporan harian saja."),
            Some(Decision::Rejected(Some(
                "akses CCTV hanya untuk satpam.\nGunakan laporan harian saja.".into()
            )))
        );
        assert_eq!(
            decision("reject - not needed"),
            Some(Decision::Rejected(Some("not needed".into())))
        );
        assert_eq!(decision("Saya cek dulu ya"), None);
        assert_eq!(
            decision("> SETUJU\n"),
            None,
            "a quoted word decides nothing"
        );
    }

    #[test]
    fn tokens_in_subjects() {
        let t = "0123456789abcdef0123456789abcdef";
        let s = format!("RE: [HD-7] {} Persetujuan akses VPN", token_tag(t));
        assert_eq!(token_in_subject(&s).as_deref(), Some(t));
        assert_eq!(token_in_subject("RE: [HD-7] Persetujuan"), None);
        assert_eq!(new_token().expect("token").len(), 32);
        assert_ne!(new_token().expect("token"), new_token().expect("token"));
    }

    #[test]
    fn approver_from_departments() {
        let deps = vec![Department {
            name: "Keuangan".into(),
            manager: "Kabag.Keuangan@example.co.id".into(),
            members: vec![
                "*@keuangan.example.co.id".into(),
                "rina@example.co.id".into(),
            ],
        }];
        assert_eq!(
            approver("manager", "budi@keuangan.example.co.id", &deps).as_deref(),
            Some("kabag.keuangan@example.co.id")
        );
        assert_eq!(
            approver("manager", "rina@example.co.id", &deps).as_deref(),
            Some("kabag.keuangan@example.co.id")
        );
        assert_eq!(approver("manager", "x@other.test", &deps), None);
        assert_eq!(
            approver("it.head@example.co.id", "x@other.test", &deps).as_deref(),
            Some("it.head@example.co.id")
        );
    }

    #[test]
    fn globs() {
        assert!(glob("*@example.test", "a@example.test"));
        assert!(!glob("*@example.test", "a@example.test.evil"));
        assert!(glob("sap-support@*", "SAP-support@example.test"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
    }
}
