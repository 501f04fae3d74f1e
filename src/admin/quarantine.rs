//! `loket quarantine list` and `loket quarantine show`: what Loket kept aside, and why. Every
//! text taken from a message (its headers, its Message-ID) is shown with control characters
//! escaped: a hostile message must not be able to drive the administrator's terminal.
//! Releasing a message is the pipeline's work (`pipeline::release`); this only shows.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use rusqlite::Connection;

use super::{human_bytes, tickets::local};
use crate::config::Config;
use crate::store::{self, quarantine::Held};

/// The header fields `show` picks out of the raw bytes, in this order.
const SHOWN_HEADERS: &[&str] = &["From", "To", "Subject", "Date", "Message-ID"];

/// How much of the message `show` reads for its headers: a header block larger than this (one
/// quarantined for that) is shown as far as this goes.
const HEADER_SCAN_BYTES: usize = 64 * 1024;

/// `loket quarantine list`: newest first, one line each.
pub fn render_list(list: &[Held], cfg: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:<16} {:<24} {:>10}  {:<40} REASON",
        "ID", "RECEIVED", "SOURCE", "SIZE", "MESSAGE-ID"
    );
    for h in list {
        let reason = match &h.released {
            Some((_, became)) => {
                format!("[released as {}] {}", visible(became), visible(&h.reason))
            }
            None => visible(&h.reason),
        };
        let _ = writeln!(
            out,
            "{:<6} {:<16} {:<24} {:>10}  {:<40} {}",
            h.id,
            local(cfg, h.created_at),
            shorten(&visible(&h.source), 24),
            human_bytes(u64::try_from(h.size).unwrap_or(0)),
            shorten(&visible(h.message_id.as_deref().unwrap_or("-")), 40),
            shorten(&reason, 100),
        );
    }
    out
}

/// `loket quarantine show`: the row, then the first header fields as they are in the bytes.
pub fn render_show(conn: &Connection, cfg: &Config, id: i64) -> Result<String> {
    let h = store::quarantine::get(conn, id)?.with_context(|| {
        format!("no quarantined message {id} (`loket quarantine list` shows them)")
    })?;
    let raw = store::quarantine::raw(conn, id)?
        .with_context(|| format!("quarantined message {id} has no bytes"))?;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "quarantined message {}", h.id);
    let _ = writeln!(w, "  received:    {}", local(cfg, h.created_at));
    let _ = writeln!(w, "  source:      {}", visible(&h.source));
    let _ = writeln!(
        w,
        "  size:        {} ({} bytes)",
        human_bytes(u64::try_from(h.size).unwrap_or(0)),
        h.size
    );
    let _ = writeln!(
        w,
        "  message-id:  {}",
        visible(h.message_id.as_deref().unwrap_or("-"))
    );
    let _ = writeln!(w, "  reason:      {}", visible(&h.reason));
    match &h.released {
        Some((at, became)) => {
            let _ = writeln!(
                w,
                "  state:       released {} as {}",
                local(cfg, *at),
                visible(became)
            );
        }
        None => {
            let _ = writeln!(w, "  state:       held");
        }
    }
    let _ = writeln!(w, "headers (as in the message, undecoded):");
    let found = header_fields(&raw[..raw.len().min(HEADER_SCAN_BYTES)], SHOWN_HEADERS);
    for (name, value) in SHOWN_HEADERS.iter().zip(found) {
        let shown = match value {
            Some(v) => shorten(&visible_bytes(&v), 300),
            None => "(none)".to_string(),
        };
        let _ = writeln!(w, "  {:<12} {shown}", format!("{name}:"));
    }
    let _ = writeln!(w, "next:");
    let _ = writeln!(w, "  loket quarantine show {id} --raw > message-{id}.eml");
    if h.released.is_none() {
        let _ = writeln!(w, "  loket quarantine release {id}");
    }
    Ok(out)
}

