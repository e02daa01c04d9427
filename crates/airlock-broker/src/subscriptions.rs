//! The subscription tree: topic filters by level, with `+`, `#` and `$share` groups.
//!
//! Matching walks only the branches a topic can reach, so its cost grows with the depth of
//! the topic and the number of wildcard branches, not with the number of subscriptions.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use airlock_mqtt::SubscriptionOptions;

/// One client's subscription to one filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubEntry {
    /// Options from SUBSCRIBE.
    pub options: SubscriptionOptions,
    /// v5 Subscription Identifier.
    pub identifier: Option<u32>,
}

#[derive(Debug, Default)]
struct SharedGroup {
    members: Vec<(Arc<str>, SubEntry)>,
    next: AtomicUsize,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    subscribers: HashMap<Arc<str>, SubEntry>,
    shared: HashMap<Box<str>, SharedGroup>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subscribers.is_empty() && self.shared.is_empty()
    }
}

/// A subscriber reached by a topic.
#[derive(Debug, Clone)]
pub struct Match {
    /// The subscribing client.
    pub client_id: Arc<str>,
    /// Its subscription.
    pub entry: SubEntry,
}

/// A shared group reached by a topic: the router picks one member.
#[derive(Debug, Clone)]
pub struct SharedMatch {
    /// Members in subscription order.
    pub members: Vec<(Arc<str>, SubEntry)>,
    /// Round-robin starting point.
    pub start: usize,
}

/// All subscriptions of the broker.
#[derive(Debug, Default)]
pub struct SubscriptionTree {
    root: Node,
    count: usize,
}

impl SubscriptionTree {
    /// Number of subscriptions (shared members included).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Add or replace `client_id`'s subscription to `filter` (the part after `$share/{group}/`
    /// when `group` is set). Returns true when it replaced an existing one.
    pub fn insert(
        &mut self,
        filter: &str,
        group: Option<&str>,
        client_id: &Arc<str>,
        entry: SubEntry,
    ) -> bool {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        let replaced = match group {
            None => node.subscribers.insert(client_id.clone(), entry).is_some(),
            Some(g) => {
                let group = node.shared.entry(g.into()).or_default();
                match group.members.iter_mut().find(|(c, _)| c == client_id) {
                    Some(existing) => {
                        existing.1 = entry;
                        true
                    }
                    None => {
                        group.members.push((client_id.clone(), entry));
                        false
                    }
                }
            }
        };
        if !replaced {
            self.count += 1;
        }
        replaced
    }

