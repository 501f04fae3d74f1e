//! Technician commands: `#resolve`, `#assign me`, `#priority P1` ... on lines at the top of a
//! technician's reply. Parsing is purely syntactic here; whether `#assign siti` names a
//! technician or `#priority P9` a priority is checked in `lifecycle`, against the config.
//!
//! Only the leading block counts: blank lines and command lines until the first line of prose.
//! A `#` further down (a hashtag, "#2 floor printer") is text.

use std::fmt;

use crate::model::Status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Assign(String),
    Status(Status),
    Resolve(Option<String>),
    Priority(String),
    Category(String),
    Note(String),
    Escalate {
        level: Option<i64>,
        reason: Option<String>,
    },
    Reject(String),
    Cc(String),
    Close,
    /// `#merge HD-12`: fold this ticket into ticket 12.
    Merge(i64),
    /// `#link HD-12`: record that this ticket and ticket 12 are related.
    Link(i64),
    /// `#time 30m`: working time spent on the ticket.
    Time(std::time::Duration),
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Assign(who) => write!(f, "#assign {who}"),
            Command::Status(s) => write!(f, "#status {s}"),
            Command::Resolve(None) => write!(f, "#resolve"),
            Command::Resolve(Some(n)) => write!(f, "#resolve {n}"),
            Command::Priority(p) => write!(f, "#priority {p}"),
            Command::Category(c) => write!(f, "#category {c}"),
            Command::Note(_) => write!(f, "#note"),
            Command::Escalate { level, .. } => match level {
                Some(l) => write!(f, "#escalate L{l}"),
                None => write!(f, "#escalate"),
            },
            Command::Reject(_) => write!(f, "#reject"),
            Command::Cc(a) => write!(f, "#cc {a}"),
            Command::Close => write!(f, "#close"),
            Command::Merge(n) => write!(f, "#merge {n}"),
            Command::Link(n) => write!(f, "#link {n}"),
            Command::Time(d) => write!(f, "#time {}", humantime::format_duration(*d)),
        }
    }
}

/// One command line that could not be understood, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub line: String,
    pub problem: String,
}

/// The commands of a reply and the text after them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub commands: Vec<Command>,
    pub invalid: Vec<Invalid>,
    /// The reply without its command lines.
    pub rest: String,
}

/// Whether a line is meant as a command: `#` directly followed by a letter.
fn command_word(line: &str) -> Option<(&str, &str)> {
    let body = line.trim().strip_prefix('#')?;
    if !body.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let (word, args) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    Some((word, args.trim()))
}

pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.peek() {
        if line.trim().is_empty() {
            lines.next();
            continue;
        }
        let Some((word, args)) = command_word(line) else {
            break;
        };
        let line = line.trim().to_string();
        lines.next();
        match one(&word.to_ascii_lowercase(), args) {
            Ok(c) => parsed.commands.push(c),
            Err(problem) => parsed.invalid.push(Invalid { line, problem }),
        }
    }
    parsed.rest = lines.collect::<Vec<_>>().join("\n").trim().to_string();
    parsed
}

fn need(args: &str, what: &str) -> Result<String, String> {
    if args.is_empty() {
        Err(format!("needs {what}"))
    } else {
        Ok(args.to_string())
    }
}

/// Every command and the spellings it answers to, the English word first; `parse` reads
/// commands through this list and `docs/technician-card.md` must show every spelling
/// (`tests/docs.rs`), so the card cannot drift from the parser.
pub const SPELLINGS: &[&[&str]] = &[
    &["assign"],
    &["status"],
    &["resolve", "resolved", "selesai"],
    &["priority", "prioritas"],
    &["category", "kategori"],
    &["note", "catatan"],
    &["escalate", "eskalasi"],
    &["reject", "tolak"],
    &["cc"],
    &["close", "tutup"],
    &["merge", "gabung", "gabungkan"],
    &["link", "tautkan", "kaitkan"],
    &["time", "waktu"],
];

/// The command a spelling stands for, as its English word (the first of its `SPELLINGS`).
pub fn canonical(word: &str) -> Option<&'static str> {
    SPELLINGS
        .iter()
        .find(|spellings| spellings.contains(&word))
        .map(|spellings| spellings[0])
}

