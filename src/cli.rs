//! The `loket` command line as clap sees it: every command, its flags, its help and examples.
//! Kept in the library (not in `main.rs`) so its parsing is unit-tested with the rest; `main.rs`
//! dispatches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loket",
    version,
    about = "E-mail driven IT helpdesk",
    after_help = "Examples:\n  \
        loket init /etc/loket/loket.toml\n  \
        loket check --config /etc/loket/loket.toml\n  \
        loket run --config /etc/loket/loket.toml\n  \
        loket tickets list --status active --older-than 3d\n  \
        loket search \"printer lantai 3\"\n\n\
        `loket <command> --help` shows each command's flags and examples."
)]
pub struct Cli {
    /// Config file (TOML) [default: loket.toml].
    #[arg(long, global = true, env = "LOKET_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The config file every command but `init` reads.
    pub fn config_path(&self) -> &Path {
        self.config.as_deref().unwrap_or(Path::new("loket.toml"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter config (categories, priorities and example rules included).
    ///
    /// Never overwrites a file. The config is Loket's example configuration with the helpdesk
    /// language set; edit the addresses, servers and people, then run `loket check`.
    #[command(after_help = "Examples:\n  \
        loket init                              # ./loket.toml, Bahasa Indonesia\n  \
        loket init --lang en /etc/loket/loket.toml")]
    Init {
        /// The language of the mails to requesters (templates), and of the file's opening notes.
        #[arg(long, default_value = "id", value_parser = ["id", "en"])]
        lang: String,
        /// Where to write it [default: --config, else loket.toml].
        path: Option<PathBuf>,
    },
    /// Run the daemon: fetch mail over IMAP, keep tickets, send mail over SMTP.
    ///
    /// Stops cleanly on SIGTERM or SIGINT. Logs go to standard error (journald under systemd);
    /// `[logging] format = "json"` writes one JSON object per line.
    #[command(after_help = "Examples:\n  \
        loket run --config /etc/loket/loket.toml\n  \
        LOKET_LOG=loket=debug loket run           # more detail")]
    Run,
    /// Process one raw message from standard input (for Postfix `pipe` or procmail).
    ///
    /// Exit status: 0 stored (or a duplicate), 75 temporary failure (the MTA retries), 65 the
    /// input is not an e-mail message (its bytes are kept in quarantine).
    #[command(after_help = "Examples:\n  \
        loket ingest --config loket.toml < message.eml\n  \
        # Postfix master.cf (the whole example, explained: /usr/share/doc/loket/examples/postfix/):\n  \
        loket unix - n n - - pipe flags=DRX null_sender= user=loket\n    \
        argv=/usr/bin/env LOKET_LOG=off /usr/bin/loket ingest --config /etc/loket/loket.toml --to ${recipient}")]
    Ingest {
        /// The helpdesk address the message was delivered to, when Loket serves several
        /// (`[[mailboxes]]`): its tickets answer from that address. Any other address counts as
        /// `helpdesk.address`.
        #[arg(long, value_name = "ADDRESS")]
        to: Option<String>,
    },
    /// Validate the config, log in to IMAP and SMTP, and report what was found. Changes nothing.
    #[command(after_help = "Example:\n  loket check --config /etc/loket/loket.toml")]
    Check,
    /// Look at tickets in the store.
    #[command(after_help = "Examples:\n  \
        loket tickets list --status open,waiting --priority P1\n  \
        loket tickets show HD-42")]
    Tickets {
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// Full-text search over ticket subjects and the mails people wrote.
    ///
    /// Every word must occur, in any case and without regard to accents. "Quoted words" must
    /// occur together, in that order; print* matches words that begin with "print"; OR between
    /// two terms accepts either. One line per ticket, best match first, with a snippet.
    #[command(after_help = "Examples:\n  \
        loket search printer lantai 3\n  \
        loket search '\"kertas macet\" OR \"paper jam\"'\n  \
        loket search 'print* rusak' --limit 5\n  \
        loket search --raw 'NEAR(printer kosong, 5)'   # SQLite FTS5 syntax\n  \
        loket search --rebuild                         # rebuild the index")]
    Search {
        /// What to look for (several words are one query).
        #[arg(required_unless_present = "rebuild")]
        query: Vec<String>,
        /// At most this many tickets.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Pass the query to SQLite FTS5 as it is (operators NEAR, NOT, column filters).
        #[arg(long)]
        raw: bool,
        /// Empty the search index and build it again from the stored mail (safe while the
        /// daemon runs). Only needed after a damaged index; new mail is indexed as it comes.
        #[arg(long, conflicts_with_all = ["query", "raw"])]
        rebuild: bool,
    },
    /// Messages Loket kept aside instead of making a ticket (not mail, too large, a bounce for
    /// no known ticket, a loop), with their bytes: list, inspect, release.
    #[command(after_help = "Examples:\n  \
        loket quarantine list\n  \
        loket quarantine show 7\n  \
        loket quarantine show 7 --raw > message-7.eml\n  \
        loket quarantine release 7        # after raising [limits] max_message_bytes, say")]
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// The store in figures: tickets by status, priority and category; outbox; quarantine;
    /// database size.
    #[command(after_help = "Example:\n  loket stats --config /etc/loket/loket.toml")]
    Stats,
    /// Copy the database to FILE while the daemon keeps running (SQLite online backup).
    ///
    /// The copy is one consistent moment, checked, and written under a temporary name first,
    /// so FILE is never half written. It is a standalone SQLite file: to restore, stop Loket
    /// and put it at database.path.
    #[command(after_help = "Examples:\n  \
        loket backup /var/backups/loket-$(date +%F).db\n  \
        loket backup --force /var/backups/loket-latest.db")]
    Backup {
        /// Where to write the copy.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Apply pending database migrations now and print the schema version.
    ///
    /// Every command applies them on its own when it opens the database; this does it
    /// explicitly (after an upgrade, before starting the daemon). A database written by a newer
    /// Loket is refused, never changed.
    #[command(after_help = "Example:\n  loket migrate --config /etc/loket/loket.toml")]
    Migrate,
    /// Try the category and priority rules.
    #[command(after_help = "Example:\n  loket rules test --config loket.toml message.eml")]
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The managers' daily digest: preview it, or send it now.
    #[command(after_help = "Examples:\n  \
        loket digest --preview --date 2026-11-23 --out digest.html\n  \
        loket digest --send --manager rina@example.co.id")]
    Digest {
        /// Print the text version and write the HTML (chart included) to --out.
        #[arg(long, conflicts_with = "send", required_unless_present = "send")]
        preview: bool,
        /// Queue the digest to the managers and deliver it over SMTP now.
        #[arg(long)]
        send: bool,
        /// The digest as sent on this local date, YYYY-MM-DD (it covers the day or days
        /// before); default today. Backlog figures are always as of now.
        #[arg(long)]
        date: Option<String>,
        /// Only this manager, for their categories (--preview without it: every category).
        #[arg(long)]
        manager: Option<String>,
        /// Where --preview writes the HTML.
        #[arg(long, default_value = "digest.html")]
        out: PathBuf,
    },
    /// The monthly recap: every ticket created in a month (helpdesk time zone), one line each.
    #[command(after_help = "Examples:\n  \
        loket report --month 2026-11 --format csv --out hd-2026-11.csv\n  \
        loket report --month 2026-11 --format html > hd-2026-11.html")]
    Report {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        #[arg(long, default_value = "csv", value_parser = ["csv", "html"])]
        format: String,
        /// Output file; standard output when not given.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Classify one saved message as a new ticket would be. Changes nothing.
    ///
    /// Prints the parsed fields, every rule with matched or not and why, and the resulting
    /// category, priority and SLA targets. Reads the config and the file only: no database,
    /// no network.
    #[command(after_help = "Example:\n  loket rules test --config loket.toml message.eml")]
    Test {
        /// The raw message (RFC 5322, as an .eml file).
        message: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Quarantined messages, newest first: id, when, source, size, Message-ID, reason.
    ///
    /// Released messages are left out unless --all, which shows them marked "[released as
    /// HD-42]". Text from the messages is shown with control characters escaped.
    #[command(after_help = "Examples:\n  \
        loket quarantine list\n  \
        loket quarantine list --all --limit 200")]
    List {
        /// At most this many messages, the newest.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Include the messages already released.
        #[arg(long)]
        all: bool,
    },
    /// One quarantined message: why, from where, its size, and its From, To, Subject, Date and
    /// Message-ID as they are in the bytes (control characters escaped).
    #[command(after_help = "Examples:\n  \
        loket quarantine show 7\n  \
        loket quarantine show 7 --raw > message-7.eml   # the exact stored bytes")]
    Show {
        /// The number `loket quarantine list` shows.
        id: i64,
        /// Write the exact stored bytes to standard output instead (redirect it to a file).
        #[arg(long)]
        raw: bool,
    },
    /// Offer a quarantined message to the pipeline again, with the config as it is now.
    ///
    /// Useful after raising a `[limits]` value. When it becomes a ticket (or a reply on one, or
    /// turns out to be stored already) the message is marked released and keeps its row; any
    /// acknowledgement is queued for the daemon to send. Quarantined again, nothing changes: the
    /// command says why and exits with status 1.
    #[command(after_help = "Examples:\n  \
        loket quarantine release 7\n  \
        loket quarantine list --all        # released ones show what they became")]
    Release {
        /// The number `loket quarantine list` shows.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// Newest tickets first, narrowed by the filters (all of them must hold).
    ///
    /// --status, --priority and --category take one value or several separated by commas.
    #[command(after_help = "Examples:\n  \
        loket tickets list --status open --limit 20\n  \
        loket tickets list --status active --older-than 3d      # stale work\n  \
        loket tickets list --owner none --priority P1,P2         # urgent and unassigned\n  \
        loket tickets list --owner andi@example.co.id --category printer")]
    List {
        /// new, open, in-progress, waiting, awaiting-approval, resolved, closed, rejected, or
        /// active (everything before resolved).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// A priority name from the config, like P1.
        #[arg(long, value_delimiter = ',')]
        priority: Vec<String>,
        /// A category name from the config, like printer.
        #[arg(long, value_delimiter = ',')]
        category: Vec<String>,
        /// A technician's address or name, or `none` for unassigned tickets.
        #[arg(long)]
        owner: Option<String>,
        /// Only tickets created at least this long ago: 3d, 12h, 2weeks.
        #[arg(long, value_parser = crate::admin::tickets::parse_age)]
        older_than: Option<Duration>,
        /// At most this many tickets, the newest.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One ticket: its fields, SLA deadlines, approvals, participants, and a timeline of its
    /// mails and events.
    #[command(after_help = "Examples:\n  \
        loket tickets show HD-42\n  \
        loket tickets show 42 --full          # whole mail bodies")]
    Show {
        /// The ticket, as `HD-42` or `42`.
        ticket: String,
        /// Print whole mail bodies (else the first 12 lines of each).
        #[arg(long)]
        full: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("loket").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_help_with_an_example() {
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_name() == "help" {
                    continue;
                }
                assert!(sub.get_about().is_some(), "{name} has no description");
                let after = sub
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(after.contains("loket "), "{name} has no example");
                walk(sub, &name);
            }
        }
        walk(&Cli::command(), "loket");
    }

    #[test]
    fn list_filters_parse() {
        let cli = parse(&[
            "tickets",
            "list",
            "--status",
            "open,waiting",
            "--priority",
            "P1",
            "--priority",
            "P2",
            "--older-than",
            "3d",
            "--owner",
            "none",
            "--config",
            "x.toml",
        ])
        .unwrap();
        assert_eq!(cli.config_path(), Path::new("x.toml"));
        let Command::Tickets {
            command:
                TicketsCommand::List {
                    status,
                    priority,
                    older_than,
                    owner,
                    limit,
                    category,
                },
        } = cli.command
        else {
            panic!("not tickets list");
        };
        assert_eq!(status, vec!["open", "waiting"]);
        assert_eq!(priority, vec!["P1", "P2"]);
        assert!(category.is_empty());
        assert_eq!(older_than, Some(Duration::from_secs(3 * 86_400)));
        assert_eq!(owner.as_deref(), Some("none"));
        assert_eq!(limit, 50);
    }

    #[test]
    fn bad_age_names_the_flag() {
        let err = parse(&["tickets", "list", "--older-than", "lama"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--older-than") && err.contains("lama"),
            "{err}"
        );
    }

    #[test]
    fn search_takes_words_or_rebuild() {
        let cli = parse(&["search", "printer", "lantai", "3"]).unwrap();
        match cli.command {
            Command::Search { query, rebuild, .. } => {
                assert_eq!(query.join(" "), "printer lantai 3");
                assert!(!rebuild);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["search"]).is_err());
        assert!(parse(&["search", "--rebuild"]).is_ok());
        assert!(parse(&["search", "--rebuild", "printer"]).is_err());
    }

    #[test]
    fn init_defaults_and_languages() {
        let cli = parse(&["init"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Init { ref lang, path: None } if lang == "id"
        ));
        let cli = parse(&["init", "--lang", "en", "/tmp/x.toml"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Init { ref lang, path: Some(ref p) } if lang == "en" && p == Path::new("/tmp/x.toml")
        ));
        assert!(parse(&["init", "--lang", "fr"]).is_err());
    }

    #[test]
    fn quarantine_commands_parse() {
        let cli = parse(&["quarantine", "list"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Quarantine {
                command: QuarantineCommand::List {
                    limit: 50,
                    all: false
                }
            }
        ));
        let cli = parse(&["quarantine", "show", "7", "--raw"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Quarantine {
                command: QuarantineCommand::Show { id: 7, raw: true }
            }
        ));
        assert!(parse(&["quarantine", "release"]).is_err());
        assert!(parse(&["quarantine", "release", "HD-7"]).is_err());
    }

    #[test]
    fn backup_needs_a_file() {
        assert!(parse(&["backup"]).is_err());
        let cli = parse(&["backup", "--force", "b.db"]).unwrap();
        assert!(matches!(cli.command, Command::Backup { force: true, .. }));
    }
}
