//! An in-process [`RocketStore`] with the DynamoDB adapter's compare-and-swap contract: a save
//! succeeds only if the stored revision equals the aggregate's, and stores `revision + 1`.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use rockets_core::fleet::Filters;
use rockets_core::{Aggregate, RocketStore, RocketView, StoreError};

/// Rockets kept in a map behind a mutex. Lock hold times are a clone or an insert, never I/O.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rockets: Mutex<HashMap<String, Aggregate>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Aggregate>) -> T) -> T {
        // A poisoned lock means a panic while holding it; the map itself is still consistent
        // because every mutation is a single insert.
        let mut guard = self
            .rockets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
}

#[async_trait]
impl RocketStore for MemoryStore {
    async fn load(&self, channel: &str) -> Result<Option<Aggregate>, StoreError> {
        Ok(self.with(|m| m.get(channel).cloned()))
    }

    async fn save(&self, aggregate: &Aggregate) -> Result<u64, StoreError> {
        self.with(|m| {
            let stored = m.get(&aggregate.channel).map_or(0, |a| a.revision);
            if stored != aggregate.revision {
                return Err(StoreError::Conflict {
                    channel: aggregate.channel.clone(),
                });
            }
            let mut next = aggregate.clone();
            next.revision = aggregate.revision + 1;
            m.insert(next.channel.clone(), next);
            Ok(aggregate.revision + 1)
        })
    }

    async fn get(&self, channel: &str) -> Result<Option<RocketView>, StoreError> {
        Ok(self.with(|m| m.get(channel).map(Aggregate::view)))
    }

    async fn scan(&self, filters: &Filters) -> Result<Vec<RocketView>, StoreError> {
        Ok(self.with(|m| {
            m.values()
                .map(Aggregate::view)
                .filter(|v| filters.matches(v))
                .collect()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn save_is_compare_and_swap_on_revision() {
        let store = MemoryStore::new();
        let fresh = Aggregate::new("r");
        assert_eq!(store.save(&fresh).await.unwrap(), 1);
        assert!(matches!(
            store.save(&fresh).await,
            Err(StoreError::Conflict { .. })
        ));

        let loaded = store.load("r").await.unwrap().unwrap();
        assert_eq!(loaded.revision, 1);
        assert_eq!(store.save(&loaded).await.unwrap(), 2);
        assert!(matches!(
            store.save(&loaded).await,
            Err(StoreError::Conflict { .. })
        ));
    }
}
