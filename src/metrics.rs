//! The optional metrics endpoint (`[metrics] listen`): Prometheus text on `GET /metrics` and a
//! liveness answer on `GET /healthz`, for a scraper on the same machine.
//!
//! A deliberately small HTTP/1.1 responder, not a web framework: one request per connection
//! (`Connection: close`), GET and HEAD only, a request head of at most 8 KiB read within a few
//! seconds, a handful of connections at once. The figures come from the database on every
//! scrape (`store::stats`), so they are right whichever process wrote them (`loket ingest`
//! included) and survive restarts. Loopback only: the config refuses any other address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::health::{Health, Snapshot};
use crate::model::Status;
use crate::store;

/// The largest request head read; a scraper sends a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// A client gets this long to send its request and read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 8;

/// Binds the listener, so a taken port stops Loket at start with the key named.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("config key `metrics.listen`: cannot listen on {addr}"))
}

/// Serves until `cancel`; a failing client never stops the listener.
pub async fn serve(
    listener: TcpListener,
    db_path: PathBuf,
    clock: Arc<dyn Clock>,
    health: Arc<Health>,
    unhealthy_after: Duration,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics endpoint listening");
    }
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let (db_path, clock, health) = (db_path.clone(), Arc::clone(&clock), Arc::clone(&health));
        tokio::spawn(async move {
            let _permit = permit;
            let links = Links {
                health: &health,
                unhealthy_after,
            };
            match tokio::time::timeout(CLIENT_TIMEOUT, handle(stream, &db_path, clock, links)).await
            {
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics: client failed"),
                Err(_) => tracing::debug!("metrics: client too slow"),
                Ok(Ok(())) => {}
            }
        });
    }
}

/// What the daemon's tasks report about their servers, and how long an outage is tolerated.
#[derive(Clone, Copy)]
struct Links<'a> {
    health: &'a Health,
    unhealthy_after: Duration,
}

async fn handle(
    mut stream: TcpStream,
    db_path: &Path,
    clock: Arc<dyn Clock>,
    links: Links<'_>,
) -> Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            let r = Response::text(431, "request head too large\n");
            stream.write_all(&r.to_bytes(false)).await?;
            return Ok(());
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            // Closed before a whole request: nothing to answer.
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let request = Request::parse(&head);
    let response = match &request {
        Some(r) if r.wants("/metrics") || r.wants("/healthz") => {
            let (path, is_metrics) = (db_path.to_path_buf(), r.wants("/metrics"));
            let now = clock.now();
            let links_now = links.health.snapshot();
            let limit =
                chrono::Duration::from_std(links.unhealthy_after).unwrap_or(chrono::Duration::MAX);
            let result = tokio::task::spawn_blocking(move || -> Result<String> {
                let conn = open(&path)?;
                if is_metrics {
                    let mut text = render(&conn, now)?;
                    text.push_str(&render_links(&links_now));
                    Ok(text)
                } else {
                    conn.query_row("SELECT 1 FROM tickets LIMIT 1", [], |_| Ok(()))
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(()),
                            e => Err(e),
                        })?;
                    let problems = links_now.problems(now, limit);
                    if problems.is_empty() {
                        Ok("ok\n".into())
                    } else {
                        Err(Unhealthy(problems.join("\n")).into())
                    }
                }
            })
            .await
            .context("metrics query task")?;
            route(&request, result)
        }
        _ => route(&request, Ok(String::new())),
    };
    let head_only = request.as_ref().is_some_and(|r| r.method == "HEAD");
    stream.write_all(&response.to_bytes(head_only)).await?;
    stream.shutdown().await.ok();
    Ok(())
}

/// A look at the database that never writes and never creates a file. (Opened read-write but
/// `query_only`: a read-only connection to a WAL database fails when its -shm file is missing.)
fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening database {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(2))?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

#[derive(Debug, PartialEq)]
struct Request {
    method: String,
    path: String,
}

impl Request {
    /// The request line of an HTTP/1.x request head; None when it is not one.
    fn parse(head: &[u8]) -> Option<Request> {
        let text = std::str::from_utf8(head).ok()?;
        let line = text.split("\r\n").next()?;
        let mut parts = line.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !version.starts_with("HTTP/1.") {
            return None;
        }
        // A scraper may add ?query parameters; they change nothing here.
        let path = target.split('?').next().unwrap_or(target);
        Some(Request {
            method: method.to_string(),
            path: path.to_string(),
        })
    }

    fn wants(&self, path: &str) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD") && self.path == path
    }
}

#[derive(Debug, PartialEq)]
struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    allow: bool,
}

impl Response {
    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
            allow: false,
        }
    }

    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            _ => "Service Unavailable",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

