//! Shared end-to-end harness: one real mail stack (Dovecot + Postfix on loopback, started by
//! `scripts/mailstack.sh`) per test binary, on free ports; each test gets its own helpdesk
//! address, database and `loket` process, so tests run side by side without seeing each other.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const DOMAIN: &str = "example.test";

pub struct Stack {
    pub dir: PathBuf,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub smtp_port: u16,
    pub cert: PathBuf,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The mail stack of this test binary, started on first use and stopped by a watchdog when the
/// test process exits (statics are never dropped).
pub fn stack() -> &'static Stack {
    stack_with_env(&[])
}

/// `stack()`, started with extra environment for scripts/mailstack.sh (e.g.
/// OAUTH2_INTROSPECTION_URL) if this is the first call in the test binary.
pub fn stack_with_env(extra_env: &[(&str, String)]) -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("loket-stack-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let script = repo().join("scripts/mailstack.sh");
        // A port found free can be taken by someone else before Dovecot or Postfix binds it
        // (other test binaries, other builds): try again with fresh ports.
        let mut attempt = 0;
        let (imap, imaps, smtp) = loop {
            attempt += 1;
            let (imap, imaps, lmtp, smtp) = (free_port(), free_port(), free_port(), free_port());
            let out = Command::new("bash")
                .arg(&script)
                .arg("start")
                .arg(&dir)
                .env("IMAP_PORT", imap.to_string())
                .env("IMAPS_PORT", imaps.to_string())
                .env("LMTP_PORT", lmtp.to_string())
                .env("SMTP_PORT", smtp.to_string())
                // A loaded machine (parallel builds) can take a while to bring both servers up.
                .env("START_TIMEOUT", "60")
                .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())))
                .output()
                .expect("running scripts/mailstack.sh");
            if out.status.success() {
                break (imap, imaps, smtp);
            }
            assert!(
                attempt < 3,
                "mail stack did not start (3 attempts):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!(
                "mail stack start failed, retrying with other ports:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // Stops the stack once this process is gone, whatever way it ends.
        let watchdog = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; bash '{script}' stop '{dir}' >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            script = script.display(),
            dir = dir.display()
        );
        Command::new("setsid")
            .args(["bash", "-c", &watchdog])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the stack watchdog");
        Stack {
            cert: dir.join("tls/cert.pem"),
            dir,
            imap_port: imap,
            imaps_port: imaps,
            smtp_port: smtp,
        }
    })
}

/// A fresh local part for this test: addresses never collide between tests or runs.
pub fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{n}@{DOMAIN}", std::process::id())
}

