//! Words as rules and the config see them: the tokenizer (maximal runs of Unicode letters and
//! digits, lower-cased), word-list patterns (`"lupa password"`, `"akses*"`) and the `*` glob for
//! addresses. A leaf: it imports nothing of Loket's, so both `config` (checking a pattern at
//! load) and `decide::rules` (matching it) use it without importing each other.

use std::collections::HashMap;

/// Matches `pattern` with `*` as "any run of characters" against `text`, case-insensitively.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let t = text.to_ascii_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The words of `text` in order, lower-cased: maximal runs of Unicode letters and digits, so
/// "E-mail-nya" is "e", "mail", "nya" and "kuota:" is "kuota".
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A word-list entry: one or more words that must follow each other; each may be a prefix
/// (written with a trailing `*`).
pub struct Pattern {
    pub words: Vec<PatternWord>,
}

pub struct PatternWord {
    text: String,
    prefix: bool,
}

impl PatternWord {
    pub fn matches(&self, token: &str) -> bool {
        if self.prefix {
            token.starts_with(&self.text)
        } else {
            token == self.text
        }
    }
}

impl Pattern {
    pub fn new(entry: &str) -> Pattern {
        let mut words = Vec::new();
        let mut current = String::new();
        for ch in entry.chars().chain(std::iter::once(' ')) {
            if ch.is_alphanumeric() {
                current.push(ch);
            } else if !current.is_empty() {
                words.push(PatternWord {
                    text: current.to_lowercase(),
                    prefix: ch == '*',
                });
                current.clear();
            }
        }
        Pattern { words }
    }
}

/// A text's words with an index from word to positions, so that a rule set with hundreds of
/// entries costs one lookup per entry rather than a scan of the text.
pub struct Words<'a> {
    tokens: &'a [String],
    index: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Words<'a> {
    pub fn new(tokens: &'a [String]) -> Words<'a> {
        let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, t) in tokens.iter().enumerate() {
            index.entry(t.as_str()).or_default().push(i);
        }
        Words { tokens, index }
    }

    pub fn has(&self, p: &Pattern) -> bool {
        let Some((first, rest)) = p.words.split_first() else {
            return false;
        };
        let follows = |start: usize| {
            rest.iter()
                .enumerate()
                .all(|(j, w)| self.tokens.get(start + 1 + j).is_some_and(|t| w.matches(t)))
        };
        if first.prefix {
            (0..self.tokens.len()).any(|i| first.matches(&self.tokens[i]) && follows(i))
        } else {
            self.index
                .get(first.text.as_str())
                .is_some_and(|starts| starts.iter().any(|&i| follows(i)))
        }
    }
}
