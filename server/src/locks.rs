//! One writer at a time per image within this process. Across processes the version check in
//! the database keeps updates from being lost; this lock only spares them the retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Debug, Default)]
pub(crate) struct ImageLocks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while one request changes an image.
#[derive(Debug)]
pub(crate) struct ImageLock {
    guard: Option<OwnedMutexGuard<()>>,
    id: String,
    locks: Arc<ImageLocks>,
}

impl ImageLocks {
    pub(crate) async fn lock(self: &Arc<Self>, id: &str) -> ImageLock {
        let mutex = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(id.to_string()).or_default().clone()
        };
        ImageLock {
            guard: Some(mutex.lock_owned().await),
            id: id.to_string(),
            locks: self.clone(),
        }
    }
}

impl Drop for ImageLock {
    fn drop(&mut self) {
        self.guard = None;
        let mut map = self.locks.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&self.id).is_some_and(|m| Arc::strong_count(m) == 1) {
            map.remove(&self.id);
        }
    }
}
