//! An SMTP outage during traffic. In a test binary of its own, because it takes the shared mail
//! stack's Postfix down.

mod common;

use std::time::{Duration, Instant};

use common::{Loket, Options, stack, unique};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn smtp_outage_queues_and_drains_without_duplicates() {
    let s = stack();
    let mut loket = Loket::configure(Options::default());
    const N: usize = 30;
    let users: Vec<String> = (0..N).map(|_| unique("outage")).collect();
    for (i, u) in users.iter().enumerate() {
        s.send(
            u,
            &loket.address,
            &format!("Gangguan {i}"),
            "Tidak bisa login.",
            "",
        );
    }
    s.wait_mail(&loket.address, N, WAIT);

    s.stop_smtp();
    loket.spawn();
    loket.wait_count("SELECT COUNT(*) FROM tickets", N as i64, WAIT);
    // Ingest went on; the acknowledgements wait in the outbox and are retried.
    std::thread::sleep(Duration::from_secs(3));
    let waiting = loket.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL");
    let attempts = loket.count("SELECT COALESCE(MAX(attempts), 0) FROM outbox");
    println!("smtp outage: {waiting} acknowledgements waiting, up to {attempts} attempts each");
    assert_eq!(
        waiting, N as i64,
        "nothing could be sent, nothing was dropped"
    );
    assert!(attempts >= 1, "the sender kept trying");

    s.start_smtp();
    let outage_end = Instant::now();
    loket.wait_count(
        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL",
        N as i64,
        WAIT,
    );
    println!(
        "smtp outage: outbox drained {:?} after Postfix returned",
        outage_end.elapsed()
    );
    for u in &users {
        s.wait_mail(u, 1, WAIT);
    }
    std::thread::sleep(Duration::from_secs(3));
    for u in &users {
        assert_eq!(s.mailbox(u).len(), 1, "{u}: exactly one acknowledgement");
    }
    loket.terminate();
}