/// The answer to a request, given what the database said (`body` is only asked for on the
/// two known paths).
fn route(request: &Option<Request>, body: Result<String>) -> Response {
    let Some(r) = request else {
        return Response::text(400, "bad request\n");
    };
    if r.path != "/metrics" && r.path != "/healthz" {
        return Response::text(404, "not found: try /metrics or /healthz\n");
    }
    if !matches!(r.method.as_str(), "GET" | "HEAD") {
        return Response {
            allow: true,
            ..Response::text(405, "only GET and HEAD\n")
        };
    }
    match body {
        Ok(body) if r.path == "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body,
            allow: false,
        },
        Ok(body) => Response::text(200, &body),
        Err(e) => match e.downcast_ref::<Unhealthy>() {
            Some(Unhealthy(why)) => Response::text(503, &format!("unhealthy:\n{why}\n")),
            None => {
                tracing::warn!(error = %format!("{e:#}"), path = %r.path, "metrics: database unavailable");
                Response::text(503, &format!("database unavailable: {e:#}\n"))
            }
        },
    }
}

/// `/healthz`'s answer when a server has been unreachable too long.
#[derive(Debug)]
struct Unhealthy(String);

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unhealthy {}

/// The connection figures only this process knows: IMAP per mailbox, SMTP.
fn render_links(s: &Snapshot) -> String {
    let mut out = String::new();
    let stamp = |t: Option<DateTime<Utc>>| t.map_or(0, |t| t.timestamp());
    out.push_str(
        "# HELP loket_imap_connected Whether the IMAP session of a mailbox is up (1) or not (0).\n\
         # TYPE loket_imap_connected gauge\n",
    );
    for (mailbox, link) in &s.imap {
        out.push_str(&format!(
            "loket_imap_connected{{mailbox=\"{}\"}} {}\n",
            escape(mailbox),
            u8::from(link.up)
        ));
    }
    out.push_str(
        "# HELP loket_imap_last_poll_timestamp_seconds When a mailbox was last read successfully \
         (Unix time; 0 never).\n# TYPE loket_imap_last_poll_timestamp_seconds gauge\n",
    );
    for (mailbox, link) in &s.imap {
        out.push_str(&format!(
            "loket_imap_last_poll_timestamp_seconds{{mailbox=\"{}\"}} {}\n",
            escape(mailbox),
            stamp(link.last_ok)
        ));
    }
    out.push_str(&format!(
        "# HELP loket_smtp_up Whether the last mail handed to the SMTP server was taken or \
         refused for good (1), or failed to go through (0: connection, timeout, 4xx).\n# TYPE loket_smtp_up gauge\nloket_smtp_up {}\n\
         # HELP loket_smtp_last_success_timestamp_seconds When the SMTP server last took a mail \
         (Unix time; 0 never).\n# TYPE loket_smtp_last_success_timestamp_seconds gauge\n\
         loket_smtp_last_success_timestamp_seconds {}\n",
        u8::from(s.smtp.up || s.smtp.down_since.is_none()),
        stamp(s.smtp.last_ok)
    ));
    out
}

/// The Prometheus text exposition of the store's figures at `now`.
pub fn render(conn: &Connection, now: DateTime<Utc>) -> Result<String> {
    let s = store::stats::collect(conn)?;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, i64)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    // Every status, so a dashboard sees zeros rather than gaps.
    let mut by_status: Vec<(String, i64)> = Status::ALL
        .iter()
        .map(|st| st.as_str())
        .map(|st| {
            let n = s
                .by_status
                .iter()
                .find(|(k, _)| k == st)
                .map_or(0, |(_, n)| *n);
            (format!("{{status=\"{st}\"}}"), n)
        })
        .collect();
    // A status this binary does not know (written by a newer one) still counts.
    for (k, n) in &s.by_status {
        if k.parse::<Status>().is_err() {
            by_status.push((format!("{{status=\"{}\"}}", escape(k)), *n));
        }
    }
    metric("loket_tickets", "gauge", "Tickets by status.", &by_status);
    metric(
        "loket_messages_ingested_total",
        "counter",
        "Inbound messages stored on tickets.",
        &[(String::new(), s.messages_in)],
    );
    metric(
        "loket_outbox_waiting",
        "gauge",
        "Outgoing mails not yet accepted by the SMTP server.",
        &[(String::new(), s.outbox_waiting)],
    );
    let oldest = s
        .outbox_oldest_waiting
        .map_or(0, |t| (now - t).num_seconds().max(0));
    metric(
        "loket_outbox_oldest_age_seconds",
        "gauge",
        "Age of the oldest outgoing mail still waiting (0 when none waits).",
        &[(String::new(), oldest)],
    );
    metric(
        "loket_outbox_sent_total",
        "counter",
        "Outgoing mails accepted by the SMTP server.",
        &[(String::new(), s.outbox_sent)],
    );
    metric(
        "loket_outbox_failed",
        "gauge",
        "Outgoing mails refused for good (5xx), kept and not retried.",
        &[(String::new(), s.outbox_failed)],
    );
    metric(
        "loket_quarantine_messages",
        "gauge",
        "Messages kept in quarantine (not mail, too large, loops).",
        &[(String::new(), s.quarantine)],
    );
    metric(
        "loket_approvals_pending",
        "gauge",
        "Approvals waiting for a decision.",
        &[(String::new(), s.approvals_pending)],
    );
    let breaches: Vec<(String, i64)> = ["response", "resolution"]
        .iter()
        .map(|target| {
            let key = format!("{target}_breach");
            let n = s
                .sla_steps
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(0, |(_, n)| *n);
            (format!("{{target=\"{target}\"}}"), n)
        })
        .collect();
    metric(
        "loket_sla_breaches_total",
        "counter",
        "SLA targets breached, by target.",
        &breaches,
    );
    metric(
        "loket_database_bytes",
        "gauge",
        "Size of the database pages (without the WAL file).",
        &[(String::new(), s.db_bytes)],
    );
    Ok(out)
}

