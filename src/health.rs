//! What the daemon's tasks know about their servers, for `/healthz` and `/metrics`: whether each
//! IMAP mailbox is connected, when it last looked for mail, and whether the SMTP server takes
//! mail. The tasks report; the metrics endpoint reads. Only this process knows it (the database
//! does not), so it lives in memory and starts out "not yet connected".

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// One server connection as a task last saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    /// Connected (IMAP) or last attempt accepted (SMTP).
    pub up: bool,
    /// Since when it has been failing; None while it works (or before the first failure).
    pub down_since: Option<DateTime<Utc>>,
    /// The last time it worked: a mailbox looked at, a mail accepted.
    pub last_ok: Option<DateTime<Utc>>,
    /// Why it last failed (no secrets: the tasks' error texts never carry them).
    pub last_error: Option<String>,
}

impl Link {
    fn ok(&mut self, now: DateTime<Utc>) {
        self.up = true;
        self.down_since = None;
        self.last_ok = Some(now);
    }

    fn failed(&mut self, now: DateTime<Utc>, error: &str) {
        self.up = false;
        self.down_since.get_or_insert(now);
        self.last_error = Some(error.to_string());
    }

    /// How long it has been failing at `now`.
    pub fn down_for(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        self.down_since.map(|t| now - t)
    }
}

#[derive(Debug, Default)]
pub struct Health {
    inner: Mutex<Snapshot>,
}

/// A copy of everything known, taken at once.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// By helpdesk address.
    pub imap: BTreeMap<String, Link>,
    pub smtp: Link,
}

impl Health {
    /// Health that knows these mailboxes, none of them connected yet.
    pub fn new<'a>(mailboxes: impl IntoIterator<Item = &'a str>, now: DateTime<Utc>) -> Health {
        let imap = mailboxes
            .into_iter()
            .map(|a| {
                (
                    a.to_string(),
                    Link {
                        // Counted as down from the start: a daemon that never gets in is unhealthy.
                        down_since: Some(now),
                        ..Link::default()
                    },
                )
            })
            .collect();
        Health {
            inner: Mutex::new(Snapshot {
                imap,
                smtp: Link::default(),
            }),
        }
    }

    fn with(&self, f: impl FnOnce(&mut Snapshot)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The mailbox was looked at (logged in, selected, fetched or idled).
    pub fn imap_ok(&self, mailbox: &str, now: DateTime<Utc>) {
        self.with(|s| s.imap.entry(mailbox.to_string()).or_default().ok(now));
    }

    pub fn imap_failed(&self, mailbox: &str, now: DateTime<Utc>, error: &str) {
        self.with(|s| {
            s.imap
                .entry(mailbox.to_string())
                .or_default()
                .failed(now, error)
        });
    }

    /// The SMTP server accepted a mail (or refused one for good: it answered).
    pub fn smtp_ok(&self, now: DateTime<Utc>) {
        self.with(|s| s.smtp.ok(now));
    }

    pub fn smtp_failed(&self, now: DateTime<Utc>, error: &str) {
        self.with(|s| s.smtp.failed(now, error));
    }

    /// Whether the last attempt to hand a mail to the SMTP server failed (a server that was
    /// never tried is not failing).
    pub fn smtp_failing(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .smtp
            .down_since
            .is_some()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Snapshot {
    /// Why the daemon is unhealthy at `now`: each server failing for longer than `limit`.
    /// Empty when healthy. A short outage (a server restart) is not worth waking someone for.
    pub fn problems(&self, now: DateTime<Utc>, limit: chrono::Duration) -> Vec<String> {
        let mut out = Vec::new();
        for (mailbox, link) in &self.imap {
            if let Some(down) = link.down_for(now).filter(|d| *d > limit) {
                out.push(format!(
                    "IMAP for {mailbox} unreachable for {}s: {}",
                    down.num_seconds(),
                    link.last_error.as_deref().unwrap_or("not connected yet")
                ));
            }
        }
        if let Some(down) = self.smtp.down_for(now).filter(|d| *d > limit) {
            out.push(format!(
                "SMTP unreachable for {}s: {}",
                down.num_seconds(),
                self.smtp.last_error.as_deref().unwrap_or("-")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + i64::from(s), 0).expect("time")
    }

    #[test]
    fn a_mailbox_never_connected_is_a_problem_after_the_limit() {
        let h = Health::new(["helpdesk@example.test"], at(0));
        let limit = chrono::Duration::seconds(60);
        assert!(h.snapshot().problems(at(30), limit).is_empty());
        let p = h.snapshot().problems(at(61), limit);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("helpdesk@example.test"), "{p:?}");
        assert!(p[0].contains("not connected yet"), "{p:?}");
    }

    #[test]
    fn an_outage_counts_from_its_first_failure_and_ends_with_success() {
        let h = Health::new(["a@example.test"], at(0));
        let limit = chrono::Duration::seconds(60);
        h.imap_ok("a@example.test", at(1));
        h.imap_failed("a@example.test", at(10), "connection refused");
        h.imap_failed("a@example.test", at(40), "connection refused");
        assert!(h.snapshot().problems(at(69), limit).is_empty());
        let p = h.snapshot().problems(at(71), limit);
        assert!(
            p[0].contains("unreachable for 61s: connection refused"),
            "{p:?}"
        );
        h.imap_ok("a@example.test", at(72));
        assert!(h.snapshot().problems(at(500), limit).is_empty());
        assert_eq!(h.snapshot().imap["a@example.test"].last_ok, Some(at(72)));
    }

    #[test]
    fn smtp_failing_too_long_is_a_problem() {
        let h = Health::new([], at(0));
        let limit = chrono::Duration::seconds(60);
        // Nothing sent yet: nothing known to be wrong.
        assert!(h.snapshot().problems(at(1000), limit).is_empty());
        h.smtp_failed(at(100), "SMTP: connection refused");
        let p = h.snapshot().problems(at(200), limit);
        assert_eq!(
            p,
            vec!["SMTP unreachable for 100s: SMTP: connection refused"]
        );
        h.smtp_ok(at(201));
        assert!(h.snapshot().problems(at(1000), limit).is_empty());
    }
}