/// The Indonesian unit words `#time` reads besides humantime's (`1 jam 15 menit`).
pub const TIME_UNITS: &[(&str, &str)] =
    &[("jam", "h"), ("menit", "m"), ("mnt", "m"), ("detik", "s")];

fn one(word: &str, args: &str) -> Result<Command, String> {
    let optional = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match canonical(word).unwrap_or(word) {
        "assign" => need(args, "a technician (e-mail, name or `me`)").map(Command::Assign),
        "status" => {
            let s = args.to_ascii_lowercase().replace(['_', ' '], "-");
            let s = if s == "inprogress" {
                Status::InProgress.as_str().to_string()
            } else {
                s
            };
            match s.parse::<Status>() {
                Ok(status) if status.is_settable() => Ok(Command::Status(status)),
                _ => Err(format!(
                    "unknown status `{args}` (use one of: {})",
                    Status::list(&Status::SETTABLE)
                )),
            }
        }
        "resolve" => Ok(Command::Resolve(optional(args))),
        "priority" => need(args, "a priority, like P1").map(Command::Priority),
        "category" => need(args, "a category").map(Command::Category),
        "note" => need(args, "the note's text").map(Command::Note),
        "escalate" => {
            let (first, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            let level = match first.to_ascii_uppercase().as_str() {
                "L1" | "1" => Some(1),
                "L2" | "2" => Some(2),
                "L3" | "3" => Some(3),
                _ => None,
            };
            let reason = if level.is_some() {
                optional(rest.trim())
            } else {
                optional(args)
            };
            Ok(Command::Escalate { level, reason })
        }
        "reject" => need(args, "a reason (the requester receives it)").map(Command::Reject),
        "cc" => {
            let a = need(args, "an e-mail address")?.to_ascii_lowercase();
            if a.contains(char::is_whitespace) || a.matches('@').count() != 1 {
                return Err(format!("`{args}` is not an e-mail address"));
            }
            Ok(Command::Cc(a))
        }
        "close" => Ok(Command::Close),
        "merge" => {
            ticket_ref(&need(args, "the ticket to merge into, like HD-12")?).map(Command::Merge)
        }
        "link" => ticket_ref(&need(args, "the related ticket, like HD-12")?).map(Command::Link),
        "time" => duration(&need(args, "the time spent, like 30m or 1h 30m")?).map(Command::Time),
        _ => Err(format!(
            "unknown command `#{word}` (known: {})",
            SPELLINGS
                .iter()
                .map(|spellings| format!("#{}", spellings[0]))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The most one `#time` adds: more is a typo (`#time 30h` for 30 minutes) far more often than a
/// day's work on one ticket reported at once.
pub const MAX_TIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A ticket as technicians write it: `HD-12`, `[HD-12]`, `#12` or `12`. Whether the number names
/// a ticket is for `lifecycle` to say.
fn ticket_ref(arg: &str) -> Result<i64, String> {
    let bad = || format!("`{arg}` is not a ticket number like HD-12");
    let word = arg.split_whitespace().next().unwrap_or("");
    let word = word
        .trim_start_matches('[')
        .trim_end_matches([']', ',', '.']);
    let digits = match word.rsplit_once('-') {
        Some((prefix, n))
            if !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            n
        }
        Some(_) => return Err(bad()),
        None => word.trim_start_matches('#'),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits.parse().map_err(|_| bad())
}

/// `30m`, `1h 30m`, `1h30m`, `90 min`, `1 jam 15 menit`: humantime's units, with the
/// Indonesian words for hours and minutes. More than zero and at most [`MAX_TIME`].
fn duration(arg: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("`{arg}` is not a duration like 30m, 1h 30m or 1 jam 15 menit");
    // Join each number with its unit ("1 jam" -> "1h") so humantime reads it.
    let mut text = String::new();
    for word in arg.to_lowercase().split_whitespace() {
        let unit = TIME_UNITS
            .iter()
            .find(|(id, _)| *id == word)
            .map_or(word, |(_, unit)| unit);
        let glue = unit.starts_with(|c: char| c.is_ascii_alphabetic())
            && text.ends_with(|c: char| c.is_ascii_digit());
        if !text.is_empty() && !glue {
            text.push(' ');
        }
        text.push_str(unit);
    }
    let d = humantime::parse_duration(&text).map_err(|_| bad())?;
    if d.is_zero() {
        return Err(format!("`{arg}`: the time spent must be more than zero"));
    }
    if d > MAX_TIME {
        return Err(format!(
            "`{arg}` is more than {} in one #time; add it in parts if it is right",
            humantime::format_duration(MAX_TIME)
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_a_command() {
        for spelling in SPELLINGS.iter().flat_map(|s| s.iter()) {
            // The arguments each command accepts in its simplest form.
            let line = format!("#{spelling} HD-12 30m");
            let p = parse(&line);
            assert!(
                p.invalid
                    .iter()
                    .all(|i| !i.problem.contains("unknown command")),
                "{line}: {:?}",
                p.invalid
            );
        }
    }

    #[test]
    fn leading_commands_are_taken_and_removed() {
        let p = parse("#resolve toner diganti\n#priority P2\n\nSudah beres ya.\n#bukan perintah\n");
        assert_eq!(
            p.commands,
            vec![
                Command::Resolve(Some("toner diganti".into())),
                Command::Priority("P2".into())
            ]
        );
        assert!(p.invalid.is_empty());
        assert_eq!(p.rest, "Sudah beres ya.\n#bukan perintah");
    }

    #[test]
    fn command_only_reply_has_no_rest() {
        let p = parse("\n#assign me\n#status waiting\n");
        assert_eq!(p.rest, "");
        assert_eq!(p.commands.len(), 2);
        assert_eq!(p.commands[1], Command::Status(Status::Waiting));
    }

    #[test]
    fn invalid_commands_say_what_is_wrong() {
        let p = parse("#status done\n#frobnicate\n#assign\n#cc not an address\n");
        assert!(p.commands.is_empty());
        let problems: Vec<_> = p.invalid.iter().map(|i| i.problem.as_str()).collect();
        assert!(problems[0].contains("unknown status"), "{problems:?}");
        assert!(problems[1].contains("unknown command `#frobnicate`"));
        assert!(problems[2].contains("needs"));
        assert!(problems[3].contains("not an e-mail"));
    }

    #[test]
    fn escalate_takes_optional_level_and_reason() {
        assert_eq!(
            parse("#escalate L2 server down").commands,
            vec![Command::Escalate {
                level: Some(2),
                reason: Some("server down".into())
            }]
        );
        assert_eq!(
            parse("#escalate vendor needed").commands,
            vec![Command::Escalate {
                level: None,
                reason: Some("vendor needed".into())
            }]
        );
    }

    #[test]
    fn merge_link_and_time_take_their_argument() {
        let p = parse("#merge HD-12\n#link [HD-3]\n#time 1h 30m\n#waktu 1 jam 15 menit\n#gabung 9");
        assert_eq!(
            p.commands,
            vec![
                Command::Merge(12),
                Command::Link(3),
                Command::Time(std::time::Duration::from_secs(5400)),
                Command::Time(std::time::Duration::from_secs(4500)),
                Command::Merge(9),
            ],
            "{:?}",
            p.invalid
        );
        let p = parse("#time\n#time abc\n#time 0m\n#time 30h\n#merge HD-x\n#merge\n#link -4");
        assert!(p.commands.is_empty());
        let problems: Vec<_> = p.invalid.iter().map(|i| i.problem.as_str()).collect();
        assert!(problems[0].contains("needs the time spent"), "{problems:?}");
        assert!(problems[1].contains("not a duration"));
        assert!(problems[2].contains("more than zero"));
        assert!(problems[3].contains("more than 1day"));
        assert!(problems[4].contains("not a ticket number"));
        assert!(problems[5].contains("needs the ticket"));
        assert!(problems[6].contains("not a ticket number"));
    }

    #[test]
    fn hashtags_and_numbers_are_not_commands() {
        let p = parse("#2 printer di lantai 3 sudah normal\n#resolve");
        assert!(p.commands.is_empty());
        assert!(p.rest.starts_with("#2 printer"));
    }
}
