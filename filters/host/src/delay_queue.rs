//! Paused streams ordered by the time they are due, cancellable by stream.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Entries `(stream context id, payload)` ordered by deadline; a stream has at most one entry.
#[derive(Debug)]
pub struct DelayQueue<T> {
    by_deadline: BTreeMap<(SystemTime, u32), T>,
    deadline_of: BTreeMap<u32, SystemTime>,
}

impl<T> Default for DelayQueue<T> {
    fn default() -> Self {
        Self {
            by_deadline: BTreeMap::new(),
            deadline_of: BTreeMap::new(),
        }
    }
}

impl<T> DelayQueue<T> {
    /// Adds `stream`'s entry, replacing the one it had.
    pub fn insert(&mut self, stream: u32, deadline: SystemTime, payload: T) {
        self.remove(stream);
        self.by_deadline.insert((deadline, stream), payload);
        self.deadline_of.insert(stream, deadline);
    }

    /// Removes and returns `stream`'s entry, if it has one.
    pub fn remove(&mut self, stream: u32) -> Option<T> {
        let deadline = self.deadline_of.remove(&stream)?;
        self.by_deadline.remove(&(deadline, stream))
    }

    pub fn contains(&self, stream: u32) -> bool {
        self.deadline_of.contains_key(&stream)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<SystemTime> {
        self.by_deadline
            .keys()
            .next()
            .map(|(deadline, _)| *deadline)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub fn pop_due(&mut self, now: SystemTime) -> Option<(u32, T)> {
        let entry = self.by_deadline.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let ((_, stream), payload) = entry.remove_entry();
        self.deadline_of.remove(&stream);
        Some((stream, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(millis: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(millis)
    }

    #[test]
    fn entries_come_out_in_deadline_order_when_due() {
        let mut queue = DelayQueue::default();
        queue.insert(7, at(300), "c");
        queue.insert(5, at(100), "a");
        queue.insert(6, at(200), "b");
        assert_eq!(queue.next_deadline(), Some(at(100)));
        assert_eq!(queue.pop_due(at(99)), None);
        assert_eq!(queue.pop_due(at(200)), Some((5, "a")));
        assert_eq!(queue.pop_due(at(200)), Some((6, "b")));
        assert_eq!(queue.pop_due(at(200)), None);
        assert!(queue.contains(7) && !queue.contains(5) && !queue.contains(6));
        assert_eq!(queue.next_deadline(), Some(at(300)));
    }

    #[test]
    fn equal_deadlines_keep_both_streams() {
        let mut queue = DelayQueue::default();
        queue.insert(1, at(100), ());
        queue.insert(2, at(100), ());
        assert_eq!(queue.pop_due(at(100)), Some((1, ())));
        assert_eq!(queue.pop_due(at(100)), Some((2, ())));
        assert_eq!(queue.next_deadline(), None);
    }

    #[test]
    fn removing_a_stream_leaves_nothing_behind() {
        let mut queue = DelayQueue::default();
        queue.insert(1, at(100), "a");
        queue.insert(2, at(50), "b");
        assert!(queue.contains(2));
        assert_eq!(queue.remove(2), Some("b"));
        assert_eq!(queue.remove(2), None);
        assert!(!queue.contains(2));
        assert_eq!(queue.next_deadline(), Some(at(100)));
        assert_eq!(queue.pop_due(at(1_000)), Some((1, "a")));
        assert_eq!(queue.next_deadline(), None);
    }

    #[test]
    fn reinserting_a_stream_replaces_its_entry() {
        let mut queue = DelayQueue::default();
        queue.insert(1, at(100), "first");
        queue.insert(1, at(300), "second");
        assert_eq!(queue.next_deadline(), Some(at(300)));
        assert_eq!(queue.pop_due(at(200)), None);
        assert_eq!(queue.pop_due(at(300)), Some((1, "second")));
    }
}
