//! The one-item hand-over point between two stages of the run loop: lossy for a live
//! source (the newest frame wins), lossless for files (the producer waits).

use std::sync::{Condvar, Mutex};

/// A hand-over point between two stages holding at most one item.
pub struct Slot<T> {
    state: Mutex<(Option<T>, bool)>,
    changed: Condvar,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self { state: Mutex::new((None, false)), changed: Condvar::new() }
    }
}

impl<T> Slot<T> {
    /// Offer an item. With `wait`, block until the slot is free (lossless); without,
    /// replace what is waiting and return `true` if something was dropped.
    pub fn put(&self, item: T, wait: bool) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while wait && s.0.is_some() && !s.1 {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        let dropped = s.0.replace(item).is_some();
        self.changed.notify_all();
        dropped
    }

    /// Take the waiting item, blocking until there is one; `None` once the slot is
    /// closed and empty.
    pub fn take(&self) -> Option<T> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(item) = s.0.take() {
                self.changed.notify_all();
                return Some(item);
            }
            if s.1 {
                return None;
            }
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// No more items will come; wakes every waiter.
    pub fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_slot_keeps_only_the_newest_unless_asked_to_wait() {
        let slot = Slot::default();
        assert!(!slot.put(1, false));
        assert!(slot.put(2, false), "1 was dropped");
        assert_eq!(slot.take(), Some(2));
        slot.close();
        assert_eq!(slot.take(), None);
    }

    #[test]
    fn a_waiting_put_blocks_until_taken() {
        let slot: Arc<Slot<u32>> = Arc::default();
        let producer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    assert!(!slot.put(i, true), "nothing is ever dropped");
                }
                slot.close();
            })
        };
        let got: Vec<u32> = std::iter::from_fn(|| slot.take()).collect();
        producer.join().unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }
}
