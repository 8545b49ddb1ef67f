//! The data path's 1 MiB blocks, used again rather than allocated for every piece: an upload
//! gathers the network's small pieces into blocks for the hashers and the store, a download
//! reads the file a block at a time into what the response sends. Allocating and freeing a
//! megabyte a millisecond across threads leaves the allocator holding freed blocks in each
//! thread's arena; a few blocks kept here bound what the data path holds, whatever the load.

use std::sync::Mutex;

use bytes::Bytes;

/// The size of a block.
pub(crate) const BLOCK: usize = 1 << 20;

/// At most this many free blocks are kept (what one upload and a couple of downloads hold
/// at once); more are freed.
const KEEP: usize = 8;

/// Free blocks.
struct Pool(Mutex<Vec<Vec<u8>>>);

static POOL: Pool = Pool(Mutex::new(Vec::new()));

impl Pool {
    fn free(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> Vec<u8> {
        self.free()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BLOCK))
    }

    fn freeze(&'static self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Held(buf, self))
    }
}

/// An empty buffer of `BLOCK` bytes' capacity.
pub(crate) fn take() -> Vec<u8> {
    POOL.take()
}

/// A filled buffer as `Bytes` that go back to the free blocks once every holder has dropped
/// them (a buffer of another capacity is simply freed).
pub(crate) fn freeze(buf: Vec<u8>) -> Bytes {
    POOL.freeze(buf)
}

struct Held(Vec<u8>, &'static Pool);

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
            let mut free = self.1.free();
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
        // A pool of its own: other tests use the server's at the same time.
        let pool: &'static Pool = Box::leak(Box::new(Pool(Mutex::new(Vec::new()))));
        let (take, freeze) = (|| pool.take(), |b| pool.freeze(b));
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
        // At most KEEP free blocks are kept.
        let many: Vec<Bytes> = (0..KEEP + 3).map(|_| freeze(take())).collect();
        drop(many);
        assert_eq!(pool.free().len(), KEEP);
    }

    /// A whole block read from a file (as downloads read) fills the block without growing it,
    /// so it can come back.
    #[test]
    fn a_full_read_keeps_the_block_its_size() {
        use std::io::{Read, Write};
        let path = std::env::temp_dir().join(format!("glint-block-{}", uuid::Uuid::new_v4()));
        let mut file = std::fs::File::create(&path).expect("a file");
        file.write_all(&vec![7u8; BLOCK + 10]).expect("write");
        drop(file);
        let mut file = std::fs::File::open(&path).expect("open");
        let mut piece = take();
        let n = (&mut file)
            .take(BLOCK as u64)
            .read_to_end(&mut piece)
            .expect("read");
        let _ = std::fs::remove_file(&path);
        assert_eq!(n, BLOCK);
        assert_eq!(piece.capacity(), BLOCK, "the read grew the block");
    }
}
