//! A requester's rating of a resolved or closed ticket, read from the first line of their reply:
//! a digit 1-5 ("5", "5/5", "4 - cepat sekali", "Nilai: 5 terima kasih") or the words the
//! closing mail offers ("puas", "tidak puas", "very satisfied" ...). Purely syntactic; whether
//! the sender and the ticket may rate is decided by the caller (`decide::inbound`).
//!
//! The first line must *start* with the rating: "printer masih rusak, 1 halaman" is text. A
//! number out of range ("7", "10") is no rating, so the mail stays an ordinary reply.

/// What a reply rated, and what else it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub score: u8,
    /// The rest of the reply, if any: the rest of the first line and the lines after it.
    pub comment: Option<String>,
}

/// Words for a rating, longest first so "tidak puas" is not read as "puas" with a prefix left
/// over, and "sangat puas" before "puas".
///
/// `docs/requester-note.md` must show every one (`tests/docs.rs`).
pub const WORDS: &[(&str, u8)] = &[
    ("sangat tidak puas", 1),
    ("very dissatisfied", 1),
    ("very unsatisfied", 1),
    ("kurang puas", 2),
    ("tidak puas", 2),
    ("not satisfied", 2),
    ("dissatisfied", 2),
    ("unsatisfied", 2),
    ("very satisfied", 5),
    ("sangat puas", 5),
    ("satisfied", 4),
    ("puas", 4),
    ("cukup", 3),
    ("neutral", 3),
];

/// Labels some people put before the number.
const LEADS: &[&str] = &["nilai", "rating", "skor", "score", "penilaian"];

/// The rating at the start of `text` (the reply without its quoted history), if it has one.
pub fn read(text: &str) -> Option<Rating> {
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    let first = lines.next()?;
    let rest_lines: Vec<&str> = lines.collect();
    let lower = first.to_lowercase();
    let mut at = lower.as_str();
    for lead in LEADS {
        if let Some(after) = at.strip_prefix(lead)
            && after.starts_with([':', ' ', '='])
        {
            at = after.trim_start_matches([':', ' ', '=']);
            break;
        }
    }
    let (score, consumed) = number(at).or_else(|| word(at))?;
    // `consumed` counts bytes of the lowercased line; map back onto the original, whose
    // lowercase may differ in length only for characters a rating never contains.
    let offset = lower.len() - at.len() + consumed;
    let tail = first
        .get(offset..)
        .unwrap_or("")
        .trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, '-' | ',' | '.' | ':' | '!' | ')')
        })
        .trim();
    let mut comment: Vec<&str> = Vec::new();
    if !tail.is_empty() {
        comment.push(tail);
    }
    comment.extend(rest_lines);
    let comment = comment.join("\n").trim().to_string();
    Some(Rating {
        score,
        comment: (!comment.is_empty()).then_some(comment),
    })
}

/// "5", "5/5", "5 dari 5", "5." at the start, followed by the end or a non-digit, non-letter
/// separator: "5 terima kasih" rates, "5x" or "50" does not.
fn number(at: &str) -> Option<(u8, usize)> {
    let digits = at.bytes().take_while(u8::is_ascii_digit).count();
    if digits != 1 {
        return None;
    }
    let score = at.as_bytes()[0] - b'0';
    if !(1..=5).contains(&score) {
        return None;
    }
    let mut consumed = 1;
    let after = &at[1..];
    for out_of in ["/5", " / 5", " dari 5", " of 5", " out of 5"] {
        if after.starts_with(out_of) {
            consumed += out_of.len();
            break;
        }
    }
    let next = at[consumed..].chars().next();
    match next {
        None => Some((score, consumed)),
        Some(c) if c.is_alphanumeric() => None,
        // "5.5" or "4,5" is a number this scale does not have.
        Some('.' | ',') if at[consumed + 1..].starts_with(|c: char| c.is_ascii_digit()) => None,
        Some(_) => Some((score, consumed)),
    }
}

/// One of the rating words at the start, as a whole word.
fn word(at: &str) -> Option<(u8, usize)> {
    WORDS.iter().find_map(|(w, score)| {
        let after = at.strip_prefix(w)?;
        match after.chars().next() {
            Some(c) if c.is_alphanumeric() => None,
            _ => Some((*score, w.len())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(text: &str) -> Option<(u8, Option<String>)> {
        read(text).map(|r| (r.score, r.comment))
    }

    #[test]
    fn a_digit_rates_with_what_follows_as_comment() {
        assert_eq!(rated("5"), Some((5, None)));
        assert_eq!(
            rated("\n  5 terima kasih\n"),
            Some((5, Some("terima kasih".into())))
        );
        assert_eq!(rated("4 - cepat"), Some((4, Some("cepat".into()))));
        assert_eq!(rated("5/5!"), Some((5, None)));
        assert_eq!(
            rated("Nilai: 3, lumayan"),
            Some((3, Some("lumayan".into())))
        );
        assert_eq!(
            rated("1\nPrinter masih macet.\nTolong dicek."),
            Some((1, Some("Printer masih macet.\nTolong dicek.".into())))
        );
        assert_eq!(
            rated("2 dari 5 lama sekali"),
            Some((2, Some("lama sekali".into())))
        );
    }

    #[test]
    fn words_rate_longest_first() {
        assert_eq!(rated("Puas"), Some((4, None)));
        assert_eq!(rated("tidak puas, lama"), Some((2, Some("lama".into()))));
        assert_eq!(rated("sangat puas"), Some((5, None)));
        assert_eq!(
            rated("Very satisfied, thanks"),
            Some((5, Some("thanks".into())))
        );
        assert_eq!(rated("sangat tidak puas"), Some((1, None)));
    }

    #[test]
    fn anything_else_is_no_rating() {
        for text in [
            "7",
            "0",
            "10 printer",
            "5x",
            "4,5",
            "3.5 bagus",
            "Printer masih rusak, 1 halaman",
            "puasa besok",
            "",
            "terima kasih 5",
        ] {
            assert_eq!(rated(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_non_ascii_comment_survives() {
        assert_eq!(
            rated("5 ✓ bagus sekali"),
            Some((5, Some("✓ bagus sekali".into())))
        );
    }
}
