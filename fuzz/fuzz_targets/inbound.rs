//! The whole inbound path on arbitrary bytes: parse, dedupe, thread, rules, decide, store and
//! outbox, against one in-memory store that persists across inputs (so later inputs thread
//! against what earlier ones created) and is started afresh every 5,000 inputs to bound memory.
//! Any panic is a finding; an `Err` is a defined outcome (a temporary failure).

#![no_main]

use std::cell::RefCell;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use loket::clock::{Clock, ManualClock};
use loket::outbound::render::Renderer;
use loket::pipeline::{Env, Source, process};

struct State {
    conn: rusqlite::Connection,
    env: Env,
    clock: Arc<ManualClock>,
    runs: u32,
}

fn fresh() -> State {
    let cfg = loket::fixtures::config(
        "helpdesk@example.co.id",
        include_str!("../../loket.example.toml")
            .split_once("[lifecycle]")
            .map(|(_, rest)| format!("[lifecycle]{rest}"))
            .as_deref()
            .unwrap_or(""),
    )
    .expect("fuzz config");
    let clock = Arc::new(ManualClock::new(
        "2026-11-23T02:00:00Z".parse().expect("start time"),
    ));
    State {
        conn: loket::store::open_in_memory().expect("store"),
        env: Env {
            cfg: Arc::new(cfg),
            renderer: Arc::new(Renderer::new(None).expect("templates")),
            clock: clock.clone() as Arc<dyn Clock>,
        },
        clock,
        runs: 0,
    }
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let _ = loket::inbound::parse::parse(data);
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.as_ref().is_none_or(|st| st.runs >= 5_000) {
            *s = Some(fresh());
        }
        let Some(st) = s.as_mut() else { return };
        st.runs += 1;
        st.clock.advance(chrono::Duration::seconds(1));
        let _ = process(&mut st.conn, &st.env, data, &Source::Stdin);
    });
});
