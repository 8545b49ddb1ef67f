//! The data path's 1 MiB blocks, used again rather than allocated for every piece: an upload
//! gathers the network's small pieces into blocks for the hashers and the store, a download
//! reads the file a block at a time into what the response sends. Allocating and freeing a
//! megabyte a millisecond across threads leaves the allocator holding freed blocks in each
//! thread's arena; a few blocks kept here bound what the data path holds, whatever the load.

use std::sync::{LazyLock, Mutex};

use bytes::Bytes;

/// The size of a block.
pub(crate) const BLOCK: usize = 1 << 20;

/// At most this many free blocks are kept (what one upload and a couple of downloads hold
/// at once); more are freed.
const KEEP: usize = 8;

static FREE: LazyLock<Mutex<Vec<Vec<u8>>>> = LazyLock::new(|| Mutex::new(Vec::new()));

fn free() -> std::sync::MutexGuard<'static, Vec<Vec<u8>>> {
    FREE.lock().unwrap_or_else(|e| e.into_inner())
}

/// An empty buffer of `BLOCK` bytes' capacity.
pub(crate) fn take() -> Vec<u8> {
    free().pop().unwrap_or_else(|| Vec::with_capacity(BLOCK))
}

/// A filled buffer as `Bytes` that go back to the free blocks once every holder has dropped
/// them (a buffer of another capacity is simply freed).
pub(crate) fn freeze(buf: Vec<u8>) -> Bytes {
    Bytes::from_owner(Held(buf))
}

struct Held(Vec<u8>);

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.0.capacity() == BLOCK {
            let mut buf = std::mem::take(&mut self.0);
            buf.clear();
            let mut free = free();
            if free.len() < KEEP {
                free.push(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block comes back once its last holder drops it, emptied, and is handed out again.
    #[test]
    fn blocks_come_back_when_the_last_holder_drops_them() {
        let mut buf = take();
        buf.extend_from_slice(b"some data");
        let ptr = buf.as_ptr();
        let bytes = freeze(buf);
        let clone = bytes.slice(5..);
        assert_eq!(&clone[..], b"data");
        drop(bytes);
        // Still held by the slice: not free yet (taking may not return it).
        let other = take();
        assert_ne!(other.as_ptr(), ptr);
        drop(clone);
        let again = take();
        assert_eq!(again.as_ptr(), ptr, "the same block, used again");
        assert!(again.is_empty());
        assert_eq!(again.capacity(), BLOCK);
        drop(other);
    }
}
