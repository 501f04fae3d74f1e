//! Crashes against the real mail stack: Loket killed with SIGKILL again and again in the middle
//! of a backlog. The test prints its figures (the numbers in RELIABILITY.md come from these
//! lines: run with `-- --nocapture`).
//!
//! Sizes can be raised for a longer run: LOKET_CRASH_MESSAGES (default 1000) and
//! LOKET_CRASH_KILLS (default 20).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Loket, Options, header, stack, unique};

const WAIT: Duration = Duration::from_secs(60);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), seeded from the clock and printed, so a failing
/// run can be repeated with LOKET_CRASH_SEED.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("LOKET_CRASH_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1
            });
        println!("crash seed: {seed} (repeat with LOKET_CRASH_SEED={seed})");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Acknowledgements in `mails`, counted per ticket tag.
fn acks_by_ticket(mails: &[String], counts: &mut HashMap<String, usize>) {
    for m in mails {
        if let Some(tag) = header(m, "X-Loket-Ticket") {
            if header(m, "Subject").is_some() {
                *counts.entry(tag).or_default() += 1;
            }
        }
    }
}

#[test]
fn repeated_sigkill_loses_and_duplicates_nothing() {
    let s = stack();
    let n = env_usize("LOKET_CRASH_MESSAGES", 1000);
    let kills = env_usize("LOKET_CRASH_KILLS", 20);
    let requests = n * 4 / 5;
    let mut loket = Loket::configure(Options {
        // Every request is acknowledged: the check below wants one ack per ticket.
        ack_rate_limit: Some(1_000_000),
        ..Options::default()
    });
    let users: Vec<String> = (0..50).map(|_| unique("crash")).collect();
    let mut request_ids = Vec::new();
    let start = Instant::now();
    for i in 0..requests {
        let from = &users[i % users.len()];
        let id = s.send(
            from,
            &loket.address,
            &format!("Permintaan nomor {i}"),
            &format!("Isi permintaan {i}: printer, VPN, email."),
            "",
        );
        request_ids.push((from.clone(), id));
    }
    // Replies by In-Reply-To (no tag), sent after their request, so they follow it in UID order.
    for j in 0..(n - requests) {
        let (from, id) = &request_ids[j];
        s.send(
            from,
            &loket.address,
            &format!("Re: Permintaan nomor {j}"),
            "Tambahan informasi.",
            &format!("In-Reply-To: <{id}>\r\nReferences: <{id}>\r\n"),
        );
    }
    s.wait_mail(&loket.address, n, Duration::from_secs(300));
    println!("preloaded {n} messages in {:?}", start.elapsed());

    let mut rng = Rng::new();
    let run_start = Instant::now();
    let mut killed_at = Vec::new();
    for _ in 0..kills {
        loket.spawn();
        // Kill points spread from "still connecting" to "deep in the backlog and sending".
        let ms = 30 + rng.below(900);
        std::thread::sleep(Duration::from_millis(ms));
        loket.kill();
        killed_at.push(loket.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"));
    }
    loket.spawn();
    loket.wait_processed(n, Duration::from_secs(600));
    loket.wait_count(
        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL",
        requests as i64,
        Duration::from_secs(600),
    );
    let elapsed = run_start.elapsed();
    // Let the last acknowledgements reach their mailboxes.
    let mut delivered: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + WAIT;
    loop {
        delivered.clear();
        for u in &users {
            acks_by_ticket(&s.mailbox(u), &mut delivered);
        }
        if delivered.len() >= requests || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    loket.terminate();

    let inbound = loket.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'");
    let distinct =
        loket.count("SELECT COUNT(DISTINCT message_id) FROM messages WHERE direction = 'in'");
    let tickets = loket.count("SELECT COUNT(*) FROM tickets");
    let replies_on_own_ticket =
        loket.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND kind = 'reply'");
    let ack_rows = loket.count("SELECT COUNT(*) FROM outbox WHERE kind = 'ack'");
    let total_delivered: usize = delivered.values().sum();
    let lost_acks = requests.saturating_sub(delivered.len());
    let duplicate_acks = total_delivered - delivered.len();
    println!(
        "crash run: {n} messages ({requests} requests, {} replies), {kills} SIGKILLs at {killed_at:?} stored messages; \
         finished in {elapsed:?}",
        n - requests
    );
    println!(
        "crash result: stored {inbound} (distinct {distinct}), tickets {tickets}, replies threaded {replies_on_own_ticket}, \
         acks queued {ack_rows}, acks delivered {} (lost {lost_acks}, duplicated {duplicate_acks})",
        delivered.len()
    );

    assert_eq!(inbound, n as i64, "every message stored exactly once");
    assert_eq!(distinct, n as i64);
    assert_eq!(tickets, requests as i64, "no ticket twice");
    assert_eq!(
        replies_on_own_ticket,
        (n - requests) as i64,
        "every reply on a ticket, none opened a ticket of its own"
    );
    assert_eq!(
        loket.count(
            "SELECT COUNT(*) FROM messages r JOIN tickets t ON t.id = r.ticket_id \
             WHERE r.direction = 'in' AND r.kind = 'reply' AND t.subject != substr(r.subject, 5)"
        ),
        0,
        "each reply sits on the ticket of the request it answers"
    );
    assert_eq!(
        ack_rows, requests as i64,
        "one acknowledgement queued per ticket"
    );
    assert_eq!(lost_acks, 0, "every acknowledgement delivered");
    // A mail the server accepted but Loket had not yet recorded as sent goes again after the
    // restart: at most one per SMTP connection (the config leaves smtp.connections at its
    // default) at each kill.
    let in_flight = kills * loket::config::DEFAULT_SMTP_CONNECTIONS;
    assert!(
        duplicate_acks <= in_flight,
        "at most the mails in flight at each kill are sent twice ({duplicate_acks} duplicates, {kills} kills, \
         at most {in_flight} in flight)"
    );
}
