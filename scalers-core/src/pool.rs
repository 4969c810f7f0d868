//! The pool every trigger crate shares its clients through.
//!
//! Triggers that reach the same endpoint with the same credentials share one client (an HTTP
//! connection pool, a Redis connection, a librdkafka instance, a gRPC channel), never one per
//! trigger. [`SharedPool`] is that sharing, once: a map from key to client, created on first
//! use, held weakly, so a client is dropped, with its connections, when its last trigger is.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Clients shared by key: created on first use, dropped with their last user.
///
/// The pool holds each client weakly; a caller keeps the [`Arc`] it was given for as long as
/// it uses the client. Cloning a pool gives another handle on the same clients. A pool has no
/// global state: keep one per registry (inside the registered constructors), so nothing is
/// shared behind an embedder's back and no client, whose connections belong to the runtime
/// that opened them, leaks from one tokio runtime into another.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use scalers_core::pool::SharedPool;
///
/// let pool: SharedPool<String, String> = SharedPool::new();
/// let a = pool.get_or_insert_with(&"redis:6379".to_owned(), |key| format!("client of {key}"));
/// let b = pool.get_or_insert_with(&"redis:6379".to_owned(), |_| unreachable!());
/// assert!(Arc::ptr_eq(&a, &b));
/// assert_eq!(pool.len(), 1);
/// drop((a, b));
/// assert!(pool.is_empty());
/// ```
pub struct SharedPool<K, V> {
    entries: Arc<Mutex<HashMap<K, Weak<V>>>>,
}

impl<K, V> Clone for SharedPool<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: Arc::clone(&self.entries),
        }
    }
}

impl<K, V> Default for SharedPool<K, V> {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
        }
    }
}

impl<K: Eq + Hash, V> fmt::Debug for SharedPool<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPool")
            .field("clients", &self.len())
            .finish()
    }
}

impl<K: Eq + Hash, V> SharedPool<K, V> {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client for `key`: the one a live user holds, or a new one from `make` (called with
    /// the lock held, so make it cheap: connect on first use, not here). Entries whose clients
    /// were dropped are forgotten on the way.
    pub fn get_or_insert_with(&self, key: &K, make: impl FnOnce(&K) -> V) -> Arc<V>
    where
        K: Clone,
    {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, client| client.strong_count() > 0);
        if let Some(client) = entries.get(key).and_then(Weak::upgrade) {
            return client;
        }
        let client = Arc::new(make(key));
        entries.insert(key.clone(), Arc::downgrade(&client));
        client
    }

    /// The clients some user still holds.
    pub fn live(&self) -> Vec<Arc<V>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.values().filter_map(Weak::upgrade).collect()
    }

    /// How many distinct clients users of this pool hold.
    pub fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.values().filter(|c| c.strong_count() > 0).count()
    }

    /// Whether no user of this pool holds a client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
