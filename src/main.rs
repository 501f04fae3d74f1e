//! The `loket` command line: the daemon, the MDA pipe mode, the config check and a look into the
//! store. Errors reach the user with their context chain; exit codes follow sysexits where an
//! MTA reads them.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use loket::config::Config;
use loket::pipeline::{self, Outcome, Source};
use loket::{daemon, inbound, outbound, store};

/// sysexits: the MTA keeps the message and retries.
const EX_TEMPFAIL: u8 = 75;
/// sysexits: the input is not what it should be; the MTA bounces it.
const EX_DATAERR: u8 = 65;

#[derive(Parser)]
#[command(name = "loket", version, about = "E-mail driven IT helpdesk")]
struct Cli {
    /// Config file (TOML).
    #[arg(
        long,
        global = true,
        env = "LOKET_CONFIG",
        default_value = "loket.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: fetch mail over IMAP, keep tickets, send mail over SMTP.
    #[command(after_help = "Example:\n  loket run --config /etc/loket/loket.toml")]
    Run,
    /// Process one raw message from standard input (for Postfix `pipe` or procmail).
    ///
    /// Exit status: 0 stored (or a duplicate), 75 temporary failure (the MTA retries), 65 the
    /// input is not an e-mail message (its bytes are kept in quarantine).
    #[command(after_help = "Example:\n  loket ingest --config loket.toml < message.eml")]
    Ingest,
    /// Validate the config, log in to IMAP and SMTP, and report what was found. Changes nothing.
    Check,
    /// Look at tickets in the store.
    Tickets {
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// Try the category and priority rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The managers' daily digest: preview it, or send it now.
    #[command(
        after_help = "Examples:\n  loket digest --preview --date 2026-11-23 --out digest.html\n  \
                      loket digest --send --manager rina@example.co.id"
    )]
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
    #[command(
        after_help = "Example:\n  loket report --month 2026-11 --format csv --out hd-2026-11.csv"
    )]
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

