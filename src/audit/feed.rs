//! The events of the trail as they are recorded: what `audit list --follow` streams and the
//! export file receives. A store backend publishes every event once it is durable, in the order
//! written; nobody listening costs it nothing per event.
//!
//! The feed is a bounded broadcast: a subscriber that falls behind (a slow follower, a stalled
//! disk under the export file) loses the oldest events and is told how many, and never slows
//! the commit that publishes.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::AuditEvent;

/// How many events a subscriber may fall behind before it loses the oldest: about a second of
/// the peak rate of issued credentials.
const CAPACITY: usize = 16 * 1024;

/// One recorded event: its JSON, exactly as stored and exported.
#[derive(Debug, Clone)]
pub struct RecordedEvent(Arc<[u8]>);

impl RecordedEvent {
    /// The event's JSON (one line: serde_json writes no newline).
    pub fn json(&self) -> &[u8] {
        &self.0
    }

    /// The event itself.
    pub fn event(&self) -> Result<AuditEvent, serde_json::Error> {
        serde_json::from_slice(&self.0)
    }
}

/// Where a backend publishes recorded events.
#[derive(Debug, Clone)]
pub struct AuditFeed {
    sender: broadcast::Sender<RecordedEvent>,
}

/// A subscriber's end of the feed.
pub type AuditSubscription = broadcast::Receiver<RecordedEvent>;

impl Default for AuditFeed {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl AuditFeed {
    /// A feed on which a subscriber may fall `capacity` events behind.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            sender: broadcast::Sender::new(capacity),
        }
    }

    /// Whether anyone listens: a backend skips the publishing when nobody does.
    pub fn is_heard(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Publish one durable event, given as its JSON.
    pub fn publish(&self, json: &[u8]) {
        // Nobody listening is not an error: the event is stored all the same.
        let _ = self.sender.send(RecordedEvent(Arc::from(json)));
    }

    /// Every event published from now on.
    pub fn subscribe(&self) -> AuditSubscription {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::TryRecvError;

    #[test]
    fn a_subscriber_that_falls_behind_loses_the_oldest_and_is_told_how_many() {
        let feed = AuditFeed::with_capacity(2);
        assert!(!feed.is_heard());
        feed.publish(b"unheard");
        let mut slow = feed.subscribe();
        assert!(feed.is_heard());
        for json in [&b"1"[..], b"2", b"3", b"4"] {
            feed.publish(json);
        }
        assert!(matches!(slow.try_recv(), Err(TryRecvError::Lagged(2))));
        assert_eq!(slow.try_recv().unwrap().json(), b"3");
        assert_eq!(slow.try_recv().unwrap().json(), b"4");
        assert!(matches!(slow.try_recv(), Err(TryRecvError::Empty)));
    }
}
