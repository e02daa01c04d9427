//! Retained messages: one per topic, replaced by a newer one, deleted by an empty payload.

use std::collections::HashMap;
use std::sync::Arc;

use airlock_mqtt::topic;

use crate::message::Message;

/// The retained messages of the broker.
#[derive(Debug, Default)]
pub struct RetainedMessages {
    by_topic: HashMap<String, Arc<Message>>,
}

impl RetainedMessages {
    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.by_topic.len()
    }

    /// Store or delete (empty payload) the retained message of `msg.topic`.
    pub fn apply(&mut self, msg: Arc<Message>) {
        if msg.payload.is_empty() {
            self.by_topic.remove(&msg.topic);
        } else {
            self.by_topic.insert(msg.topic.clone(), msg);
        }
    }

    /// Retained messages whose topic matches `filter` (a non-shared filter), not expired.
    ///
    /// This scans every retained topic; fine for the thousands of retained topics a plant has,
    /// and the place to add an index when that stops being true.
    pub fn matching(&self, filter: &str, now_ms: u64) -> Vec<Arc<Message>> {
        self.by_topic
            .values()
            .filter(|m| !m.expired(now_ms) && topic::matches(filter, &m.topic))
            .cloned()
            .collect()
    }
}
