//! A work queue that knows when all work is done: workers block while
//! other tasks are still running (they may add follow-up tasks), and get
//! `None` when nothing is queued or running, or when the load is aborted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

pub struct TaskQueue<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    aborted: AtomicBool,
}

struct State<T> {
    queue: VecDeque<T>,
    running: usize,
}

impl<T> TaskQueue<T> {
    pub fn new(tasks: impl IntoIterator<Item = T>) -> Self {
        TaskQueue {
            state: Mutex::new(State {
                queue: tasks.into_iter().collect(),
                running: 0,
            }),
            changed: Condvar::new(),
            aborted: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues follow-up work ahead of what is waiting.
    pub fn push_front(&self, tasks: impl IntoIterator<Item = T>) {
        let mut state = self.lock();
        let tasks: Vec<T> = tasks.into_iter().collect();
        for task in tasks.into_iter().rev() {
            state.queue.push_front(task);
        }
        self.changed.notify_all();
    }

    /// The next task; marks it running until [`TaskQueue::done`].
    pub fn next(&self) -> Option<T> {
        let mut state = self.lock();
        loop {
            if self.aborted.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(task) = state.queue.pop_front() {
                state.running += 1;
                return Some(task);
            }
            if state.running == 0 {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn done(&self) {
        let mut state = self.lock();
        state.running = state.running.saturating_sub(1);
        self.changed.notify_all();
    }

    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
        let _state = self.lock();
        self.changed.notify_all();
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }
}
