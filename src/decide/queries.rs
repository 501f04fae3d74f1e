//! Questions asked by mail, read without I/O: a technician's `#mine`, `#queue`, `#show`,
//! `#search` and `#help` in a mail on no ticket, and a requester's `#status`. A question opens
//! no ticket; `effects::queries` answers it.
//!
//! Where the words are read: the leading lines of the body (blank lines skipped, until the
//! first line of prose, as for commands); when the body has no such line, the subject, if it
//! is itself one (`#mine` typed into a phone's subject field). For a requester's reply, only
//! the new text counts (the quoted history is not theirs).
//!
//! The words are checked here for form only; whether `P1` is a priority or `printer` a
//! category is for `effects::queries`, against the config.

use super::{Placement, commands, quote};
use crate::inbound::Inbound;

/// A technician's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Their own open tickets, most urgent deadline first.
    Mine,
    /// Open tickets they may take, narrowed by the filter's words.
    Queue(QueueFilter),
    /// One ticket, as `loket tickets show` prints it (the reference as typed).
    Show(String),
    /// Full-text search, as `loket search`.
    Search(String),
    /// What they can ask and which commands they can give.
    Help,
}

/// `#queue P1 printer L2 unassigned`: every word optional, in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// `P1`, as typed (checked against the priorities later).
    pub priority: Option<String>,
    /// A category name, as typed.
    pub category: Option<String>,
    pub level: Option<i64>,
    /// Only tickets nobody owns yet.
    pub unassigned: bool,
}

/// A query line that could not be understood, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub line: String,
    pub problem: String,
}

/// A requester's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequesterQuery {
    /// Their tickets of the last days (`queries.status_days`).
    Mine,
    /// One ticket: the one a reply is on, or the one named (`#status HD-42`), as typed.
    Ticket(TicketRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketRef {
    /// The ticket the reply is on.
    Id(i64),
    /// A reference as typed; it may name a ticket that is not theirs.
    Typed(String),
}

/// What a mail asks, when it is a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Technician {
        queries: Vec<Query>,
        invalid: Vec<Invalid>,
    },
    Requester(RequesterQuery),
}

impl Asked {
    /// The question as read, for the record (`queries.asked`).
    pub fn summary(&self) -> String {
        match self {
            Asked::Technician { queries, invalid } => queries
                .iter()
                .map(|q| format!("{q:?}"))
                .chain(invalid.iter().map(|i| i.line.clone()))
                .collect::<Vec<_>>()
                .join("\n"),
            Asked::Requester(q) => format!("{q:?}"),
        }
    }
}

/// The words a requester may write, lower case, without the tag that may follow `#status`.
/// `docs/requester-note.md` must show every one (`tests/docs.rs`).
pub const STATUS_WORDS: &[&str] = &[
    "#status",
    "#status tiket",
    "status",
    "status tiket",
    "cek status",
    "ticket status",
];

/// What `msg` asks, or None for an ordinary mail. `technician` is whether the sender is one
/// (authenticated as commands are); a technician asks on no ticket only, since on a ticket
/// `#status` is their command.
pub fn read(msg: &Inbound, placement: &Placement, technician: bool) -> Option<Asked> {
    match (placement, technician) {
        (Placement::New { .. }, true) => technician_queries(&msg.text, &msg.subject),
        (Placement::Existing { .. }, true) => None,
        (Placement::New { .. }, false) => {
            requester_query(&msg.text, Some(&msg.subject)).map(Asked::Requester)
        }
        (Placement::Existing { ticket, .. }, false) => {
            let new = quote::new_text(&msg.text);
            requester_query(&new, None).map(|q| {
                Asked::Requester(match q {
                    // `#status` on a reply asks about the ticket it is on.
                    RequesterQuery::Mine => RequesterQuery::Ticket(TicketRef::Id(ticket.id)),
                    named => named,
                })
            })
        }
    }
}

/// Whether a mail might be a question: cheap, so the pipeline looks up the answer rate only
/// for mail that may need it.
pub fn might_ask(msg: &Inbound) -> bool {
    let first = first_line(&msg.text).unwrap_or("");
    let subject = msg.subject.trim_start();
    first.starts_with('#')
        || subject.starts_with('#')
        || STATUS_WORDS.contains(&normalise(first).as_str())
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

/// Lower case, inner spaces collapsed, trailing punctuation dropped: "Status tiket?" is
/// "status tiket".
fn normalise(line: &str) -> String {
    line.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(['?', '!', '.', ':'])
        .to_lowercase()
}

/// `#word args` when the line is meant as one: `#` directly followed by a letter.
fn hash_word(line: &str) -> Option<(String, &str)> {
    let body = line.trim().strip_prefix('#')?;
    if !body.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let (word, args) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    Some((word.to_ascii_lowercase(), args.trim()))
}

/// The technician's query lines: the leading `#word` lines of the body, else the subject when
/// it is one. None when the mail starts with prose: an ordinary mail (their own request).
fn technician_queries(text: &str, subject: &str) -> Option<Asked> {
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if hash_word(line).is_none() {
            break;
        }
        lines.push(line);
    }
    if lines.is_empty() {
        let subject = subject.trim();
        hash_word(subject)?;
        lines.push(subject);
    }
    let mut queries = Vec::new();
    let mut invalid = Vec::new();
    for line in lines {
        let Some((word, args)) = hash_word(line) else {
            continue;
        };
        match one(&word, args) {
            Ok(q) => queries.push(q),
            Err(problem) => invalid.push(Invalid {
                line: line.to_string(),
                problem,
            }),
        }
    }
    Some(Asked::Technician { queries, invalid })
}

