//! The documents a helpdesk hands out (README.md and docs/) say only what the code does: every
//! config key the loader accepts is in the administrator's guide, and the guide shows no key the
//! loader refuses; the defaults it claims are the loader's; its TOML examples load through the
//! real loader; every command and query spelling and approval word the parsers know is on the
//! technician's card, and every word a requester may write is in the requester's note; every
//! `loket ...` line in a shell block parses with the real command line; every relative link
//! points at a file (and heading) that exists. No mail stack needed.
//!
//! The key list is not written down here: it is probed from the loader. Every config struct has
//! `#[serde(deny_unknown_fields)]`, so a config with an unknown key `zz_probe` in a table fails
//! with "unknown field `zz_probe`, expected one of `a`, `b`, ...": serde's own list of the fields
//! of that table. Probing each field again as a table and as an array of tables finds the
//! nested ones (`imap.oauth2`, `rules.header`, `matrix.high`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use loket::config::Config;
use toml::{Table, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const GUIDE: &str = "docs/admin-guide.md";
const CARD: &str = "docs/technician-card.md";
const NOTE: &str = "docs/requester-note.md";
const PROBE: &str = "zz_probe";

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// README.md and every Markdown file under docs/.
fn documents() -> Vec<String> {
    let mut docs = vec!["README.md".to_string()];
    let dir = Path::new(ROOT).join("docs");
    let mut more: Vec<String> = std::fs::read_dir(&dir)
        .expect("docs/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

// ---------------------------------------------------------------------------------------------
// Markdown

struct Block {
    info: String,
    /// The line of the opening fence, 1-based.
    line: usize,
    text: String,
    /// The `## ` heading the block stands under.
    section: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut section = String::new();
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match open.as_mut() {
            Some(_) if fence => out.extend(open.take()),
            Some(b) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            None if fence => {
                open = Some(Block {
                    info: line.trim_start().trim_start_matches('`').trim().to_string(),
                    line: i + 1,
                    text: String::new(),
                    section: section.clone(),
                })
            }
            None => {
                if let Some(h) = line.strip_prefix("## ") {
                    section = h.trim().to_string();
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is not closed");
    out
}

/// The text outside code blocks.
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    prose(markdown)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// Whether `word` occurs in `text` on its own (any case): not inside a longer word. Line breaks
/// count as spaces, as they do in a Markdown paragraph.
fn has_word(text: &str, word: &str) -> bool {
    let text = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let word = word.to_lowercase();
    let edge = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '-');
    text.match_indices(&word).any(|(at, _)| {
        edge(text[..at].chars().next_back()) && edge(text[at + word.len()..].chars().next())
    })
}

/// Whether `word` is shown as a word to write: in backticks or double quotes (any case), so that
/// "cukup" in "cukup balas" does not count for the rating `cukup`.
fn shown(text: &str, word: &str) -> bool {
    let text = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let word = word.to_lowercase();
    text.contains(&format!("`{word}`")) || text.contains(&format!("\"{word}\""))
}

/// Whether `word` stands in capitals on its own, as the approval words are written.
fn in_capitals(text: &str, word: &str) -> bool {
    let upper = word.to_uppercase();
    let edge = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric());
    text.match_indices(&upper).any(|(at, _)| {
        edge(text[..at].chars().next_back()) && edge(text[at + upper.len()..].chars().next())
    })
}

// ---------------------------------------------------------------------------------------------
// Config: loading, probing, walking

/// A config the probes start from: the keys the loader requires and nothing else.
fn minimal() -> Table {
    toml::from_str(
        r#"
        [helpdesk]
        address = "helpdesk@example.test"
        [imap]
        host = "127.0.0.1"
        port = 1143
        tls = "none"
        username = "helpdesk@example.test"
        password = "secret"
        [smtp]
        host = "127.0.0.1"
        port = 2525
        tls = "none"
        [database]
        path = "loket.db"
        [security]
        authserv_id = "mx.example.test"
        "#,
    )
    .expect("the minimal config is TOML")
}

fn load(table: &Table) -> Result<Config, String> {
    let text = toml::to_string(table).map_err(|e| e.to_string())?;
    Config::from_toml(&text, Path::new("docs-test.toml")).map_err(|e| e.to_string())
}

/// The fields serde expects where `zz_probe` was put, or None when that place is no table.
fn expected_fields(error: &str) -> Option<Vec<String>> {
    let at = error.find(&format!("unknown field `{PROBE}`"))?;
    let rest = &error[at..];
    let rest = rest.lines().next().unwrap_or("");
    let list = rest.split_once("expected").map_or("", |(_, l)| l);
    Some(
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Shape {
    Table,
    ArrayOfTables,
}

/// `base` with `zz_probe = 1` placed at `path`, each step entering a table or the first table
/// of an array (created when missing).
fn with_probe(base: &Table, path: &[(String, Shape)]) -> Table {
    let mut root = base.clone();
    let mut here = &mut root;
    for (key, shape) in path {
        let slot = here
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        let fits = match (shape, &*slot) {
            (Shape::Table, Value::Table(_)) => true,
            (Shape::ArrayOfTables, Value::Array(a)) => matches!(a.first(), Some(Value::Table(_))),
            _ => false,
        };
        if !fits {
            *slot = match shape {
                Shape::Table => Value::Table(Table::new()),
                Shape::ArrayOfTables => Value::Array(vec![Value::Table(Table::new())]),
            };
        }
        here = match slot {
            Value::Table(t) => t,
            Value::Array(a) => match a.first_mut() {
                Some(Value::Table(t)) => t,
                _ => unreachable!("made a table above"),
            },
            _ => unreachable!("made a table above"),
        };
    }
    here.insert(PROBE.into(), Value::Integer(1));
    root
}

fn probe(base: &Table, path: &[(String, Shape)]) -> Option<Vec<String>> {
    match load(&with_probe(base, path)) {
        Ok(_) => panic!("a config with `{PROBE}` at {path:?} loaded: is deny_unknown_fields gone?"),
        Err(e) => expected_fields(&e),
    }
}

/// Every key path the loader accepts ("imap.oauth2.token_url", "rules.header.name").
fn loader_keys() -> BTreeSet<String> {
    fn explore(base: &Table, path: Vec<(String, Shape)>, out: &mut BTreeSet<String>) {
        let Some(fields) = probe(base, &path) else {
            panic!("no field list at {path:?}");
        };
        assert!(
            !fields.is_empty() || !path.is_empty(),
            "the probe found no top-level keys"
        );
        for field in fields {
            let dotted: Vec<&str> = path
                .iter()
                .map(|(k, _)| k.as_str())
                .chain([field.as_str()])
                .collect();
            out.insert(dotted.join("."));
            for shape in [Shape::Table, Shape::ArrayOfTables] {
                let mut deeper = path.clone();
                deeper.push((field.clone(), shape));
                if probe(base, &deeper).is_some() {
                    explore(base, deeper, out);
                    break;
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    explore(&minimal(), Vec::new(), &mut out);
    out
}

/// Every key path a TOML value shows, arrays of tables read as their tables.
fn value_keys(prefix: &str, value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Table(t) => {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                value_keys(&path, v, out);
            }
        }
        Value::Array(a) => {
            for v in a.iter().filter(|v| v.is_table()) {
                value_keys(prefix, v, out);
            }
        }
        _ => {}
    }
}

/// The guide's TOML blocks, parsed, with where they stand.
fn guide_toml() -> Vec<(Block, Table)> {
    blocks(&read(GUIDE))
        .into_iter()
        .filter(|b| b.info == "toml")
        .map(|b| {
            let t: Table = toml::from_str(&b.text)
                .unwrap_or_else(|e| panic!("{GUIDE}:{}: not TOML: {e}", b.line));
            (b, t)
        })
        .collect()
}

/// A complete example: one with every section the loader requires.
fn is_complete(t: &Table) -> bool {
    ["helpdesk", "imap", "smtp", "database"]
        .iter()
        .all(|k| t.contains_key(*k))
}

/// Files the examples name (`password_file`, `holidays_file`, `refresh_token_file`, ...) are
/// read at load: point them at files in `dir` holding what such a file holds.
fn with_files(value: &Value, key: &str, dir: &Path) -> Value {
    match value {
        Value::Table(t) => Value::Table(
            t.iter()
                .map(|(k, v)| (k.clone(), with_files(v, k, dir)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| with_files(v, key, dir)).collect()),
        Value::String(_) if key.ends_with("_file") => {
            let path = dir.join(key);
            let content = if key == "holidays_file" {
                "2026-12-25\n"
            } else {
                "secret\n"
            };
            std::fs::write(&path, content).expect("write an example file");
            Value::String(path.to_string_lossy().into_owned())
        }
        Value::String(_) if key == "dir" => {
            Value::String(dir.join("templates").to_string_lossy().into_owned())
        }
        other => other.clone(),
    }
}

/// `fragment` over `base`: each of its top-level tables replaces the base's, except a table of
/// tables only (`[imap.oauth2]`), which replaces those tables inside the base's; its arrays of
/// tables (`[[rules]]`) come after the base's entries.
fn merged(base: &Table, fragment: &Table) -> Table {
    let mut out = base.clone();
    for (k, v) in fragment {
        match (out.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(f)) if f.values().all(Value::is_table) => {
                for (fk, fv) in f {
                    b.insert(fk.clone(), fv.clone());
                }
            }
            (Some(Value::Array(b)), Value::Array(f)) if f.iter().all(Value::is_table) => {
                b.extend(f.iter().cloned());
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

struct Examples {
    _dir: tempfile::TempDir,
    /// The guide's complete examples, their files made real.
    complete: Vec<Table>,
    files: PathBuf,
}

fn examples() -> Examples {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("templates")).expect("templates dir");
    let files = dir.path().to_path_buf();
    let complete: Vec<Table> = guide_toml()
        .iter()
        .filter(|(_, t)| is_complete(t))
        .map(
            |(_, t)| match with_files(&Value::Table(t.clone()), "", &files) {
                Value::Table(t) => t,
                _ => unreachable!(),
            },
        )
        .collect();
    assert!(!complete.is_empty(), "{GUIDE} has no complete example");
    Examples {
        _dir: dir,
        complete,
        files,
    }
}

impl Examples {
    /// The first complete example `fragment` loads over, merged with it.
    fn base_for(&self, fragment: &Table) -> Result<Table, String> {
        let fragment = match with_files(&Value::Table(fragment.clone()), "", &self.files) {
            Value::Table(t) => t,
            _ => unreachable!(),
        };
        let mut errors = Vec::new();
        for base in &self.complete {
            let m = merged(base, &fragment);
            match load(&m) {
                Ok(_) => return Ok(m),
                Err(e) => errors.push(e),
            }
        }
        Err(errors.join("\n  "))
    }
}

#[test]
fn every_key_the_loader_accepts_is_in_the_guide_and_no_other() {
    let accepted = loader_keys();
    // Sanity: the probe reaches into nested and repeated tables.
    for key in [
        "helpdesk.address",
        "imap.oauth2.token_url",
        "rules.header.equals",
        "matrix.low.high",
    ] {
        assert!(
            accepted.contains(key),
            "the probe missed {key}: {accepted:?}"
        );
    }
    let mut shown = BTreeSet::new();
    for (_, t) in guide_toml() {
        value_keys("", &Value::Table(t), &mut shown);
    }
    let missing: Vec<_> = accepted.difference(&shown).collect();
    assert!(
        missing.is_empty(),
        "{GUIDE} shows no TOML example of: {missing:?}"
    );
    let unknown: Vec<_> = shown.difference(&accepted).collect();
    assert!(
        unknown.is_empty(),
        "{GUIDE} shows keys the loader refuses: {unknown:?}"
    );
}

#[test]
fn the_guides_examples_load_through_the_config_loader() {
    let ex = examples();
    for (i, t) in ex.complete.iter().enumerate() {
        if let Err(e) = load(t) {
            panic!("{GUIDE}: complete example {}: {e}", i + 1);
        }
    }
    for (b, t) in guide_toml() {
        if let Err(e) = ex.base_for(&t) {
            panic!(
                "{GUIDE}:{} ({}): does not load over a complete example:\n  {e}",
                b.line, b.section
            );
        }
    }
    // The README's and the other documents' TOML is TOML too.
    for doc in documents() {
        for b in blocks(&read(&doc)).iter().filter(|b| b.info == "toml") {
            if let Err(e) = toml::from_str::<Table>(&b.text) {
                panic!("{doc}:{}: not TOML: {e}", b.line);
            }
        }
    }
}

/// A value at a dotted path inside `t`, arrays of tables entered at their last table (the
/// fragment's, after the base's).
fn slot<'a>(t: &'a mut Table, path: &[&str]) -> Option<(&'a mut Table, String)> {
    let (last, parents) = path.split_last()?;
    let mut here = t;
    for p in parents {
        here = match here.get_mut(*p)? {
            Value::Table(t) => t,
            Value::Array(a) => a.last_mut()?.as_table_mut()?,
            _ => return None,
        };
    }
    Some((here, last.to_string()))
}

#[test]
fn the_defaults_the_reference_claims_are_the_loaders() {
    let ex = examples();
    let mut checked = 0;
    for (block, fragment) in guide_toml()
        .into_iter()
        .filter(|(b, _)| b.section == "Configuration reference")
    {
        let base = ex
            .base_for(&fragment)
            .unwrap_or_else(|e| panic!("{GUIDE}:{}: {e}", block.line));
        let mut table_path: Vec<String> = Vec::new();
        for (n, line) in block.text.lines().enumerate() {
            let at = format!("{GUIDE}:{}", block.line + 1 + n);
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                let name = trimmed
                    .trim_start_matches('[')
                    .split(']')
                    .next()
                    .unwrap_or("");
                table_path = name.split('.').map(|s| s.trim().to_string()).collect();
                continue;
            }
            let Some((key, rest)) = trimmed.split_once('=') else {
                continue;
            };
            if trimmed.starts_with('#') {
                continue;
            }
            let comment = rest.split_once(" # ").map_or("", |(_, c)| c.trim());
            if comment.starts_with("required") || comment.starts_with("e.g.") {
                continue;
            }
            let mut path: Vec<&str> = table_path.iter().map(String::as_str).collect();
            path.push(key.trim());
            let with = load(&base).unwrap_or_else(|e| panic!("{at}: {e}"));
            let mut without_table = base.clone();
            let Some((parent, last)) = slot(&mut without_table, &path) else {
                panic!(
                    "{at}: {} is not in the example it was merged into",
                    path.join(".")
                );
            };
            assert!(
                parent.remove(&last).is_some(),
                "{at}: {} not set",
                path.join(".")
            );
            let without = load(&without_table).unwrap_or_else(|e| {
                panic!(
                    "{at}: {} is shown as a default, but leaving it out fails: {e}",
                    path.join(".")
                )
            });
            // Rules keep their raw TOML for error messages; compare the rules they became.
            let (a, b) = if path[0] == "rules" {
                (
                    format!("{:?}", &*with.rules),
                    format!("{:?}", &*without.rules),
                )
            } else {
                (format!("{with:?}"), format!("{without:?}"))
            };
            assert_eq!(
                a,
                b,
                "{at}: {} is shown with its default, but the loader's default differs \
                 (mark the comment `e.g.` or `required` if it is an example)",
                path.join(".")
            );
            checked += 1;
        }
    }
    assert!(
        checked > 40,
        "only {checked} defaults found in the reference"
    );
}

// ---------------------------------------------------------------------------------------------
// Words people write

#[test]
fn the_card_shows_every_command_query_and_approval_word() {
    use loket::decide::{approval, commands, queries};
    let card = read(CARD);
    let mut missing = Vec::new();
    for spelling in commands::SPELLINGS
        .iter()
        .chain(queries::SPELLINGS)
        .flat_map(|s| s.iter())
    {
        if !has_word(&card, &format!("#{spelling}")) {
            missing.push(format!("#{spelling}"));
        }
    }
    let words = queries::UNASSIGNED_WORDS
        .iter()
        .copied()
        .chain(commands::TIME_UNITS.iter().map(|(w, _)| *w))
        .chain(loket::model::Status::SETTABLE.iter().map(|s| s.as_str()));
    for w in words {
        if !shown(&card, w) {
            missing.push(format!("`{w}`"));
        }
    }
    // The approval words, in capitals as approvers are told to write them; in the guide too.
    let guide = read(GUIDE);
    for w in approval::APPROVE.iter().chain(approval::REJECT) {
        if !in_capitals(&card, w) {
            missing.push(w.to_uppercase());
        }
        assert!(
            in_capitals(&guide, w),
            "{GUIDE} lacks the approval word {}",
            w.to_uppercase()
        );
    }
    assert!(missing.is_empty(), "{CARD} lacks {missing:?}");
}

#[test]
fn the_note_shows_every_word_a_requester_may_write() {
    use loket::decide::{queries, satisfaction};
    let note = read(NOTE);
    let mut missing = Vec::new();
    for w in queries::STATUS_WORDS
        .iter()
        .chain(satisfaction::WORDS.iter().map(|(w, _)| w))
    {
        if !shown(&note, w) {
            missing.push(w.to_string());
        }
    }
    for w in queries::REQUESTER_TICKET_WORDS {
        if !has_word(&note, &format!("#{w}")) {
            missing.push(format!("#{w}"));
        }
    }
    assert!(missing.is_empty(), "{NOTE} lacks {missing:?}");
}

// ---------------------------------------------------------------------------------------------
// Command lines

/// Shell words, with '...' and "..." quoting and backslash escapes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, '\\') => word.get_or_insert_default().extend(chars.next()),
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// The `loket` invocations of a shell or text block: the program at a command's position (first
/// word after `VAR=value` assignments, or after `--`, `&&`, `;`, `|`, `sudo`), or an `argv=`
/// of a Postfix pipe, up to a comment, a redirection or the next command.
fn invocations(text: &str) -> Vec<Vec<String>> {
    let joined = text.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let mut words = shell_words(line);
        // A Postfix pipe: only its argv= runs loket.
        if let Some(at) = words.iter().position(|w| w.starts_with("argv=")) {
            words.drain(..at);
        } else if words
            .get(1)
            .is_some_and(|w| ["unix", "inet", "fifo", "pass", "unix-dgram"].contains(&w.as_str()))
        {
            // A master.cf service line (`loket unix - n n - - pipe`, its argv= on a line of its
            // own) names the service, not a command.
            continue;
        }
        let mut at_command = true;
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            let program = w.strip_prefix("argv=").unwrap_or(w);
            let is_loket = (at_command || w.starts_with("argv="))
                && Path::new(program).file_name().is_some_and(|n| n == "loket");
            if w.starts_with('#') && !w.starts_with("#!") {
                break;
            }
            if is_loket {
                let mut args = vec!["loket".to_string()];
                i += 1;
                while i < words.len() {
                    let a = &words[i];
                    if a.starts_with('#')
                        || ["&&", "||", ";", "|"].contains(&a.as_str())
                        || a.starts_with('<')
                        || a.starts_with('>')
                        || a.starts_with("2>")
                    {
                        break;
                    }
                    args.push(a.clone());
                    i += 1;
                }
                out.push(args);
                at_command = false;
                continue;
            }
            at_command = (at_command && w.contains('=') && !w.starts_with('-'))
                || [
                    "--",
                    "&&",
                    "||",
                    ";",
                    "|",
                    "sudo",
                    "exec",
                    "env",
                    "/usr/bin/env",
                ]
                .contains(&w.as_str());
            i += 1;
        }
    }
    out
}

/// "tickets list" for every command path clap knows.
fn leaf_commands(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("{prefix}{}", sub.get_name());
        if sub.has_subcommands() {
            leaf_commands(sub, &format!("{name} "), out);
        } else {
            out.push(name);
        }
    }
}

#[test]
fn every_loket_command_line_in_the_docs_parses() {
    let mut used = BTreeSet::new();
    let mut count = 0;
    for doc in documents() {
        for b in blocks(&read(&doc))
            .iter()
            .filter(|b| ["", "sh", "shell", "bash", "console", "text"].contains(&b.info.as_str()))
        {
            for args in invocations(&b.text) {
                match loket::cli::Cli::try_parse_from(&args) {
                    Ok(_) => {
                        count += 1;
                        let words: Vec<&str> = args[1..]
                            .iter()
                            .map(String::as_str)
                            .filter(|a| !a.starts_with('-'))
                            .collect();
                        used.insert(words.join(" "));
                    }
                    Err(e) => panic!(
                        "{doc}:{}: `{}` does not parse:\n{e}",
                        b.line,
                        args.join(" ")
                    ),
                }
            }
        }
    }
    assert!(count > 20, "only {count} loket command lines found");
    let mut all = Vec::new();
    leaf_commands(&loket::cli::Cli::command(), "", &mut all);
    let undocumented: Vec<_> = all
        .iter()
        .filter(|c| {
            !used
                .iter()
                .any(|u| u == *c || u.starts_with(&format!("{c} ")))
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "no example in the docs runs: {undocumented:?}"
    );
}

#[test]
fn command_lines_are_found_where_they_stand() {
    let found = invocations(
        "LOKET_LOG=loket=debug loket run   # more\n\
         15 2 * * *  runuser -u loket -- /usr/bin/loket backup x.db\n\
         journalctl -u loket -f\n\
         systemctl enable --now loket\n\
         loket ingest < msg && loket stats\n\
         loket unix - n n - - pipe user=loket argv=/usr/bin/loket ingest --to ${recipient}\n\
         loket     unix  -       n       n       -       -       pipe\n  \
         flags=DRX null_sender= user=loket\n  \
         argv=/usr/bin/env LOKET_LOG=off /usr/bin/loket ingest --config c.toml\n",
    );
    let found: Vec<String> = found.iter().map(|a| a.join(" ")).collect();
    assert_eq!(
        found,
        [
            "loket run",
            "loket backup x.db",
            "loket ingest",
            "loket stats",
            "loket ingest --to ${recipient}",
            "loket ingest --config c.toml"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Links

#[test]
fn every_relative_link_points_at_something_that_exists() {
    let mut checked = 0;
    for doc in documents() {
        let text = read(&doc);
        let here = Path::new(ROOT).join(&doc);
        let dir = here.parent().expect("a folder");
        let body = prose(&text);
        for (at, _) in body.match_indices("](") {
            let target = body[at + 2..].split(')').next().unwrap_or("");
            let target = target.split_whitespace().next().unwrap_or("");
            if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                here.clone()
            } else {
                dir.join(file)
            };
            assert!(
                path.exists(),
                "{doc}: link `{target}`: {} does not exist",
                path.display()
            );
            if !anchor.is_empty() {
                let heads = anchors(&std::fs::read_to_string(&path).unwrap_or_default());
                assert!(
                    heads.contains(anchor),
                    "{doc}: link `{target}`: no such heading ({heads:?})"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} links found");
}
