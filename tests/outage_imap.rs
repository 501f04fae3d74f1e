//! An IMAP outage: Dovecot restarted under a running Loket. In a test binary of its own, because
//! it takes the shared mail stack's IMAP server down.

mod common;

use std::time::Duration;

use common::{Loket, Options, stack, unique};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn dovecot_restart_is_survived() {
    let s = stack();
    let loket = Loket::start(Options::default());
    let user = unique("restart");
    s.send(&user, &loket.address, "Sebelum restart", "satu", "");
    s.wait_mail(&user, 1, WAIT);
    s.stop_imap();
    std::thread::sleep(Duration::from_secs(2));
    s.start_imap();
    s.send(&user, &loket.address, "Sesudah restart", "dua", "");
    s.wait_mail(&user, 2, Duration::from_secs(60));
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 2);
    assert!(loket.log().contains("reconnecting"), "the outage is logged");
}