impl Stack {
    /// Submits raw bytes over SMTP, as a mail client would. Returns when Postfix has queued it.
    pub fn send_raw(&self, from: &str, to: &[&str], raw: &[u8]) {
        let stream = TcpStream::connect(("127.0.0.1", self.smtp_port)).expect("connect SMTP");
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut w = stream;
        let mut expect = |code: &str| {
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("SMTP reply");
                assert!(
                    line.starts_with(code),
                    "SMTP: expected {code}, got {line:?}"
                );
                if line.as_bytes().get(3) != Some(&b'-') {
                    break;
                }
            }
        };
        expect("220");
        write!(w, "EHLO test.local\r\n").unwrap();
        expect("250");
        write!(w, "MAIL FROM:<{from}>\r\n").unwrap();
        expect("250");
        for r in to {
            write!(w, "RCPT TO:<{r}>\r\n").unwrap();
            expect("250");
        }
        write!(w, "DATA\r\n").unwrap();
        expect("354");
        let normalized = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        // The final line break is the one the terminating "\r\n.\r\n" needs; no extra empty line.
        let normalized = normalized.strip_suffix('\n').unwrap_or(&normalized);
        let mut body = Vec::new();
        for line in normalized.split('\n') {
            if line.starts_with('.') {
                body.push(b'.');
            }
            body.extend_from_slice(line.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        w.write_all(&body).unwrap();
        write!(w, ".\r\n").unwrap();
        expect("250");
        write!(w, "QUIT\r\n").unwrap();
    }

    /// Sends a simple plain-text mail and returns its Message-ID (without <>).
    pub fn send(
        &self,
        from: &str,
        to: &str,
        subject: &str,
        body: &str,
        extra_headers: &str,
    ) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "t{}.{}@client.{DOMAIN}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let raw = format!(
            "From: Test User <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
             Date: Mon, 23 Nov 2026 09:00:00 +0700\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n{extra_headers}\r\n{body}\r\n"
        );
        self.send_raw(from, &[to], raw.as_bytes());
        id
    }

    /// Every message delivered to `address`, raw, oldest first (read from its Maildir).
    pub fn mailbox(&self, address: &str) -> Vec<String> {
        let base = self.dir.join("mail").join(address).join("Maildir");
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(base.join(sub)) {
                for e in rd.flatten() {
                    let t = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    files.push((t, e.path()));
                }
            }
        }
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// Waits until `address` holds at least `n` messages; returns them.
    pub fn wait_mail(&self, address: &str, n: usize, within: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let mails = self.mailbox(address);
            if mails.len() >= n {
                return mails;
            }
            assert!(
                start.elapsed() < within,
                "{address} got {} of {n} expected mails within {within:?}",
                mails.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops Dovecot only (Postfix queues meanwhile).
    pub fn stop_imap(&self) {
        run_script(&["stop-dovecot", &self.dir.display().to_string()]);
    }

    pub fn start_imap(&self) {
        run_script(&["start-dovecot", &self.dir.display().to_string()]);
    }

    /// Stops Postfix only: an SMTP outage (Dovecot keeps serving what was delivered).
    pub fn stop_smtp(&self) {
        run_script(&["stop-postfix", &self.dir.display().to_string()]);
    }

    pub fn start_smtp(&self) {
        run_script(&["start-postfix", &self.dir.display().to_string()]);
    }
}

fn run_script(args: &[&str]) {
    let out = Command::new("bash")
        .arg(repo().join("scripts/mailstack.sh"))
        .args(args)
        .output()
        .expect("running mailstack.sh");
    assert!(
        out.status.success(),
        "mailstack.sh {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The decoded text/plain body of a raw message (quoted-printable soft breaks and all undone), so
/// assertions read what the recipient reads.
pub fn body_text(raw: &str) -> String {
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default()
}

/// The value of header `name` in a raw message (first occurrence, unfolded).
pub fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    let head = head.split("\n\n").next().unwrap_or(head);
    let mut value: Option<String> = None;
    for line in head.lines() {
        if let Some(v) = value.as_mut() {
            if line.starts_with(' ') || line.starts_with('\t') {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_string());
            }
        }
    }
    value
}

/// A running `loket run` with its own helpdesk address and database; killed on drop.
pub struct Loket {
    pub dir: tempfile::TempDir,
    pub address: String,
    pub config: PathBuf,
    child: Option<Child>,
}

pub struct Options {
    pub language: &'static str,
    pub extra: String,
    pub poll_interval: &'static str,
    /// `helpdesk.ack_rate_limit`; Loket's own default when `None`.
    pub ack_rate_limit: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            language: "id",
            extra: String::new(),
            poll_interval: "2s",
            ack_rate_limit: None,
        }
    }
}

