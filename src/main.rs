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
