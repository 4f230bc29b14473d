//! Rendezvous (highest-random-weight) hashing: which live node should take a room that
//! has no owner. Pure: no I/O, no clock; the same inputs give the same node on every
//! node, so the nodes agree without talking.
//!
//! Each (node, room) pair gets a score from a hash of both; the node with the highest
//! score wins. When a node leaves, only the rooms it won move, each to its runner-up;
//! when one joins, it takes only the rooms where it now scores highest.

use sha2::{Digest, Sha256};

use super::NodeId;

/// The score of `node` for `room`: the first eight bytes of SHA-256 over both, with a
/// separator no id contains.
fn score(node: &NodeId, room: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(node.as_str().as_bytes());
    hash.update([0u8]);
    hash.update(room.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The node among `nodes` that should own `room`, or `None` if there is no node. The
/// order of `nodes` does not matter; duplicates are harmless; ties (as good as never)
/// go to the larger id.
pub fn choose<'a>(room: &str, nodes: impl IntoIterator<Item = &'a NodeId>) -> Option<&'a NodeId> {
    nodes
        .into_iter()
        .max_by(|a, b| (score(a, room), a).cmp(&(score(b, room), b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> Vec<NodeId> {
        names
            .iter()
            .map(|n| NodeId::new(n).expect("a valid node id"))
            .collect()
    }

    fn rooms(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("room-{i}")).collect()
    }

    #[test]
    fn no_node_takes_nothing() {
        assert_eq!(choose("r1", &[]), None);
    }

    #[test]
    fn every_node_agrees_whatever_order_it_lists_the_nodes_in() {
        let forward = nodes(&["a", "b", "c", "d"]);
        let mut backward = forward.clone();
        backward.reverse();
        for room in rooms(200) {
            assert_eq!(choose(&room, &forward), choose(&room, &backward));
        }
    }

    #[test]
    fn rooms_spread_over_the_nodes() {
        let three = nodes(&["node-1", "node-2", "node-3"]);
        let mut counts = [0usize; 3];
        for room in rooms(3000) {
            let chosen = choose(&room, &three).expect("a node");
            let i = three.iter().position(|n| n == chosen).expect("one of them");
            counts[i] += 1;
        }
        for count in counts {
            assert!((800..=1200).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn when_a_node_leaves_only_its_rooms_move() {
        let all = nodes(&["node-1", "node-2", "node-3"]);
        let left = nodes(&["node-1", "node-3"]);
        let mut moved = 0;
        for room in rooms(1000) {
            let before = choose(&room, &all).expect("a node");
            let after = choose(&room, &left).expect("a node");
            if before.as_str() == "node-2" {
                moved += 1;
            } else {
                assert_eq!(before, after, "{room} moved though its owner stayed");
            }
        }
        assert!(moved > 0);
    }

    #[test]
    fn a_joining_node_takes_rooms_only_for_itself() {
        let before = nodes(&["node-1", "node-2"]);
        let after = nodes(&["node-1", "node-2", "node-3"]);
        for room in rooms(1000) {
            let old = choose(&room, &before).expect("a node");
            let new = choose(&room, &after).expect("a node");
            assert!(
                new == old || new.as_str() == "node-3",
                "{room}: {old} -> {new}"
            );
        }
    }
}