impl Loket {
    /// Writes a config for a new helpdesk address; does not start the daemon.
    pub fn configure(opts: Options) -> Loket {
        let s = stack();
        let dir = tempfile::tempdir().expect("temp dir");
        let address = unique("helpdesk");
        let config = dir.path().join("loket.toml");
        let text = format!(
            r#"
[helpdesk]
address = "{address}"
name = "IT Helpdesk"
tag_prefix = "HD"
language = "{lang}"
{ack_limit}

[imap]
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "{address}"
password = "secret"
poll_interval = "{poll}"
max_backoff = "2s"
timeout = "10s"

[smtp]
host = "127.0.0.1"
port = {smtp}
tls = "none"
max_backoff = "2s"

[database]
path = "{db}"
{security}
{morning}
{extra}
"#,
            lang = opts.language,
            ack_limit = opts
                .ack_rate_limit
                .map(|n| format!("ack_rate_limit = {n}"))
                .unwrap_or_default(),
            imap = s.imap_port,
            smtp = s.smtp_port,
            poll = opts.poll_interval,
            db = dir.path().join("loket.db").display(),
            // Test mail carries no Authentication-Results unless a test writes them; such a
            // test sets its own [security], and TOML allows the table once.
            security = if opts.extra.contains("[security]") {
                ""
            } else {
                "[security]\nrequire_authenticated_commands = false"
            },
            // The morning queue would reach technicians whenever a test runs after 07:30
            // Jakarta time; the tests about it turn it on.
            morning = if opts.extra.contains("[morning]") {
                ""
            } else {
                "[morning]\nenabled = false"
            },
            extra = opts.extra,
        );
        std::fs::write(&config, text).expect("write config");
        Loket {
            dir,
            address,
            config,
            child: None,
        }
    }

    pub fn start(opts: Options) -> Loket {
        let mut l = Loket::configure(opts);
        l.spawn();
        l
    }

    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("loket.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_loket"))
            .args(["run", "--config"])
            .arg(&self.config)
            .env("LOKET_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting loket");
        self.child = Some(child);
    }

    /// Sends a signal by name ("HUP", "TERM") to the running daemon.
    pub fn signal(&self, name: &str) {
        let c = self.child.as_ref().expect("loket is running");
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &c.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{name} failed");
    }

    /// SIGKILL: the crash case.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// SIGTERM and wait; returns the exit status and how long the stop took.
    pub fn terminate(&mut self) -> Option<(std::process::ExitStatus, Duration)> {
        let mut c = self.child.take()?;
        let start = Instant::now();
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .ok();
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return Some((status, start.elapsed()));
            }
            if start.elapsed() > Duration::from_secs(20) {
                c.kill().ok();
                return c.wait().ok().map(|s| (s, start.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the daemon's log holds `needle` (at least `times` times); returns the log.
    pub fn wait_log(&self, needle: &str, times: usize, within: Duration) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if log.matches(needle).count() >= times {
                return log;
            }
            assert!(
                start.elapsed() < within,
                "no `{needle}` in the log within {within:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("loket.log")).unwrap_or_default()
    }

    pub fn db(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(self.dir.path().join("loket.db")).expect("open db");
        c.busy_timeout(Duration::from_secs(10)).ok();
        c
    }

    /// A number from the store (0 while the database does not exist yet).
    pub fn count(&self, sql: &str) -> i64 {
        if !self.dir.path().join("loket.db").exists() {
            return 0;
        }
        self.db().query_row(sql, [], |r| r.get(0)).unwrap_or(0)
    }

    /// Waits until `sql` (a COUNT) reaches at least `n`.
    pub fn wait_count(&self, sql: &str, n: i64, within: Duration) {
        let start = Instant::now();
        loop {
            let c = self.count(sql);
            if c >= n {
                return;
            }
            assert!(
                start.elapsed() < within,
                "`{sql}` reached {c}, not {n}, within {within:?}\n--- loket log ---\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every message delivered to the helpdesk mailbox so far has been processed
    /// (the stored last UID equals the newest delivered message's count).
    pub fn wait_processed(&self, delivered: usize, within: Duration) {
        self.wait_count(
            "SELECT COALESCE(MAX(last_uid), 0) FROM mailbox_state",
            delivered as i64,
            within,
        );
    }

    /// Runs a `loket` subcommand with this config; returns (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
        let config = self.config.to_string_lossy().into_owned();
        let mut all = args.to_vec();
        all.extend(["--config", config.as_str()]);
        run_loket(&all, stdin)
    }
}

/// Runs the loket binary with exactly `args` (no config added) and returns (exit code, stdout, stderr).
pub fn run_loket(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running loket");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("loket output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Drop for Loket {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn corpus() -> PathBuf {
    std::env::var_os("LOKET_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("tests/corpus"))
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}

/// A plain HTTP GET on loopback (the metrics endpoint); the whole answer, or None when nothing
/// listens or answers.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
