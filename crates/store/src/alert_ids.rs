//! Where each alert's row is, by its key, on SQLite.
//!
//! Alert keys are fingerprints, so in an index on `key` every new alert lands
//! on a random page: merging 2,000 new alerts wrote about 2,000 index pages
//! to the WAL (in the `sqlite3` shell, inserting and processing new alerts
//! took 2.3× as long with the index as without). SQLite's `alerts` is
//! therefore keyed by insertion order (`id`), with no index on `key`, and
//! the store keeps the key → id map in memory. One process serves a SQLite
//! file (the server locks it, see `SharedIds`), and every writer of alert
//! rows goes through this store, so the map sees every insert and delete.
//! PostgreSQL keeps its key index ([`KeyLookup::Index`]): replicas there
//! write alerts from several processes.
//!
//! The map holds *candidate* ids by a hash of the key (19 MiB of table at a
//! million alerts), and every read by key checks the key of each row it
//! finds, so a hash collision costs a wasted lookup, never a wrong alert.
//! An insert adds its id before its transaction commits, while it holds the
//! single writer, so the next writer sees it; a delete removes its id only
//! after it commits. So a row that exists is never missing from the map,
//! and an id whose insert rolled back is a stale candidate that finds
//! nothing. Ids are never handed out twice by one process.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// How a backend finds alert rows by key.
#[derive(Clone, Copy)]
pub(crate) enum KeyLookup<'a> {
    /// By the index on `key` (PostgreSQL).
    Index,
    /// By the ids this process keeps (SQLite).
    Ids(&'a AlertIds),
}

/// The key → id map of one SQLite store.
pub(crate) struct AlertIds {
    hasher: RandomState,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for AlertIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertIds")
            .field("next", &self.lock().next)
            .finish_non_exhaustive()
    }
}

/// 32 bits of a key's hash: 9 bytes a slot with its id, 19 MiB of table at
/// a million alerts (twice that with 64 bits), for about a hundred colliding
/// pairs among a million keys, each a wasted row lookup.
type KeyHash = u32;

#[derive(Default)]
struct Inner {
    /// The first id of each key hash, where it fits in 32 bits (ids count
    /// the alerts a database ever held: billions only after years of churn).
    first: HashMap<KeyHash, u32>,
    /// Further ids of a hash: collisions, stale candidates, and ids that do
    /// not fit `first`.
    more: HashMap<KeyHash, Vec<i64>>,
    /// The next id to hand out.
    next: i64,
}

impl AlertIds {
    /// The map of the rows `(id, key)` found in the table.
    pub(crate) fn load(rows: impl IntoIterator<Item = (i64, String)>) -> AlertIds {
        let ids = AlertIds {
            hasher: RandomState::new(),
            inner: Mutex::new(Inner {
                next: 1,
                ..Inner::default()
            }),
        };
        for (id, key) in rows {
            ids.add(&key, id);
        }
        ids
    }

    /// Row `id` of `key`, found in the table.
    pub(crate) fn add(&self, key: &str, id: i64) {
        let hash = self.hash(key);
        let mut inner = self.lock();
        inner.add(hash, id);
        inner.next = inner.next.max(id + 1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hash(&self, key: &str) -> KeyHash {
        (self.hasher.hash_one(key) >> 32) as KeyHash
    }

    /// The ids a row of `key` may have (usually one, or none).
    pub(crate) fn candidates(&self, key: &str) -> Vec<i64> {
        let hash = self.hash(key);
        let inner = self.lock();
        let mut ids: Vec<i64> = inner
            .first
            .get(&hash)
            .map(|&id| i64::from(id))
            .into_iter()
            .collect();
        if let Some(more) = inner.more.get(&hash) {
            ids.extend(more);
        }
        ids
    }

    /// A new row's id for `key`, in the map from now on. Call it while
    /// holding the writer, before the insert commits.
    pub(crate) fn insert(&self, key: &str) -> i64 {
        let hash = self.hash(key);
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.add(hash, id);
        id
    }

    /// Row `id` of `key` is gone; call it once its delete has committed.
    pub(crate) fn remove(&self, key: &str, id: i64) {
        let hash = self.hash(key);
        let mut guard = self.lock();
        let inner = &mut *guard;
        let more = inner.more.get_mut(&hash);
        if let Some(more) = more {
            more.retain(|&m| m != id);
        }
        if inner.first.get(&hash).map(|&f| i64::from(f)) == Some(id) {
            inner.first.remove(&hash);
            if let Some(more) = inner.more.get_mut(&hash)
                && let Some(at) = more.iter().position(|&m| u32::try_from(m).is_ok())
            {
                let next = more.swap_remove(at);
                inner.first.insert(hash, next as u32);
            }
        }
        if inner.more.get(&hash).is_some_and(Vec::is_empty) {
            inner.more.remove(&hash);
        }
    }

    /// Keys in the map (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        let inner = self.lock();
        inner.first.len() + inner.more.values().map(Vec::len).sum::<usize>()
    }
}

impl Inner {
    fn add(&mut self, hash: KeyHash, id: i64) {
        match u32::try_from(id) {
            Ok(small) if !self.first.contains_key(&hash) => {
                self.first.insert(hash, small);
            }
            _ => self.more.entry(hash).or_default().push(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_removal_is_exact() {
        let ids = AlertIds::load([(7, "a".to_string()), (3, "b".to_string())]);
        assert_eq!(ids.candidates("a"), vec![7]);
        assert_eq!(ids.candidates("c"), Vec::<i64>::new());
        // Past the largest id found.
        let c = ids.insert("c");
        assert_eq!(c, 8);
        // A second row for a key (its first insert rolled back, or a delete
        // not committed yet): both are candidates, and removing one keeps
        // the other.
        let a2 = ids.insert("a");
        assert_eq!(ids.candidates("a"), vec![7, a2]);
        ids.remove("a", 7);
        assert_eq!(ids.candidates("a"), vec![a2]);
        ids.remove("a", a2);
        assert!(ids.candidates("a").is_empty());
        ids.remove("b", 99);
        assert_eq!(ids.candidates("b"), vec![3], "another id removes nothing");
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn colliding_hashes_keep_every_id() {
        let ids = AlertIds::load([]);
        let hash = ids.hash("x");
        let mut inner = ids.lock();
        inner.add(hash, 1);
        inner.add(hash, 2);
        inner.add(hash, 3);
        drop(inner);
        assert_eq!(ids.candidates("x"), vec![1, 2, 3]);
        ids.remove("x", 2);
        assert_eq!(ids.candidates("x"), vec![1, 3]);
        ids.remove("x", 1);
        assert_eq!(ids.candidates("x"), vec![3]);
        assert_eq!(ids.len(), 1);
    }

    #[test]
    fn ids_past_32_bits_are_kept_too() {
        let big = i64::from(u32::MAX) + 5;
        let ids = AlertIds::load([(big, "a".to_string()), (2, "b".to_string())]);
        assert_eq!(ids.candidates("a"), vec![big]);
        assert_eq!(ids.insert("c"), big + 1);
        assert_eq!(ids.candidates("c"), vec![big + 1]);
        let hash = ids.hash("a");
        ids.lock().add(hash, 9);
        assert_eq!(ids.candidates("a"), vec![9, big]);
        ids.remove("a", 9);
        assert_eq!(ids.candidates("a"), vec![big], "a big id is not promoted");
        ids.remove("a", big);
        assert!(ids.candidates("a").is_empty());
        assert_eq!(ids.len(), 2);
    }
}
