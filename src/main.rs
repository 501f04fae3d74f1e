//! The `loket` command line: the daemon, the MDA pipe mode, the config check, and the
//! administrator's commands (starter config, tickets, search, quarantine, stats, backup,
//! migrations, digest, report). The commands are defined in `loket::cli` and do their work in
//! `loket::admin` and friends; this file loads the config, sets up logging and prints. Errors
//! reach the user with their context chain; exit codes follow sysexits where an MTA reads them.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use loket::admin::{self, progress::Progress, tickets::ListArgs};
use loket::cli::{Cli, Command, QuarantineCommand, RulesCommand, TicketsCommand};
use loket::config::{Config, LogFormat};
use loket::pipeline::{self, Outcome, Source};
use loket::{daemon, inbound, outbound, store};

/// sysexits: the MTA keeps the message and retries.
const EX_TEMPFAIL: u8 = 75;
/// sysexits: the input is not what it should be; the MTA bounces it.
const EX_DATAERR: u8 = 65;

/// Logs to standard error, as text or JSON lines (`[logging] format`); `LOKET_LOG` filters.
/// Colours only on a terminal: journald and log files get plain text.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOKET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // async-imap traces every command it sends, LOGIN with the password included (and every
    // mail it reads): never below debug for it, whatever LOKET_LOG asks for. Added after the
    // environment's directives so that it wins over the same target there.
    let filter = match "async_imap::imap_stream=debug".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // try_init: a second call (never expected) must not panic.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config_path().to_path_buf();
    let result = match cli.command {
        Command::Init { lang, path } => {
            init_logging(LogFormat::Text);
            let path = path.unwrap_or(config);
            init(&path, &lang)
        }
        // ingest maps its own failures to exit codes for the MTA.
        Command::Ingest { to } => return ingest(&config, to.as_deref()),
        command => match Config::load(&config) {
            Ok(cfg) => {
                init_logging(cfg.logging.format);
                dispatch(command, cfg, &config)
            }
            Err(e) => {
                init_logging(LogFormat::Text);
                Err(e.into())
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loket: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every command that works from a loaded config.
fn dispatch(command: Command, cfg: Config, path: &Path) -> Result<()> {
    match command {
        // `main` handles these two before (or without) a loaded config.
        Command::Init { .. } | Command::Ingest { .. } => {
            bail!("internal error: command dispatched twice")
        }
        Command::Run => {
            let env = daemon::env(cfg)?;
            tokio::runtime::Runtime::new()?.block_on(daemon::run(env, path))
        }
        Command::Check => check(cfg),
        Command::Tickets { command } => tickets(cfg, command),
        Command::Search {
            query,
            limit,
            raw,
            rebuild,
        } => search(cfg, &query.join(" "), limit, raw, rebuild),
        Command::Quarantine { command } => quarantine(cfg, command),
        Command::Stats => stats(cfg),
        Command::Backup { file, force } => backup(&cfg, &file, force),
        Command::Migrate => {
            print!("{}", admin::migrate(&cfg.database.path)?);
            Ok(())
        }
        Command::Rules { command } => rules(&cfg, command),
        Command::Digest {
            preview,
            send: _,
            date,
            manager,
            out,
        } => digest(cfg, preview, date.as_deref(), manager.as_deref(), &out),
        Command::Report { month, format, out } => report(cfg, &month, &format, out.as_deref()),
    }
}

/// `loket init`: the starter config, and what to do next.
fn init(path: &Path, lang: &str) -> Result<()> {
    admin::init::write_starter(path, lang)?;
    println!("wrote {}", path.display());
    println!(
        "next: change the addresses, servers and people in it, then\n  \
         loket check --config {0}\n  loket run --config {0}",
        path.display()
    );
    Ok(())
}

/// `loket ingest`: the exit code is the contract with the MTA, so every failure is mapped.
fn ingest(config: &std::path::Path, to: Option<&str>) -> ExitCode {
    let run = || -> Result<Outcome> {
        let cfg = match Config::load(config) {
            Ok(cfg) => cfg,
            Err(e) => {
                init_logging(LogFormat::Text);
                return Err(e.into());
            }
        };
        init_logging(cfg.logging.format);
        let env = daemon::one_shot_env(cfg)?;
        let mut raw = Vec::new();
        std::io::stdin()
            .read_to_end(&mut raw)
            .context("reading the message from standard input")?;
        let source = match to.map(|a| env.cfg.account_by_address(a.trim())) {
            Some(Some(account)) => Source::Delivered {
                address: account.address.clone(),
            },
            Some(None) => {
                tracing::warn!(
                    to,
                    "--to is not a helpdesk address; taken as helpdesk.address"
                );
                Source::Stdin
            }
            None => Source::Stdin,
        };
        let path = &env.cfg.database.path;
        let mut conn = store::open_for_delivery(path)?;
        // A panic on some input is a bug; the bytes go to quarantine as for any error that
        // would repeat at every retry, instead of exit status 101, which the MTA bounces.
        let processed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pipeline::process(&mut conn, &env, &raw, &source)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(anyhow::anyhow!(
                "internal error: processing panicked: {what}"
            ))
        });
        match processed {
            Ok(outcome) => Ok(outcome),
            // Not a lock, not a full disk: it would fail the same way at every retry of the MTA
            // until the MTA gives up and bounces it. Kept in quarantine instead, with the error.
            Err(e) if store::temporary_failure(&e).is_none() => {
                tracing::error!(error = %format!("{e:#}"), "message cannot be processed; quarantined");
                pipeline::quarantine_unprocessable(&mut conn, &env, &raw, &source, &e).with_context(
                    || format!("quarantining the message in database {}", path.display()),
                )
            }
            Err(e) => Err(e)
                .with_context(|| format!("storing the message in database {}", path.display())),
        }
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
            match store::temporary_failure(&e) {
                Some(problem) => eprintln!(
                    "loket: temporary failure: database {problem}; the mail stays with the MTA, which retries: {e:#}"
                ),
                None => eprintln!("loket: temporary failure: {e:#}"),
            }
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
        Outcome::Answered => "a question: answer queued, no ticket".into(),
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
    match loket::decide::authn::open_door_warning(&cfg) {
        Some(warning) => println!("security: WARNING: {warning}"),
        None => println!(
            "security: commands need authentication by {}",
            cfg.security.authserv_id.as_deref().unwrap_or("")
        ),
    }
    let rt = tokio::runtime::Runtime::new()?;
    let mut failed = false;
    // The daemon writes from its first message: a database it may only read fails here.
    match store::check_writable(&cfg.database.path) {
        Ok(state) => println!("database {}: {state}", cfg.database.path.display()),
        Err(e) => {
            failed = true;
            println!("database: FAILED: {e:#}");
        }
    }
    for account in cfg.accounts() {
        let who = if cfg.accounts().len() > 1 {
            format!(
                " ({} as {}, folder {})",
                account.address, account.username, account.folder
            )
        } else {
            String::new()
        };
        match rt.block_on(inbound::imap::probe(&cfg, account)) {
            Ok(found) => {
                println!("imap {}:{}{who}: login ok", cfg.imap.host, cfg.imap.port);
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
                println!(
                    "imap {}:{}{who}: FAILED: {e:#}",
                    cfg.imap.host, cfg.imap.port
                );
            }
        }
    }
    // The sender's own session: the same connection and login (password or OAuth2) it uses.
    let probe = rt.block_on(async {
        let mut smtp = outbound::smtp::Session::new(&cfg)?;
        anyhow::Ok(smtp.check().await)
    })?;
    match probe {
        Ok(()) => println!("smtp {}:{}: login ok", cfg.smtp.host, cfg.smtp.port),
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

fn tickets(cfg: Config, command: TicketsCommand) -> Result<()> {
    use loket::clock::Clock;
    let conn = store::open(&cfg.database.path)?;
    let now = loket::clock::SystemClock.now();
    match command {
        TicketsCommand::List {
            status,
            priority,
            category,
            owner,
            older_than,
            limit,
        } => {
            let args = ListArgs {
                status,
                priority,
                category,
                owner,
                older_than,
                limit,
            };
            let filter = admin::tickets::filter(&args, &cfg, &conn, now)?;
            let list = store::tickets::list_filtered(&conn, &filter)?;
            print!("{}", admin::tickets::render_list(&list, &cfg));
            if list.len() as i64 == filter.limit {
                eprintln!("loket: showing the newest {limit}; --limit shows more");
            }
        }
        TicketsCommand::Show { ticket, full } => {
            let id = admin::tickets::parse_ticket_ref(&ticket, &cfg.helpdesk.tag_prefix)?;
            print!(
                "{}",
                admin::tickets::render_show(&conn, &cfg, id, full, now)?
            );
        }
    }
    Ok(())
}

/// `loket search`: hits to standard output; `--rebuild` shows its progress on standard error.
fn search(cfg: Config, query: &str, limit: i64, raw: bool, rebuild: bool) -> Result<()> {
    let mut conn = store::open(&cfg.database.path)?;
    if rebuild {
        let started = std::time::Instant::now();
        let mut progress = Progress::new("search index", "messages", 0);
        let n = store::search::rebuild(&mut conn, |done, total| progress.update(done, total))?;
        progress.finish(&format!(
            "{n} messages indexed in {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        return Ok(());
    }
    // Matched words in bold on a terminal, in brackets in a pipe or file.
    let mark = if std::io::stdout().is_terminal() {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("[", "]")
    };
    let text = admin::render_search(&conn, &cfg, query, raw, limit, mark)?;
    if text.is_empty() {
        eprintln!("loket: no ticket matches `{query}`");
    }
    print!("{text}");
    Ok(())
}

/// `loket quarantine`: list and show read; release goes through the pipeline like `loket ingest`.
fn quarantine(cfg: Config, command: QuarantineCommand) -> Result<()> {
    use std::io::Write as _;
    match command {
        QuarantineCommand::List { limit, all } => {
            if limit < 1 {
                bail!("--limit must be at least 1");
            }
            let conn = store::open(&cfg.database.path)?;
            let list = store::quarantine::recent(&conn, limit, all)?;
            print!("{}", admin::quarantine::render_list(&list, &cfg));
            if list.len() as i64 == limit {
                eprintln!("loket: showing the newest {limit}; --limit shows more");
            }
            if !all {
                let released = store::quarantine::released_count(&conn)?;
                if released > 0 {
                    eprintln!("loket: {released} released not shown; --all shows them");
                }
            }
        }
        QuarantineCommand::Show { id, raw: false } => {
            let conn = store::open(&cfg.database.path)?;
            print!("{}", admin::quarantine::render_show(&conn, &cfg, id)?);
        }
        QuarantineCommand::Show { id, raw: true } => {
            let conn = store::open(&cfg.database.path)?;
            let bytes = store::quarantine::raw(&conn, id)?.with_context(|| {
                format!("no quarantined message {id} (`loket quarantine list` shows them)")
            })?;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)
                .and_then(|()| out.flush())
                .context("writing the message to standard output")?;
        }
        QuarantineCommand::Release { id } => {
            let env = daemon::one_shot_env(cfg)?;
            let mut conn = store::open(&env.cfg.database.path)?;
            let outcome = pipeline::release(&mut conn, &env, id)?;
            println!("{}", describe(&outcome));
            if let Outcome::Quarantined { reason } = outcome {
                let hint = if reason.contains("limits.") {
                    "; raise that limit in the config, then release it again"
                } else {
                    ""
                };
                bail!(
                    "quarantined message {id} was quarantined again and stays held, unchanged: {reason}{hint}"
                );
            }
        }
    }
    Ok(())
}

/// `loket stats`.
fn stats(cfg: Config) -> Result<()> {
    use loket::clock::Clock;
    let conn = store::open(&cfg.database.path)?;
    let figures = store::stats::collect(&conn)?;
    let files = admin::file_sizes(&cfg.database.path);
    let stored = store::stats::stored_bytes(&conn)?;
    let now = loket::clock::SystemClock.now();
    print!(
        "{}",
        admin::render_stats(&figures, &cfg, files, Some(stored), now)
    );
    Ok(())
}

/// `loket backup`: progress on standard error, the result on standard output.
fn backup(cfg: &Config, file: &Path, force: bool) -> Result<()> {
    let mut progress = Progress::new("backup", "pages", 0);
    let report = admin::backup::run(&cfg.database.path, file, force, |done, total| {
        progress.update(done, total)
    })
    .with_context(|| format!("backing up {}", cfg.database.path.display()))?;
    progress.finish(&format!(
        "{} pages copied in {:.1}s",
        report.pages,
        report.elapsed.as_secs_f64()
    ));
    println!(
        "{}: {}, schema version {}",
        file.display(),
        admin::human_bytes(report.bytes),
        report.schema_version
    );
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
        // The digest names requesters and their problems: the file is its owner's only.
        store::write_private_file(out, d.rendered.html.as_bytes())
            .with_context(|| format!("writing the HTML preview to {}", out.display()))?;
        eprintln!("loket: HTML written to {}", out.display());
        return Ok(());
    }
    let ids = loket::digest::queue_now(&mut conn, &env, date, manager)?;
    let db = std::sync::Mutex::new(conn);
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
        // Every ticket of the month, requesters included: the file is its owner's only.
        Some(path) => store::write_private_file(path, text.as_bytes())
            .with_context(|| format!("writing the report to {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}
