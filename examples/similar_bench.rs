//! The cost of finding similar tickets for a new one (issue 17 item 4), at a given store size:
//! builds a store of N tickets (a third resolved, each with its request message, the words
//! drawn from a helpdesk vocabulary with a few common topic words and a long tail) and times
//! `store::similar::similar` for a set of new requests, some near-duplicates of stored ones
//! and some unrelated. Measured, never asserted.
//!
//!     cargo run --release --example similar_bench -- [TICKETS] [QUERIES]

use std::time::Instant;

use anyhow::Result;
use chrono::{Duration, Utc};
use rusqlite::params;

/// A small deterministic generator (xorshift), so every run builds the same store.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOPICS: &[&str] = &[
    "printer", "email", "vpn", "password", "laptop", "wifi", "outlook", "akses", "aplikasi",
    "server", "monitor", "keyboard", "scanner", "jaringan", "internet", "erp", "sap", "excel",
];
const COMMON: &[&str] = &[
    "tidak", "bisa", "mohon", "bantuan", "saya", "sudah", "lantai", "error", "rusak", "lambat",
    "login", "masuk", "kirim", "buka", "terus", "kantor", "pagi", "ruang", "baru", "lama",
];

/// A word of the long tail: one of about 20,000 made-up words, the low ones more often.
fn tail(rng: &mut Rng) -> String {
    let bound = rng.below(20_000) + 1;
    let n = rng.below(bound);
    format!("kata{n}")
}

fn text(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| match rng.below(10) {
            0..=3 => COMMON[rng.below(COMMON.len())].to_string(),
            4 => TOPICS[rng.below(TOPICS.len())].to_string(),
            _ => tail(rng),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let tickets: i64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let queries: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let mut conn = loket::store::open(&dir.path().join("loket.db"))?;
    let now = Utc::now();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let built = Instant::now();
    let mut stored: Vec<(String, String)> = Vec::new();
    let tx = conn.transaction()?;
    for i in 0..tickets {
        let subject = format!("{} {}", TOPICS[rng.below(TOPICS.len())], text(&mut rng, 4));
        let body = text(&mut rng, 40);
        let created = now - Duration::minutes(5 * (tickets - i));
        let resolved = i % 3 == 0;
        let ms = created.timestamp_millis();
        tx.execute(
            "INSERT INTO tickets (id, subject, requester_email, status, level, language, \
             created_at, updated_at, resolved_at) VALUES (?1, ?2, ?3, ?4, 1, 'id', ?5, ?5, ?6)",
            params![
                i + 1,
                subject,
                format!("user{}@example.test", i % 5000),
                if resolved { "closed" } else { "open" },
                ms,
                resolved.then_some(ms + 3_600_000)
            ],
        )?;
        tx.execute(
            "INSERT INTO messages (ticket_id, direction, kind, message_id, subject, body, created_at) \
             VALUES (?1, 'in', 'request', ?2, ?3, ?4, ?5)",
            params![i + 1, format!("m{i}@example.test"), subject, body, ms],
        )?;
        if resolved {
            tx.execute(
                "INSERT INTO events (ticket_id, at, actor, kind, detail) \
                 VALUES (?1, ?2, 'tech@example.test', 'status', 'open -> resolved: diganti')",
                params![i + 1, ms + 3_600_000],
            )?;
        }
        if stored.len() < queries && i % 997 == 0 && resolved {
            stored.push((subject, body));
        }
    }
    loket::store::search::index_pending(&tx)?;
    tx.commit()?;
    println!(
        "store: {tickets} tickets, {} messages, built in {:.1} s",
        tickets,
        built.elapsed().as_secs_f64()
    );

    // Half near-duplicates of stored resolved tickets (a few words changed), half new text.
    let mut asks: Vec<(String, String)> = Vec::new();
    for i in 0..queries {
        if i % 2 == 0 && !stored.is_empty() {
            let (s, b) = &stored[i / 2 % stored.len()];
            asks.push((format!("{s} lagi"), format!("{} {}", b, text(&mut rng, 5))));
        } else {
            let s = format!("{} {}", TOPICS[rng.below(TOPICS.len())], text(&mut rng, 4));
            asks.push((s, text(&mut rng, 40)));
        }
    }
    let since = now - Duration::days(365);
    let mut times = Vec::new();
    let mut found = (0, 0);
    for (i, (s, b)) in asks.iter().enumerate() {
        let t = Instant::now();
        let hits = loket::store::similar::similar(&conn, (s, b), since, 0, (3, 0.5))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if i % 2 == 0 {
            found.0 += usize::from(!hits.is_empty());
        } else {
            found.1 += usize::from(!hits.is_empty());
        }
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!(
        "similar(): {} requests, median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        times.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    println!(
        "near-duplicates with a hit: {}/{}; unrelated with a hit: {}/{}",
        found.0,
        queries.div_ceil(2),
        found.1,
        queries / 2
    );
    Ok(())
}
