//! Ctrl-C and SIGTERM become a flag the pipeline polls, so a copy can roll
//! back and exit 1 instead of dying half-way (or, as sqlx does, exiting 0).

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Registers the handlers. A second signal terminates at once.
pub fn install() {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(flag()));
        let _ = signal_hook::flag::register(signal, Arc::clone(flag()));
    }
}

pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}