/// The first occurrence of each of `names` (case-insensitive) in the message's top-level header
/// block, unfolded (a continuation line's break becomes nothing, its whitespace stays), as raw
/// bytes. Stops at the first empty line.
pub fn header_fields(raw: &[u8], names: &[&str]) -> Vec<Option<Vec<u8>>> {
    let mut found: Vec<Option<Vec<u8>>> = vec![None; names.len()];
    // The field being collected: its index in `names`, if wanted.
    let mut current: Option<usize> = None;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let content = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if content.is_empty() {
            break;
        }
        if content[0] == b' ' || content[0] == b'\t' {
            if let Some(value) = current.and_then(|i| found[i].as_mut()) {
                value.extend_from_slice(content);
            }
            continue;
        }
        current = None;
        let Some(colon) = content.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &content[..colon];
        if let Some(i) = names
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(name.trim_ascii_end()))
            .filter(|&i| found[i].is_none())
        {
            found[i] = Some(content[colon + 1..].trim_ascii_start().to_vec());
            current = Some(i);
        }
    }
    found
}

/// Text made safe for a terminal: control characters (C0, DEL, C1) and the bidirectional
/// overrides that reorder what is shown are written as escapes (`\x1b`, `\u{202e}`); a
/// backslash is doubled so an escape cannot be faked.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_visible(&mut out, c);
    }
    out
}

/// [`visible`] for bytes that need not be UTF-8: invalid bytes are written as `\xNN`.
pub fn visible_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_visible(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

fn push_visible(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        c if (c as u32) < 0x80 && c.is_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() || is_bidi_control(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// The characters that change the display order of the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// At most `max` characters, the cut marked with "…".
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped() {
        assert_eq!(visible("plain text é"), "plain text é");
        assert_eq!(
            visible("a\x1b[2Jb\x07c\u{9b}d\u{202e}e\\x1b"),
            "a\\x1b[2Jb\\x07c\\u{9b}d\\u{202e}e\\\\x1b"
        );
        assert_eq!(visible("tab\there\r\n"), "tab\\there\\r\\n");
        assert_eq!(
            visible_bytes(b"ok \xff\xfe \x1b end"),
            "ok \\xff\\xfe \\x1b end"
        );
        assert_eq!(visible_bytes("ü".as_bytes()), "ü");
    }

    #[test]
    fn header_fields_are_found_unfolded_case_insensitively_up_to_the_body() {
        let raw = b"Received: x\r\nsubject: first\r\n line\r\nFROM:  <a@b>\r\nSubject: second\r\n\
                    X-Other: y\r\n\r\nTo: body@not.header\r\n";
        let got = header_fields(raw, &["From", "To", "Subject"]);
        assert_eq!(got[0].as_deref(), Some(&b"<a@b>"[..]));
        assert_eq!(got[1], None);
        assert_eq!(got[2].as_deref(), Some(&b"first line"[..]));
        // LF-only mail and a header block with no body.
        let got = header_fields(b"To: x\n\tand y\nDate: d", &["To", "Date"]);
        assert_eq!(got[0].as_deref(), Some(&b"x\tand y"[..]));
        assert_eq!(got[1].as_deref(), Some(&b"d"[..]));
    }

    #[test]
    fn shorten_cuts_on_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("ééééé", 3), "éé…");
    }

    #[test]
    fn show_escapes_what_the_message_says_and_list_marks_released_rows() {
        let cfg = crate::fixtures::config("helpdesk@example.test", "").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let conn = store::open(&dir.path().join("q.db")).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let raw = b"From: Mallory <m@x>\r\nSubject: \x1b]0;owned\x07 hi \xff\r\n\r\nbody";
        store::quarantine::add(&conn, t0, "ingest", "not an e-mail", None, "h", raw).unwrap();
        let text = render_show(&conn, &cfg, 1).unwrap();
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");
        assert!(
            text.contains("Subject:     \\x1b]0;owned\\x07 hi \\xff\n"),
            "{text}"
        );
        assert!(text.contains("From:        Mallory <m@x>\n"), "{text}");
        assert!(text.contains("To:          (none)\n"), "{text}");
        assert!(text.contains("state:       held"), "{text}");
        assert!(text.contains("loket quarantine release 1"), "{text}");
        let err = format!("{:#}", render_show(&conn, &cfg, 2).unwrap_err());
        assert!(err.contains("no quarantined message 2"), "{err}");

        store::quarantine::mark_released(&conn, 1, t0, "HD-3").unwrap();
        let list = store::quarantine::recent(&conn, 10, true).unwrap();
        let text = render_list(&list, &cfg);
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("1 "), "{text}");
        assert!(line.contains("[released as HD-3] not an e-mail"), "{text}");
        assert!(line.contains(&format!(" {} bytes ", raw.len())), "{text}");
    }
}
