//! Every word of Bahasa Indonesia or English that Loket writes from Rust rather than from a
//! template: labels put into template data (statuses, levels, durations, why a technician is
//! told) and the few texts stored on a ticket. A new language is added here and in
//! `templates/`, nowhere else.

/// Whether `lang` is Indonesian (anything else reads English).
fn is_id(lang: &str) -> bool {
    lang == "id"
}

/// The subject of a ticket whose mail had none.
pub fn no_subject(lang: &str) -> &'static str {
    if is_id(lang) {
        "(tanpa subjek)"
    } else {
        "(no subject)"
    }
}

/// Why technicians hear of a ticket (`tech_new`): `why` is "assigned", "escalated" or "new".
pub fn technician_reason(lang: &str, why: &str, level: i64) -> String {
    match (why, is_id(lang)) {
        ("assigned", true) => "Tiket dialihkan kepada Anda".to_string(),
        ("assigned", false) => "Ticket assigned to you".to_string(),
        ("escalated", true) => format!("Tiket dieskalasi ke L{level}"),
        ("escalated", false) => format!("Ticket escalated to L{level}"),
        (_, true) => "Tiket baru".to_string(),
        (_, false) => "New ticket".to_string(),
    }
}

/// Why the requester got no acknowledgement, for the technicians' notice of the ticket.
pub fn ack_held(lang: &str, why: &str) -> String {
    if is_id(lang) {
        format!("pemohon tidak dikirimi tanda terima ({why})")
    } else {
        format!("no acknowledgement was sent to the requester ({why})")
    }
}

/// An SLA target ("response" or "resolution") in words.
pub fn sla_target(lang: &str, target: &str) -> &'static str {
    match (target, is_id(lang)) {
        ("response", true) => "respons",
        ("response", false) => "response",
        (_, true) => "penyelesaian",
        (_, false) => "resolution",
    }
}

/// Why an approver's answer decided nothing.
pub fn approval_without_decision(lang: &str) -> &'static str {
    if is_id(lang) {
        "baris pertama tidak berisi SETUJU atau TOLAK."
    } else {
        "the first line says neither APPROVE nor REJECT."
    }
}

/// A stored status (a report's key) as the requester reads it; a string that names no status
/// is shown as it is.
pub fn status_label(lang: &str, status: &str) -> String {
    match status.parse::<crate::model::Status>() {
        Ok(s) => s.label(lang).to_string(),
        Err(_) => status.to_string(),
    }
}

/// A support level as people know it.
pub fn level_label(lang: &str, level: i64) -> String {
    let (id, en) = match level {
        1 => ("L1 Helpdesk", "L1 Helpdesk"),
        2 => (
            "L2 Infrastruktur / Pengembangan Aplikasi",
            "L2 Infrastructure / Application Development",
        ),
        3 => ("L3 Pihak Ketiga", "L3 Third Party"),
        _ => return format!("L{level}"),
    };
    if lang == "id" { id } else { en }.to_string()
}

/// A configured duration in words: "24 jam", "3 detik", "2 days".
pub fn human_duration(lang: &str, d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (n, id, en) = if secs >= 86400 && secs.is_multiple_of(86400) {
        (secs / 86400, "hari", "day")
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "jam", "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "menit", "minute")
    } else {
        (secs, "detik", "second")
    };
    if lang == "id" {
        format!("{n} {id}")
    } else if n == 1 {
        format!("{n} {en}")
    } else {
        format!("{n} {en}s")
    }
}

/// What happens next to a ticket, as its requester reads it in an answer to `#status`.
/// `owner` is the technician's name; `auto_close` the silence after which a resolved ticket
/// closes, in words.
pub fn next_step(
    lang: &str,
    status: crate::model::Status,
    owner: Option<&str>,
    auto_close: &str,
) -> String {
    use crate::model::Status::*;
    let id = is_id(lang);
    match (status, owner, id) {
        (New | Open, None, true) => "menunggu ditangani teknisi".into(),
        (New | Open, None, false) => "waiting for a technician".into(),
        (New | Open | InProgress, Some(o), true) => format!("ditangani oleh {o}"),
        (New | Open | InProgress, Some(o), false) => format!("handled by {o}"),
        (InProgress, None, true) => "sedang dikerjakan".into(),
        (InProgress, None, false) => "being worked on".into(),
        (Waiting, _, true) => "menunggu jawaban Anda: balas email tiket ini".into(),
        (Waiting, _, false) => "waiting for your answer: reply to the ticket's mail".into(),
        (AwaitingApproval, _, true) => "menunggu persetujuan atasan".into(),
        (AwaitingApproval, _, false) => "waiting for a manager's approval".into(),
        (Resolved, _, true) => {
            format!("selesai; ditutup otomatis bila tidak ada balasan dalam {auto_close}")
        }
        (Resolved, _, false) => {
            format!("resolved; closes by itself after {auto_close} without a reply")
        }
        (Closed, _, true) => "ditutup".into(),
        (Closed, _, false) => "closed".into(),
        (Rejected, _, true) => "ditolak".into(),
        (Rejected, _, false) => "rejected".into(),
        (Merged, _, true) => "digabungkan ke tiket lain; lihat email pemberitahuannya".into(),
        (Merged, _, false) => "merged into another ticket; see its notice".into(),
    }
}

/// What happens to a merged ticket: its mail goes to `target`.
pub fn merged_into(lang: &str, target: &str) -> String {
    if is_id(lang) {
        format!("digabungkan ke {target}; lanjutkan di tiket itu")
    } else {
        format!("merged into {target}; it continues there")
    }
}

/// "HD-42 tidak ada di antara tiket Anda": the same words whether the ticket does not exist or
/// belongs to someone else, so an answer tells nothing of other people's tickets.
pub fn query_problem(lang: &str, problem: QueryProblem<'_>) -> String {
    let id = is_id(lang);
    match (problem, id) {
        (QueryProblem::NoTicket(t), true) => format!("tiket {t} tidak ada"),
        (QueryProblem::NoTicket(t), false) => format!("there is no ticket {t}"),
        (QueryProblem::NotATicket(t), true) => format!("`{t}` bukan nomor tiket seperti HD-42"),
        (QueryProblem::NotATicket(t), false) => format!("`{t}` is not a ticket like HD-42"),
        (QueryProblem::UnknownPriority(p, known), true) => {
            format!("prioritas `{p}` tidak dikenal (yang ada: {known})")
        }
        (QueryProblem::UnknownPriority(p, known), false) => {
            format!("unknown priority `{p}` (known: {known})")
        }
        (QueryProblem::UnknownCategory(c, known), true) => {
            format!("kategori `{c}` tidak dikenal (yang ada: {known})")
        }
        (QueryProblem::UnknownCategory(c, known), false) => {
            format!("unknown category `{c}` (known: {known})")
        }
        (QueryProblem::NothingToSearch, true) => "tidak ada kata yang dapat dicari".into(),
        (QueryProblem::NothingToSearch, false) => "nothing searchable in those words".into(),
    }
}

/// Why a technician's question got no answer.
#[derive(Debug, Clone, Copy)]
pub enum QueryProblem<'a> {
    NoTicket(&'a str),
    NotATicket(&'a str),
    UnknownPriority(&'a str, &'a str),
    UnknownCategory(&'a str, &'a str),
    NothingToSearch,
}