#[derive(Subcommand)]
enum RulesCommand {
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

#[derive(Subcommand)]
enum TicketsCommand {
    /// Newest tickets first.
    #[command(after_help = "Example:\n  loket tickets list --status open --limit 20")]
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One ticket with its participants, messages and events.
    #[command(after_help = "Example:\n  loket tickets show HD-42")]
    Show {
        /// The ticket, as `HD-42` or `42`.
        ticket: String,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOKET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        // ingest maps its own failures to exit codes for the MTA.
        Command::Ingest => return ingest(&cli.config),
        Command::Run => Config::load(&cli.config)
            .map_err(Into::into)
            .and_then(|cfg| {
                let env = daemon::env(cfg)?;
                tokio::runtime::Runtime::new()?.block_on(daemon::run(env))
            }),
        Command::Check => Config::load(&cli.config)
            .map_err(Into::into)
            .and_then(check),
        Command::Tickets { command } => Config::load(&cli.config)
            .map_err(Into::into)
            .and_then(|cfg| tickets(cfg, command)),
        Command::Rules { command } => Config::load(&cli.config)
            .map_err(Into::into)
            .and_then(|cfg| rules(&cfg, command)),
        Command::Digest {
            preview,
            send: _,
            date,
            manager,
            out,
        } => Config::load(&cli.config)
            .map_err(Into::into)
            .and_then(|cfg| digest(cfg, preview, date.as_deref(), manager.as_deref(), &out)),
        Command::Report { month, format, out } => Config::load(&cli.config)
            .map_err(Into::into)
            .and_then(|cfg| report(cfg, &month, &format, out.as_deref())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loket: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `loket ingest`: the exit code is the contract with the MTA, so every failure is mapped.
fn ingest(config: &std::path::Path) -> ExitCode {
    let run = || -> Result<Outcome> {
        let cfg = Config::load(config)?;
        let env = daemon::env(cfg)?;
        let mut raw = Vec::new();
        std::io::stdin()
            .read_to_end(&mut raw)
            .context("reading the message from standard input")?;
        let mut conn = store::open(&env.cfg.database.path)?;
        pipeline::process(&mut conn, &env, &raw, &Source::Stdin)
    };
    match run() {
        Ok(outcome) => {
            println!("{}", describe(&outcome));
            if outcome.is_refusal() {
                ExitCode::from(EX_DATAERR)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            // A bad config, a locked or full database: the MTA keeps the mail and tries again.
            eprintln!("loket: temporary failure: {e:#}");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Created {
            ticket,
            acknowledged,
        } => {
            format!(
                "created ticket {ticket}{}",
                if *acknowledged {
                    ", acknowledgement queued"
                } else {
                    ""
                }
            )
        }
        Outcome::Appended { ticket, kind } => format!("added to ticket {ticket} as {kind}"),
        Outcome::Duplicate => "duplicate: already stored".into(),
        Outcome::Quarantined { reason } => format!("quarantined: {reason}"),
        Outcome::Ignored { reason } => format!("ignored: {reason}"),
    }
}

fn check(cfg: Config) -> Result<()> {
    println!(
        "config: ok ({} as {})",
        cfg.helpdesk.address, cfg.helpdesk.name
    );
    outbound::render::Renderer::new(cfg.templates.dir.as_deref()).context("templates")?;
    println!("templates: ok");
    let rt = tokio::runtime::Runtime::new()?;
    let mut failed = false;
    match rt.block_on(inbound::imap::probe(&cfg)) {
        Ok(found) => {
            println!("imap {}:{}: login ok", cfg.imap.host, cfg.imap.port);
            let idle = found.iter().any(|c| c == "IDLE");
            println!(
                "  IDLE: {}",
                if idle {
                    "offered"
                } else {
                    "not offered (polling)"
                }
            );
            for f in found {
                println!("  {f}");
            }
        }
        Err(e) => {
            failed = true;
            println!("imap {}:{}: FAILED: {e:#}", cfg.imap.host, cfg.imap.port);
        }
    }
    // lettre's pooled transport spawns its pool task on creation: build it inside the runtime.
    let probe = rt.block_on(async {
        let smtp = outbound::smtp::transport(&cfg)?;
        anyhow::Ok(smtp.test_connection().await)
    })?;
    match probe {
        Ok(true) => println!("smtp {}:{}: ok", cfg.smtp.host, cfg.smtp.port),
        Ok(false) => {
            failed = true;
            println!(
                "smtp {}:{}: FAILED: server did not answer as expected",
                cfg.smtp.host, cfg.smtp.port
            )
        }
        Err(e) => {
            failed = true;
            println!("smtp {}:{}: FAILED: {e}", cfg.smtp.host, cfg.smtp.port)
        }
    }
    if failed {
        bail!("check failed");
    }
    Ok(())
}

/// `loket rules test`: no database, no network; only the config and the message file are read.
fn rules(cfg: &Config, command: RulesCommand) -> Result<()> {
    match command {
        RulesCommand::Test { message } => {
            let raw = std::fs::read(&message)
                .with_context(|| format!("cannot read {}", message.display()))?;
            let msg = inbound::parse::parse(&raw)
                .with_context(|| format!("{} is not a mail message", message.display()))?;
            print!("{}", loket::decide::rules::explain(cfg, &msg));
        }
    }
    Ok(())
}

fn parse_ticket_ref(s: &str, prefix: &str) -> Result<i64> {
    let digits = s
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_uppercase();
    let digits = digits
        .strip_prefix(&format!("{}-", prefix.to_ascii_uppercase()))
        .unwrap_or(&digits);
    digits
        .parse()
        .with_context(|| format!("`{s}` is not a ticket like {prefix}-42"))
}

fn tickets(cfg: Config, command: TicketsCommand) -> Result<()> {
    let conn = store::open(&cfg.database.path)?;
    let prefix = &cfg.helpdesk.tag_prefix;
    let tz = cfg.helpdesk.timezone;
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
    };
    match command {
        TicketsCommand::List { status, limit } => {
            let list = store::tickets::list(&conn, status.as_deref(), limit)?;
            println!(
                "{:<10} {:<12} {:<8} {:<16} {:<30} {}",
                "TICKET", "STATUS", "PRIO", "CREATED", "REQUESTER", "SUBJECT"
            );
            for t in list {
                println!(
                    "{:<10} {:<12} {:<8} {:<16} {:<30} {}",
                    format!("{prefix}-{}", t.id),
                    t.status,
                    t.priority.as_deref().unwrap_or("-"),
                    local(t.created_at),
                    t.requester_email,
                    t.subject
                );
            }
        }
        TicketsCommand::Show { ticket } => {
            let id = parse_ticket_ref(&ticket, prefix)?;
            let t = store::tickets::get(&conn, id)?
                .with_context(|| format!("no ticket {prefix}-{id}"))?;
            println!("{prefix}-{}: {}", t.id, t.subject);
            println!("  status:    {}", t.status);
            println!(
                "  requester: {} {}",
                t.requester_name.as_deref().unwrap_or(""),
                t.requester_email
            );
            println!("  priority:  {}", t.priority.as_deref().unwrap_or("-"));
            println!("  category:  {}", t.category.as_deref().unwrap_or("-"));
            println!("  level:     L{}", t.level);
            println!("  owner:     {}", t.owner.as_deref().unwrap_or("-"));
            println!("  language:  {}", t.language);
            println!("  created:   {}", local(t.created_at));
            if let Some(p) = t.parent_id {
                println!("  follows:   {prefix}-{p}");
            }
            println!("participants:");
            for p in store::tickets::participants(&conn, id)? {
                println!(
                    "  {:<10} {} {}",
                    p.role,
                    p.name.as_deref().unwrap_or(""),
                    p.email
                );
            }
            println!("messages:");
            for m in store::messages::for_ticket(&conn, id)? {
                let arrow = if m.direction == "in" { "<-" } else { "->" };
                let who = if m.direction == "in" {
                    m.from_email.clone().unwrap_or_default()
                } else {
                    m.to_list.clone()
                };
                println!(
                    "  {} {arrow} {:<8} {who}  {}",
                    local(m.created_at),
                    m.kind,
                    m.subject
                );
                for line in m.body.lines().take(12) {
                    println!("      | {line}");
                }
                for (name, size, dropped) in &m.attachments {
                    match dropped {
                        Some(why) => {
                            println!("      [attachment {name}, {size} bytes, not kept: {why}]")
                        }
                        None => println!("      [attachment {name}, {size} bytes]"),
                    }
                }
            }
            println!("events:");
            for e in store::events::for_ticket(&conn, id)? {
                println!(
                    "  {} {:<16} {:<28} {}",
                    local(e.at),
                    e.kind,
                    e.actor,
                    e.detail
                );
            }
        }
    }
    Ok(())
}

/// `loket digest`: --preview prints the text and writes the HTML; --send queues the digest and
/// delivers it at once, so it works whether or not the daemon runs.
fn digest(
    cfg: Config,
    preview: bool,
    date: Option<&str>,
    manager: Option<&str>,
    out: &std::path::Path,
) -> Result<()> {
    let date = date
        .map(|d| {
            chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .with_context(|| format!("--date `{d}` is not a date like 2026-11-23"))
        })
        .transpose()?;
    let env = daemon::env(cfg)?;
    let mut conn = store::open(&env.cfg.database.path)?;
    if preview {
        let d = loket::digest::preview(&conn, &env, date, manager)?;
        println!("Subject: {}\n\n{}", d.rendered.subject, d.rendered.text);
        std::fs::write(out, &d.rendered.html)
            .with_context(|| format!("writing the HTML preview to {}", out.display()))?;
        eprintln!("loket: HTML written to {}", out.display());
        return Ok(());
    }
    let ids = loket::digest::queue_now(&mut conn, &env, date, manager)?;
    let db = std::sync::Mutex::new(conn);
    // lettre's pooled transport spawns its pool task on creation: build it inside the runtime.
    let rt = tokio::runtime::Runtime::new()?;
    for line in rt.block_on(loket::digest::deliver(
        &db,
        &env.cfg,
        env.clock.clone(),
        &ids,
    ))? {
        println!("digest {line}");
    }
    Ok(())
}

/// `loket report`: the month's recap to a file or standard output.
fn report(cfg: Config, month: &str, format: &str, out: Option<&std::path::Path>) -> Result<()> {
    use loket::clock::Clock;
    use loket::digest::report::{Format, Month};
    let month = Month::parse(month)?;
    let format = Format::parse(format)?;
    let conn = store::open(&cfg.database.path)?;
    let now = loket::clock::SystemClock.now();
    let text = loket::digest::month_report(&conn, &cfg, month, format, now)?;
    match out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("writing the report to {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_refs_parse() {
        assert_eq!(parse_ticket_ref("HD-42", "HD").unwrap(), 42);
        assert_eq!(parse_ticket_ref("hd-42", "HD").unwrap(), 42);
        assert_eq!(parse_ticket_ref("[HD-7]", "HD").unwrap(), 7);
        assert_eq!(parse_ticket_ref("42", "HD").unwrap(), 42);
        assert!(parse_ticket_ref("XX-42", "HD").is_err());
    }
}
