//! The subject tag `[HD-42]`: finding it, removing it, writing it. Pure text functions, shared
//! by threading (`thread`), intake (a new ticket's subject) and outgoing mail (`outbound`).

/// One tag found in a text: where it stands (bytes) and the ticket number it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    start: usize,
    end: usize,
    number: i64,
}

/// The tag starting at byte `start` of `text` (a `[`), if one does: `[`, any whitespace, the
/// prefix in any case, `-`, one to eighteen ASCII digits, any whitespace, `]`.
///
/// Matched by hand rather than by a regex: compiling `(?i)\[\s*HD-([0-9]{1,18})\s*\]` cost
/// every `loket ingest` about 0.5 M instructions and, worse on a virtual machine, about 105
/// page faults for the automaton's tables: half a millisecond of a 6 ms run (BENCHMARKS.md). Whitespace is
/// Unicode's (`char::is_whitespace`, as the regex's `\s`); digits are ASCII only, so a number in
/// other digits is never read as a ticket; the prefix, ASCII by config, matches in ASCII case.
fn tag_at(text: &str, start: usize, prefix: &str) -> Option<Found> {
    let rest = text.get(start..)?.strip_prefix('[')?.trim_start();
    let head = rest.get(..prefix.len())?;
    if prefix.is_empty() || !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = rest[prefix.len()..].strip_prefix('-')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=18).contains(&digits) {
        return None;
    }
    let number = rest[..digits].parse().ok()?;
    let after = rest[digits..].trim_start().strip_prefix(']')?;
    Some(Found {
        start,
        end: text.len() - after.len(),
        number,
    })
}

/// Every tag of ours in `text`, left to right, none overlapping another.
fn tags<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = Found> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(i) = text.get(from..)?.find('[') {
            let start = from + i;
            if let Some(found) = tag_at(text, start, prefix) {
                from = found.end;
                return Some(found);
            }
            from = start + 1;
        }
        None
    })
}

/// The ticket number of the first `[PREFIX-n]` tag in the subject, wherever it stands (after
/// Re:/AW:/TR:/Balas: or in the middle, as some phones put it).
pub fn tag_in_subject(subject: &str, prefix: &str) -> Option<i64> {
    tags(subject, prefix).next().map(|f| f.number)
}

/// Every ticket number tagged `[PREFIX-n]` in `text`, in order, at most `limit`.
pub fn tags_in(text: &str, prefix: &str, limit: usize) -> Vec<i64> {
    tags(text, prefix).map(|f| f.number).take(limit).collect()
}

