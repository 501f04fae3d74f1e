//! An IMAP outage: Dovecot restarted under a running Loket. In a test binary of its own, because
//! it takes the shared mail stack's IMAP server down.

mod common;

use std::time::Duration;

use std::time::Instant;

use common::{Loket, Options, free_port, http_get, stack, unique};

const WAIT: Duration = Duration::from_secs(30);

/// Polls `/healthz` until its status line starts with `status`; returns the answer.
fn wait_health(port: u16, status: &str) -> String {
    let start = Instant::now();
    loop {
        let answer = http_get(port, "/healthz").unwrap_or_default();
        if answer.starts_with(status) {
            return answer;
        }
        assert!(
            start.elapsed() < WAIT,
            "/healthz never answered {status}; last: {answer}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn dovecot_restart_is_survived() {
    let s = stack();
    let port = free_port();
    let loket = Loket::start(Options {
        extra: format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\nunhealthy_after = \"3s\"\n"),
        ..Options::default()
    });
    let user = unique("restart");
    s.send(&user, &loket.address, "Sebelum restart", "satu", "");
    s.wait_mail(&user, 1, WAIT);
    wait_health(port, "HTTP/1.1 200");
    let metrics = http_get(port, "/metrics").unwrap_or_default();
    let connected = format!("loket_imap_connected{{mailbox=\"{}\"}} 1", loket.address);
    assert!(metrics.contains(&connected), "{metrics}");

    s.stop_imap();
    // Unreachable longer than metrics.unhealthy_after: /healthz fails and says why.
    let down = wait_health(port, "HTTP/1.1 503");
    assert!(
        down.contains(&format!("IMAP for {} unreachable", loket.address)),
        "{down}"
    );
    let metrics = http_get(port, "/metrics").unwrap_or_default();
    assert!(
        metrics.contains(&connected.replace("} 1", "} 0")),
        "{metrics}"
    );
    s.start_imap();
    wait_health(port, "HTTP/1.1 200");
    s.send(&user, &loket.address, "Sesudah restart", "dua", "");
    s.wait_mail(&user, 2, Duration::from_secs(60));
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 2);
    assert!(loket.log().contains("reconnecting"), "the outage is logged");
}