/// The queries there are, for error messages.
pub const KNOWN: &str = "#mine, #queue [P1] [category] [L2] [unassigned], #show HD-42, \
                         #search words, #help";

/// Every query and the spellings it answers to, the English word first; `one` reads queries
/// through this list and `docs/technician-card.md` must show every spelling (`tests/docs.rs`).
pub const SPELLINGS: &[&[&str]] = &[
    &["mine", "milikku", "punyaku"],
    &["queue", "antrian", "antrean"],
    &["show", "lihat"],
    &["search", "cari"],
    &["help", "bantuan"],
];

/// The `#queue` filter words for tickets nobody owns.
pub const UNASSIGNED_WORDS: &[&str] = &["unassigned", "bebas", "kosong"];

/// The words that name one ticket in a requester's question: `#status HD-42`, `#lihat HD-42`.
pub const REQUESTER_TICKET_WORDS: &[&str] = &["status", "show", "lihat"];

fn one(word: &str, args: &str) -> Result<Query, String> {
    let canonical = SPELLINGS
        .iter()
        .find(|spellings| spellings.contains(&word))
        .map(|spellings| spellings[0]);
    match canonical {
        Some("mine") => Ok(Query::Mine),
        Some("queue") => queue_filter(args).map(Query::Queue),
        Some("show") => {
            let r = args.split_whitespace().next().unwrap_or("");
            if r.is_empty() {
                Err("needs a ticket, like #show HD-42".into())
            } else {
                Ok(Query::Show(r.to_string()))
            }
        }
        Some("search") => {
            if args.is_empty() {
                Err("needs the words to search for, like #search printer macet".into())
            } else {
                Ok(Query::Search(args.to_string()))
            }
        }
        Some("help") => Ok(Query::Help),
        _ if commands::canonical(word).is_some() => Err(format!(
            "#{word} is a command on a ticket: reply to the ticket's mail (keep [HD-n] in the \
             subject) with #{word} on the first line"
        )),
        _ => Err(format!("unknown query `#{word}` (known: {KNOWN})")),
    }
}

fn queue_filter(args: &str) -> Result<QueueFilter, String> {
    let mut f = QueueFilter::default();
    for word in args.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        let level = lower
            .strip_prefix('l')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| (1..=3).contains(n));
        let priority = lower.len() > 1
            && lower.starts_with('p')
            && lower[1..].chars().all(|c| c.is_ascii_digit());
        let repeated = |what: &str| Err(format!("`{word}`: the filter names {what} twice"));
        if let Some(n) = level {
            if f.level.is_some() {
                return repeated("a level");
            }
            f.level = Some(n);
        } else if priority {
            if f.priority.is_some() {
                return repeated("a priority");
            }
            f.priority = Some(word.to_ascii_uppercase());
        } else if UNASSIGNED_WORDS.contains(&lower.as_str()) {
            f.unassigned = true;
        } else if lower
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            if f.category.is_some() {
                return repeated("a category");
            }
            f.category = Some(lower);
        } else {
            return Err(format!(
                "`{word}` is not a filter (use a priority like P1, a category, a level like L2, \
                 or unassigned)"
            ));
        }
    }
    Ok(f)
}