/// The subject with every tag of ours removed and whitespace tidied: the base for a new tag.
pub fn strip_tags(subject: &str, prefix: &str) -> String {
    let mut stripped = subject.to_string();
    // Removing one tag can join the text around it into another ("[[HD-1]HD-2]" leaves
    // "[ HD-2]"): repeat until none is left. Each round removes at least one tag, so this ends.
    loop {
        let found: Vec<Found> = tags(&stripped, prefix).collect();
        if found.is_empty() {
            break;
        }
        let mut out = String::with_capacity(stripped.len());
        let mut last = 0;
        for f in found {
            out.push_str(&stripped[last..f.start]);
            out.push(' ');
            last = f.end;
        }
        out.push_str(&stripped[last..]);
        stripped = out;
    }
    stripped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `[HD-42] subject`, never with a second tag, never empty.
pub fn tagged_subject(prefix: &str, ticket: i64, subject: &str, empty_placeholder: &str) -> String {
    let base = strip_tags(subject, prefix);
    let base = if base.is_empty() {
        empty_placeholder
    } else {
        base.as_str()
    };
    format!("[{prefix}-{ticket}] {base}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_found_wherever_it_stands_and_in_any_case() {
        for s in [
            "[HD-42] Printer rusak",
            "Re: [HD-42] Printer rusak",
            "RE: RE: [HD-42] Printer rusak",
            "AW: [hd-42] Printer",
            "TR: Balas: [HD-42]",
            "Fwd: Printer rusak [HD-42]",
            "Balas: [ HD-42 ] x",
            "[\u{a0}HD-42\t]",
            "[[HD-42]",
        ] {
            assert_eq!(tag_in_subject(s, "HD"), Some(42), "{s}");
        }
        assert_eq!(
            tags_in("[HD-1] [HD-2][HD-3] [HD-4]", "HD", 3),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn other_prefixes_and_malformed_tags_do_not_match() {
        for s in [
            "[HDX-42] a",
            "[XHD-42]",
            "HD-42 without brackets",
            "[HD-] x",
            "[HD-abc]",
            "",
            // Nineteen digits are no ticket number; other digits are not read as ASCII ones.
            "[HD-1234567890123456789]",
            "[HD-\u{0664}\u{0662}]",
        ] {
            assert_eq!(tag_in_subject(s, "HD"), None, "{s}");
        }
    }

    #[test]
    fn tagged_subject_never_doubles_the_tag() {
        assert_eq!(
            tagged_subject("HD", 7, "Printer rusak", "-"),
            "[HD-7] Printer rusak"
        );
        assert_eq!(
            tagged_subject("HD", 7, "[HD-7] Printer rusak", "-"),
            "[HD-7] Printer rusak"
        );
        assert_eq!(
            tagged_subject("HD", 8, "Re: [HD-7]  Printer  [HD-7]", "-"),
            "[HD-8] Re: Printer"
        );
        assert_eq!(
            tagged_subject("HD", 9, "[HD-2]", "(tanpa subjek)"),
            "[HD-9] (tanpa subjek)"
        );
    }

    #[test]
    fn stripping_a_tag_cannot_assemble_another() {
        assert_eq!(strip_tags("[[HD-1]HD-2] x", "HD"), "x");
        assert_eq!(tagged_subject("HD", 9, "[[HD-1]HD-2] x", "-"), "[HD-9] x");
    }

    /// Whether `s` literally holds `[PREFIX-n]` (any case, spaces inside the brackets, leading
    /// zeros): the independent check of what `tag_in_subject` may return.
    fn literally_tagged(s: &str, n: i64) -> bool {
        let lower = s.to_lowercase();
        let mut from = 0;
        while let Some(i) = lower[from..].find("hd-") {
            let at = from + i;
            from = at + 3;
            let before = lower[..at].trim_end();
            let digits: String = lower[at + 3..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let after = lower[at + 3 + digits.len()..].trim_start();
            let value = digits.trim_start_matches('0');
            let value = if value.is_empty() && !digits.is_empty() {
                "0"
            } else {
                value
            };
            if before.ends_with('[') && after.starts_with(']') && value == n.to_string() {
                return true;
            }
        }
        false
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Random text never panics, and a tag is found only where one is written.
        #[test]
        fn random_subjects_yield_only_tags_that_are_there(
            s in "(\\PC|\\[|\\]|HD-|hd-|Hd-|[0-9]|0| |\\t){0,60}",
        ) {
            if let Some(n) = tag_in_subject(&s, "HD") {
                proptest::prop_assert!(literally_tagged(&s, n), "{:?} -> {}", s, n);
            }
            let stripped = strip_tags(&s, "HD");
            proptest::prop_assert_eq!(tag_in_subject(&stripped, "HD"), None, "{:?} -> {:?}", s, stripped);
        }
    }

    /// The hand matcher against the regex it replaced, on many subjects made of the pieces that
    /// matter: brackets, whitespace of both kinds, the prefix in both cases, digits, and
    /// multi-byte characters beside them.
    #[test]
    fn the_matcher_agrees_with_the_regex_it_replaced() {
        let re = regex::Regex::new(r"(?i)\[\s*HD-([0-9]{1,18})\s*\]").unwrap();
        let pieces = [
            "[",
            "]",
            " ",
            "\u{a0}",
            "\t",
            "HD",
            "hd",
            "hD",
            "-",
            "1",
            "42",
            "0",
            "x",
            "é",
            "\u{3000}",
            "1234567890123456789",
            "[[",
            "Re:",
            "[HD-",
            "[ hd-",
            "[\u{a0}Hd-",
            "42]",
            "7 ]",
            "9\u{3000}]",
            "123456789012345678]",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut with_tags = 0;
        for _ in 0..20_000 {
            let len = 1 + next(12);
            let text: String = (0..len).map(|_| pieces[next(pieces.len())]).collect();
            let by_regex: Vec<(usize, usize, i64)> = re
                .captures_iter(&text)
                .map(|c| {
                    let m = c.get(0).unwrap();
                    (m.start(), m.end(), c[1].parse().unwrap())
                })
                .collect();
            let by_hand: Vec<(usize, usize, i64)> = tags(&text, "HD")
                .map(|f| (f.start, f.end, f.number))
                .collect();
            assert_eq!(by_hand, by_regex, "{text:?}");
            with_tags += usize::from(!by_regex.is_empty());
            let mut stripped = text.clone();
            while re.is_match(&stripped) {
                stripped = re.replace_all(&stripped, " ").into_owned();
            }
            let stripped = stripped.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(strip_tags(&text, "HD"), stripped, "{text:?}");
        }
        // The pieces must make tags often enough for the comparison to mean something.
        assert!(with_tags > 2_000, "only {with_tags} subjects with a tag");
    }
}