    /// Remove a subscription; true when it existed.
    pub fn remove(&mut self, filter: &str, group: Option<&str>, client_id: &str) -> bool {
        let levels: Vec<&str> = filter.split('/').collect();
        let removed = remove_in(&mut self.root, &levels, group, client_id);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Every non-shared subscriber and every shared group whose filter matches `topic`.
    pub fn matches(&self, topic: &str) -> (Vec<Match>, Vec<SharedMatch>) {
        let levels: Vec<&str> = topic.split('/').collect();
        let mut direct = Vec::new();
        let mut shared = Vec::new();
        let dollar = topic.starts_with('$');
        walk(&self.root, &levels, 0, dollar, &mut direct, &mut shared);
        (direct, shared)
    }
}

fn remove_in(node: &mut Node, levels: &[&str], group: Option<&str>, client_id: &str) -> bool {
    match levels.split_first() {
        None => match group {
            None => node.subscribers.remove(client_id).is_some(),
            Some(g) => {
                let Some(sg) = node.shared.get_mut(g) else {
                    return false;
                };
                let before = sg.members.len();
                sg.members.retain(|(c, _)| &**c != client_id);
                let removed = sg.members.len() != before;
                if sg.members.is_empty() {
                    node.shared.remove(g);
                }
                removed
            }
        },
        Some((first, rest)) => {
            let Some(child) = node.children.get_mut(*first) else {
                return false;
            };
            let removed = remove_in(child, rest, group, client_id);
            if child.is_empty() {
                node.children.remove(*first);
            }
            removed
        }
    }
}

fn collect(node: &Node, direct: &mut Vec<Match>, shared: &mut Vec<SharedMatch>) {
    direct.extend(node.subscribers.iter().map(|(c, e)| Match {
        client_id: c.clone(),
        entry: *e,
    }));
    for group in node.shared.values() {
        if group.members.is_empty() {
            continue;
        }
        let start = group.next.fetch_add(1, Ordering::Relaxed) % group.members.len();
        shared.push(SharedMatch {
            members: group.members.clone(),
            start,
        });
    }
}

fn walk(
    node: &Node,
    levels: &[&str],
    depth: usize,
    dollar: bool,
    direct: &mut Vec<Match>,
    shared: &mut Vec<SharedMatch>,
) {
    // A filter whose first level is a wildcard must not match a `$` topic (MQTT 4.7.2).
    let wildcards_allowed = !(depth == 0 && dollar);
    let Some((level, rest)) = levels.split_first() else {
        collect(node, direct, shared);
        // "sport/#" also matches "sport" (MQTT 4.7.1.2).
        if let Some(hash) = node.children.get("#") {
            collect(hash, direct, shared);
        }
        return;
    };
    if let Some(child) = node.children.get(*level) {
        walk(child, rest, depth + 1, dollar, direct, shared);
    }
    if wildcards_allowed {
        if let Some(plus) = node.children.get("+") {
            walk(plus, rest, depth + 1, dollar, direct, shared);
        }
        if let Some(hash) = node.children.get("#") {
            collect(hash, direct, shared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_mqtt::QoS;

    fn entry() -> SubEntry {
        SubEntry {
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: false,
                retain_as_published: false,
                retain_handling: 0,
            },
            identifier: None,
        }
    }

    fn clients(tree: &SubscriptionTree, topic: &str) -> Vec<String> {
        let mut v: Vec<String> = tree
            .matches(topic)
            .0
            .into_iter()
            .map(|m| m.client_id.to_string())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn wildcards_follow_the_spec() {
        let mut t = SubscriptionTree::default();
        let cases = [
            ("a", "a/b/c"),
            ("b", "a/+/c"),
            ("c", "a/#"),
            ("d", "#"),
            ("e", "+/+/+"),
            ("f", "$SYS/#"),
            ("g", "a//c"),
            ("h", "+"),
        ];
        for (c, f) in cases {
            t.insert(f, None, &Arc::from(c), entry());
        }
        assert_eq!(clients(&t, "a/b/c"), ["a", "b", "c", "d", "e"]);
        assert_eq!(clients(&t, "a"), ["c", "d", "h"]);
        assert_eq!(clients(&t, "a//c"), ["b", "c", "d", "e", "g"]);
        assert_eq!(clients(&t, "$SYS/x"), ["f"]);
        assert_eq!(
            clients(&t, "$aws/events/presence/connected/x"),
            Vec::<String>::new()
        );
        assert_eq!(t.len(), 8);
        assert!(t.remove("a/#", None, "c"));
        assert!(!t.remove("a/#", None, "c"));
        assert_eq!(clients(&t, "a"), ["d", "h"]);
    }

    #[test]
    fn shared_groups_rotate() {
        let mut t = SubscriptionTree::default();
        t.insert("s/+", Some("g"), &Arc::from("x"), entry());
        t.insert("s/+", Some("g"), &Arc::from("y"), entry());
        let (d, s) = t.matches("s/1");
        assert!(d.is_empty());
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].members.len(), 2);
        let (_, s2) = t.matches("s/1");
        assert_ne!(s[0].start, s2[0].start);
        assert!(t.remove("s/+", Some("g"), "x"));
        assert!(t.remove("s/+", Some("g"), "y"));
        assert!(t.matches("s/1").1.is_empty());
        assert_eq!(t.len(), 0);
    }
}