/// A requester's question on the first line of `text` (the subject when the body is empty and
/// the subject is `#status`).
fn requester_query(text: &str, subject: Option<&str>) -> Option<RequesterQuery> {
    let line = match first_line(text) {
        Some(l) => l.to_string(),
        None => subject
            .map(str::trim)
            .filter(|s| s.starts_with('#'))?
            .to_string(),
    };
    let words = normalise(&line);
    if STATUS_WORDS.contains(&words.as_str()) {
        return Some(RequesterQuery::Mine);
    }
    // `#status HD-42`, `#show HD-42`, `#lihat HD-42`: one ticket, named.
    let (word, args) = hash_word(&line)?;
    if !REQUESTER_TICKET_WORDS.contains(&word.as_str()) {
        return None;
    }
    let reference = args.split_whitespace().next()?;
    reference
        .chars()
        .any(|c| c.is_ascii_digit())
        .then(|| RequesterQuery::Ticket(TicketRef::Typed(reference.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Match;
    use crate::model::Status;

    fn mail(subject: &str, text: &str) -> Inbound {
        let mut m = crate::decide::tests::msg(crate::inbound::AutoKind::Person);
        m.subject = subject.into();
        m.text = text.into();
        m
    }

    const NEW: Placement = Placement::New { note: None };

    fn tech(subject: &str, text: &str) -> Option<Asked> {
        read(&mail(subject, text), &NEW, true)
    }

    #[test]
    fn every_ticket_command_on_no_ticket_says_where_it_belongs() {
        for spelling in commands::SPELLINGS.iter().flat_map(|s| s.iter()) {
            let problem = one(spelling, "HD-1").expect_err("a command is no query");
            assert!(
                problem.contains("command on a ticket"),
                "{spelling}: {problem}"
            );
        }
    }

    #[test]
    fn technician_queries_are_the_leading_lines_or_the_subject() {
        let Some(Asked::Technician { queries, invalid }) = tech(
            "queue",
            "#mine\n\n#queue P1 printer L2 unassigned\n#show HD-42\nhalo\n#help",
        ) else {
            panic!("a query mail");
        };
        assert!(invalid.is_empty(), "{invalid:?}");
        assert_eq!(
            queries,
            vec![
                Query::Mine,
                Query::Queue(QueueFilter {
                    priority: Some("P1".into()),
                    category: Some("printer".into()),
                    level: Some(2),
                    unassigned: true,
                }),
                Query::Show("HD-42".into()),
            ]
        );
        assert_eq!(
            tech("#search printer macet", ""),
            Some(Asked::Technician {
                queries: vec![Query::Search("printer macet".into())],
                invalid: vec![]
            })
        );
        // Their own request, in prose: an ordinary mail.
        assert_eq!(tech("Laptop saya rusak", "Tolong dicek.\n#mine"), None);
        // On a ticket, #status is a command, not a question.
        let on_ticket = Placement::Existing {
            ticket: crate::fixtures::ticket(Status::Open),
            by: Match::Tag,
        };
        assert_eq!(read(&mail("x", "#mine"), &on_ticket, true), None);
    }

    #[test]
    fn bad_query_lines_say_what_works() {
        let Some(Asked::Technician { queries, invalid }) = tech(
            "",
            "#mine\n#frobnicate\n#resolve done\n#queue P1 P2\n#queue lantai/3\n#show",
        ) else {
            panic!("a query mail");
        };
        assert_eq!(queries, vec![Query::Mine]);
        let problems: Vec<&str> = invalid.iter().map(|i| i.problem.as_str()).collect();
        assert!(
            problems[0].contains("unknown query `#frobnicate`") && problems[0].contains("#help")
        );
        assert!(problems[1].contains("command on a ticket"), "{problems:?}");
        assert!(problems[2].contains("priority twice"), "{problems:?}");
        assert!(problems[3].contains("not a filter"), "{problems:?}");
        assert!(problems[4].contains("needs a ticket"), "{problems:?}");
    }

    #[test]
    fn requesters_ask_with_status_words_only() {
        let ask = |s: &str, t: &str| read(&mail(s, t), &NEW, false);
        for words in [
            "#status",
            "Status tiket?",
            "status",
            "cek status",
            "#STATUS",
        ] {
            assert_eq!(
                ask("Pertanyaan", &format!("{words}\n\nRina")),
                Some(Asked::Requester(RequesterQuery::Mine)),
                "{words}"
            );
        }
        assert_eq!(
            ask("#status", ""),
            Some(Asked::Requester(RequesterQuery::Mine))
        );
        assert_eq!(
            ask("x", "#status HD-42"),
            Some(Asked::Requester(RequesterQuery::Ticket(TicketRef::Typed(
                "HD-42".into()
            ))))
        );
        // A request that mentions a status is a request; so is a non-technician's #mine.
        assert_eq!(ask("status", "Status printer saya bagaimana?"), None);
        assert_eq!(ask("#mine", "#mine"), None);
        assert_eq!(ask("x", "#show semua"), None);
        // On a reply: that ticket, from the new text only.
        let on_ticket = Placement::Existing {
            ticket: crate::fixtures::ticket(Status::Resolved),
            by: Match::Tag,
        };
        assert_eq!(
            read(
                &mail("RE: [HD-7] x", "#status\n\n> #status"),
                &on_ticket,
                false
            ),
            Some(Asked::Requester(RequesterQuery::Ticket(TicketRef::Id(7))))
        );
        assert_eq!(
            read(
                &mail("RE: [HD-7] x", "Masih rusak.\n\n> #status"),
                &on_ticket,
                false
            ),
            None
        );
    }

    #[test]
    fn might_ask_sees_every_question() {
        for (s, t) in [
            ("#mine", ""),
            ("x", "#status"),
            ("x", "Status tiket"),
            ("x", "\n #queue"),
        ] {
            assert!(might_ask(&mail(s, t)), "{s} {t}");
        }
        assert!(!might_ask(&mail("Printer", "Printer rusak")));
    }
}
