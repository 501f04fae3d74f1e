//! The subject tag `[HD-42]`: finding it, removing it, writing it. Pure text functions, shared
//! by threading (`thread`), intake (a new ticket's subject) and outgoing mail (`outbound`).

use std::sync::{Arc, Mutex};

use regex::Regex;

/// The tag pattern for `prefix`, compiled once per prefix and then shared: with Unicode `\s` and
/// `\d` and any case, compiling it costs more than the rest of threading a message. Shared
/// behind an `Arc`, not cloned: a cloned `Regex` starts a pool of match caches of its own, so
/// every call built its lazy DFA cache again (`callgrind`: about 90,000 instructions a call).
fn tag_regex(prefix: &str) -> Arc<Regex> {
    static CACHE: Mutex<Vec<(String, Arc<Regex>)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, re)) = cache.iter().find(|(p, _)| p == prefix) {
        return Arc::clone(re);
    }
    // The prefix is validated as ASCII alphanumerics at config load, so it needs no escaping;
    // escape anyway so this function is safe on its own. ASCII digits, not `\d`: a ticket
    // number in other digits never parsed as one, and Unicode `\d{1,18}` made this regex cost
    // 3.7 M instructions to compile, a quarter of a `loket ingest` run.
    let re = Regex::new(&format!(
        r"(?i)\[\s*{}-([0-9]{{1,18}})\s*\]",
        regex::escape(prefix)
    ))
    .unwrap_or_else(|_| {
        // Unreachable with an escaped prefix; a regex that never matches keeps this total.
        Regex::new(r"[^\s\S]").expect("static regex")
    });
    let re = Arc::new(re);
    cache.push((prefix.to_string(), Arc::clone(&re)));
    re
}

/// The ticket number of the first `[PREFIX-n]` tag in the subject, wherever it stands (after
/// Re:/AW:/TR:/Balas: or in the middle, as some phones put it).
pub fn tag_in_subject(subject: &str, prefix: &str) -> Option<i64> {
    tag_regex(prefix)
        .captures(subject)
        .and_then(|c| c.get(1))
        .and_then(|m| m.as_str().parse().ok())
}

/// Every ticket number tagged `[PREFIX-n]` in `text`, in order, at most `limit`.
pub fn tags_in(text: &str, prefix: &str, limit: usize) -> Vec<i64> {
    tag_regex(prefix)
        .captures_iter(text)
        .filter_map(|c| c.get(1)?.as_str().parse().ok())
        .take(limit)
        .collect()
}

/// The subject with every tag of ours removed and whitespace tidied: the base for a new tag.
pub fn strip_tags(subject: &str, prefix: &str) -> String {
    let re = tag_regex(prefix);
    let mut stripped = subject.to_string();
    // Removing one tag can join the text around it into another ("[[HD-1]HD-2]" leaves
    // "[ HD-2]"): repeat until none is left. Each round removes at least one tag, so this ends.
    while re.is_match(&stripped) {
        stripped = re.replace_all(&stripped, " ").into_owned();
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