/// A label value as the exposition format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_parse() {
        assert_eq!(
            Request::parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(Request {
                method: "GET".into(),
                path: "/metrics".into()
            })
        );
        assert_eq!(Request::parse(b"GET /metrics\r\n\r\n"), None);
        assert_eq!(Request::parse(b"\xff\xfe\r\n\r\n"), None);
        assert_eq!(Request::parse(b"GET / HTTP/2 x\r\n\r\n"), None);
    }

    #[test]
    fn routes_answer_by_path_and_method() {
        let req = |m: &str, p: &str| {
            Some(Request {
                method: m.into(),
                path: p.into(),
            })
        };
        assert_eq!(
            route(&req("GET", "/metrics"), Ok("x 1\n".into())).status,
            200
        );
        assert_eq!(route(&req("GET", "/nope"), Ok(String::new())).status, 404);
        let post = route(&req("POST", "/metrics"), Ok(String::new()));
        assert_eq!(post.status, 405);
        assert!(
            String::from_utf8(post.to_bytes(false))
                .unwrap()
                .contains("Allow: GET, HEAD")
        );
        assert_eq!(route(&None, Ok(String::new())).status, 400);
        assert_eq!(
            route(&req("GET", "/healthz"), Err(anyhow::anyhow!("locked"))).status,
            503
        );
        let head = route(&req("HEAD", "/healthz"), Ok("ok\n".into())).to_bytes(true);
        let head = String::from_utf8(head).unwrap();
        assert!(
            head.ends_with("\r\n\r\n") && head.contains("Content-Length: 3"),
            "{head}"
        );
    }

    #[test]
    fn metrics_text_has_every_status_and_the_outbox() {
        let conn = store::open_in_memory().unwrap();
        let text = render(&conn, Utc::now()).unwrap();
        assert!(text.contains("# TYPE loket_tickets gauge\n"), "{text}");
        assert!(
            text.contains("loket_tickets{status=\"awaiting-approval\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("loket_outbox_oldest_age_seconds 0\n"),
            "{text}"
        );
        assert!(
            text.contains("loket_sla_breaches_total{target=\"response\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("loket_messages_ingested_total 0\n"), "{text}");
        // Every sample line is `name{labels} integer`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<i64>().is_ok(), "{line}");
        }
    }

    #[tokio::test]
    async fn serves_metrics_and_health_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("loket.db");
        drop(store::open(&db).unwrap());
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let clock = Arc::new(crate::clock::ManualClock::new(Utc::now()));
        let links = Arc::new(Health::new(["helpdesk@example.test"], clock.now()));
        links.imap_ok("helpdesk@example.test", clock.now());
        let server = tokio::spawn(serve(
            listener,
            db.clone(),
            Arc::clone(&clock) as Arc<dyn Clock>,
            Arc::clone(&links),
            Duration::from_secs(300),
            cancel.clone(),
        ));
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let metrics = get("/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
        assert!(
            metrics.contains("loket_tickets{status=\"open\"} 0"),
            "{metrics}"
        );
        let health = get("/healthz").await;
        assert!(
            health.starts_with("HTTP/1.1 200 OK\r\n") && health.ends_with("\r\n\r\nok\n"),
            "{health}"
        );
        assert!(get("/").await.starts_with("HTTP/1.1 404"));
        assert!(
            metrics.contains("loket_imap_connected{mailbox=\"helpdesk@example.test\"} 1\n"),
            "{metrics}"
        );

        // IMAP down: healthy for the grace period, then 503 naming the mailbox and the error.
        links.imap_failed("helpdesk@example.test", clock.now(), "connection refused");
        clock.advance(chrono::Duration::seconds(299));
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(
            get("/metrics")
                .await
                .contains("loket_imap_connected{mailbox=\"helpdesk@example.test\"} 0\n")
        );
        clock.advance(chrono::Duration::seconds(2));
        let health_text = get("/healthz").await;
        assert!(health_text.starts_with("HTTP/1.1 503"), "{health_text}");
        assert!(
            health_text.contains(
                "IMAP for helpdesk@example.test unreachable for 301s: connection refused"
            ),
            "{health_text}"
        );
        links.imap_ok("helpdesk@example.test", clock.now());
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));

        // Without its database the endpoint says so rather than pretending.
        std::fs::remove_file(&db).unwrap();
        let health = get("/healthz").await;
        assert!(health.starts_with("HTTP/1.1 503"), "{health}");

        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .unwrap()
            .unwrap();
    }
}
