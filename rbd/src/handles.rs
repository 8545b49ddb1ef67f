//! The handles: a cluster connection, a pool (I/O context), an open image, and queues of
//! asynchronous writes and reads on an image. Each handle is released when dropped.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::ffi::c_char;
use std::path::Path;
use std::ptr;
use std::sync::Arc;

use bytes::Bytes;

use crate::ffi::{self, Api, CompletionT, ImageT, IoCtxT, RadosT};
use crate::{RbdError, Result, check, cstring};

struct ClusterHandle {
    api: &'static Api,
    handle: RadosT,
}

// SAFETY: a connected `rados_t` may be used from any thread at once (librados is
// thread-safe); it is shut down only when the last reference goes.
unsafe impl Send for ClusterHandle {}
// SAFETY: as above.
unsafe impl Sync for ClusterHandle {}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        // SAFETY: the handle was created by rados_create2 and nothing uses it any more.
        unsafe { (self.api.rados_shutdown)(self.handle) }
    }
}

/// A connection to a Ceph cluster.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<ClusterHandle>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cluster")
    }
}

impl Cluster {
    /// Connects as `user` (`glance` or `client.glance`; `client.admin` when `None`) with the settings of `conf` (Ceph's search path when `None`), then `options`
    /// (Ceph option names and values, e.g. `keyring`, `client_mount_timeout`).
    pub fn connect(
        conf: Option<&Path>,
        user: Option<&str>,
        options: &[(&str, String)],
    ) -> Result<Cluster> {
        let api = ffi::api()?;
        let name = match user {
            Some(u) if u.contains('.') => u.to_string(),
            Some(u) => format!("client.{u}"),
            None => "client.admin".to_string(),
        };
        let name = cstring("user", &name)?;
        let cluster_name = cstring("cluster", "ceph")?;
        let mut handle: RadosT = ptr::null_mut();
        // SAFETY: out-pointer to a handle; names are NUL-terminated or NULL.
        let rc =
            unsafe { (api.rados_create2)(&mut handle, cluster_name.as_ptr(), name.as_ptr(), 0) };
        check("rados_create2", rc.into())?;
        // From here the handle is shut down on every path.
        let cluster = Cluster {
            inner: Arc::new(ClusterHandle { api, handle }),
        };
        let path = conf
            .map(|p| cstring("ceph configuration path", &p.to_string_lossy()))
            .transpose()?;
        // SAFETY: a live handle; the path is NUL-terminated or NULL (the default search path).
        let rc = unsafe {
            (api.rados_conf_read_file)(handle, path.as_ref().map_or(ptr::null(), |p| p.as_ptr()))
        };
        check("rados_conf_read_file", rc.into())?;
        for (option, value) in options {
            let o = cstring("ceph option", option)?;
            let v = cstring("ceph option value", value)?;
            // SAFETY: a live, unconnected handle; NUL-terminated strings.
            let rc = unsafe { (api.rados_conf_set)(handle, o.as_ptr(), v.as_ptr()) };
            check("rados_conf_set", rc.into())?;
        }
        // SAFETY: a live, configured handle.
        let rc = unsafe { (api.rados_connect)(handle) };
        check("rados_connect", rc.into())?;
        Ok(cluster)
    }

    /// The cluster's fsid, as Nova and Cinder compare it with their own.
    pub fn fsid(&self) -> Result<String> {
        let mut buf = [0u8; 64];
        // SAFETY: a connected handle and a buffer of the given length.
        let rc = unsafe {
            (self.inner.api.rados_cluster_fsid)(
                self.inner.handle,
                buf.as_mut_ptr().cast::<c_char>(),
                buf.len(),
            )
        };
        check("rados_cluster_fsid", rc.into())?;
        let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
    }

    /// An I/O context on `pool`.
    pub fn pool(&self, pool: &str) -> Result<Pool> {
        let name = cstring("pool", pool)?;
        let mut io: IoCtxT = ptr::null_mut();
        // SAFETY: a connected handle, a NUL-terminated name and an out-pointer.
        let rc = unsafe {
            (self.inner.api.rados_ioctx_create)(self.inner.handle, name.as_ptr(), &mut io)
        };
        check("rados_ioctx_create", rc.into())?;
        Ok(Pool {
            inner: Arc::new(PoolHandle {
                cluster: self.inner.clone(),
                io,
            }),
        })
    }
}

struct PoolHandle {
    cluster: Arc<ClusterHandle>,
    io: IoCtxT,
}

// SAFETY: an I/O context may be used by several threads at once for the operations used here
// (none changes its snapshot context or namespace); it is destroyed with its last reference.
unsafe impl Send for PoolHandle {}
// SAFETY: as above.
unsafe impl Sync for PoolHandle {}

impl Drop for PoolHandle {
    fn drop(&mut self) {
        // SAFETY: created by rados_ioctx_create; no image opened on it is alive (they hold
        // a reference to this handle).
        unsafe { (self.cluster.api.rados_ioctx_destroy)(self.io) }
    }
}

/// A pool of the cluster.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolHandle>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pool")
    }
}

/// An image in the pool's trash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashEntry {
    pub id: String,
    pub name: String,
    /// Moved there by a user (as opposed to mirroring, migration, a removal in progress).
    pub by_user: bool,
    /// Seconds since the epoch before which the entry may not be removed.
    pub deferred_until: i64,
}

impl Pool {
    fn api(&self) -> &'static Api {
        self.inner.cluster.api
    }

    /// Creates an image of `size` bytes in format 2 with objects of `2^order` bytes and the
    /// cluster's default features.
    pub fn create(&self, name: &str, size: u64, order: u8) -> Result<()> {
        let name = cstring("image name", name)?;
        let api = self.api();
        let mut opts: ffi::OptionsT = ptr::null_mut();
        // SAFETY: an out-pointer; the options are destroyed below.
        unsafe { (api.rbd_image_options_create)(&mut opts) };
        // SAFETY: live options, known option keys.
        let rc = unsafe {
            let rc = (api.rbd_image_options_set_uint64)(opts, ffi::RBD_IMAGE_OPTION_FORMAT, 2);
            if rc < 0 {
                rc
            } else {
                (api.rbd_image_options_set_uint64)(
                    opts,
                    ffi::RBD_IMAGE_OPTION_ORDER,
                    u64::from(order),
                )
            }
        };
        let rc = if rc < 0 {
            rc
        } else {
            // SAFETY: a live I/O context, a NUL-terminated name, live options.
            unsafe { (api.rbd_create4)(self.inner.io, name.as_ptr(), size, opts) }
        };
        // SAFETY: created above, used no more.
        unsafe { (api.rbd_image_options_destroy)(opts) };
        check("rbd_create4", rc.into()).map(drop)
    }

    /// Removes an image (it must have no snapshots).
    pub fn remove(&self, name: &str) -> Result<()> {
        let name = cstring("image name", name)?;
        // SAFETY: a live I/O context and a NUL-terminated name.
        let rc = unsafe { (self.api().rbd_remove)(self.inner.io, name.as_ptr()) };
        check("rbd_remove", rc.into()).map(drop)
    }

    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let from = cstring("image name", from)?;
        let to = cstring("image name", to)?;
        // SAFETY: a live I/O context and NUL-terminated names.
        let rc = unsafe { (self.api().rbd_rename)(self.inner.io, from.as_ptr(), to.as_ptr()) };
        check("rbd_rename", rc.into()).map(drop)
    }

    /// The names of the pool's images (not those in the trash).
    pub fn list(&self) -> Result<Vec<String>> {
        let mut capacity = 64usize;
        loop {
            let mut specs: Vec<ffi::ImageSpec> = Vec::with_capacity(capacity);
            let mut count = capacity;
            // SAFETY: room for `count` specs; librbd fills at most that many and sets count.
            let rc =
                unsafe { (self.api().rbd_list2)(self.inner.io, specs.as_mut_ptr(), &mut count) };
            if rc == -libc::ERANGE {
                capacity = count.max(capacity * 2);
                continue;
            }
            check("rbd_list2", rc.into())?;
            // SAFETY: librbd initialised `count` entries.
            unsafe { specs.set_len(count) };
            let names = specs
                .iter()
                // SAFETY: strings allocated by librbd, freed below.
                .map(|s| unsafe { ffi::string(s.name) })
                .collect();
            // SAFETY: the entries librbd filled, released once.
            unsafe { (self.api().rbd_image_spec_list_cleanup)(specs.as_mut_ptr(), count) };
            return Ok(names);
        }
    }

    /// Moves an image to the pool's trash, removable at once.
    pub fn trash_move(&self, name: &str) -> Result<()> {
        let name = cstring("image name", name)?;
        // SAFETY: a live I/O context and a NUL-terminated name.
        let rc = unsafe { (self.api().rbd_trash_move)(self.inner.io, name.as_ptr(), 0) };
        check("rbd_trash_move", rc.into()).map(drop)
    }

    pub fn trash_list(&self) -> Result<Vec<TrashEntry>> {
        let mut capacity = 32usize;
        loop {
            let mut infos: Vec<ffi::TrashInfo> = Vec::with_capacity(capacity);
            let mut count = capacity;
            // SAFETY: room for `count` entries; librbd fills at most that many.
            let rc = unsafe {
                (self.api().rbd_trash_list)(self.inner.io, infos.as_mut_ptr(), &mut count)
            };
            if rc == -libc::ERANGE {
                capacity = count.max(capacity * 2);
                continue;
            }
            check("rbd_trash_list", rc.into())?;
            // SAFETY: librbd initialised `count` entries.
            unsafe { infos.set_len(count) };
            let entries = infos
                .iter()
                .map(|i| TrashEntry {
                    // SAFETY: strings allocated by librbd, freed below.
                    id: unsafe { ffi::string(i.id) },
                    // SAFETY: as above.
                    name: unsafe { ffi::string(i.name) },
                    by_user: i.source == ffi::RBD_TRASH_IMAGE_SOURCE_USER,
                    deferred_until: i.deferment_end_time,
                })
                .collect();
            // SAFETY: the entries librbd filled, released once.
            unsafe { (self.api().rbd_trash_list_cleanup)(infos.as_mut_ptr(), count) };
            return Ok(entries);
        }
    }

    /// Removes an image from the trash (it must have no snapshots left).
    pub fn trash_remove(&self, id: &str) -> Result<()> {
        let id = cstring("image id", id)?;
        // SAFETY: a live I/O context and a NUL-terminated id.
        let rc = unsafe { (self.api().rbd_trash_remove)(self.inner.io, id.as_ptr(), false) };
        check("rbd_trash_remove", rc.into()).map(drop)
    }

    /// Opens an image for writing (at its head).
    pub fn open(&self, name: &str) -> Result<Image> {
        self.open_with(self.api().rbd_open, "rbd_open", name, None)
    }

    /// Opens an image read-only, at snapshot `snap` or at its head.
    pub fn open_read_only(&self, name: &str, snap: Option<&str>) -> Result<Image> {
        self.open_with(
            self.api().rbd_open_read_only,
            "rbd_open_read_only",
            name,
            snap,
        )
    }

    /// Opens an image by its id (as trash entries name it) for writing.
    pub fn open_by_id(&self, id: &str) -> Result<Image> {
        self.open_with(self.api().rbd_open_by_id, "rbd_open_by_id", id, None)
    }

    fn open_with(
        &self,
        f: unsafe extern "C" fn(IoCtxT, *const c_char, *mut ImageT, *const c_char) -> i32,
        op: &'static str,
        name: &str,
        snap: Option<&str>,
    ) -> Result<Image> {
        let name = cstring("image name", name)?;
        let snap = snap.map(|s| cstring("snapshot name", s)).transpose()?;
        let mut handle: ImageT = ptr::null_mut();
        // SAFETY: a live I/O context, NUL-terminated names (or NULL), an out-pointer.
        let rc = unsafe {
            f(
                self.inner.io,
                name.as_ptr(),
                &mut handle,
                snap.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
            )
        };
        check(op, rc.into())?;
        Ok(Image {
            pool: self.inner.clone(),
            handle,
        })
    }
}

/// An open image. Closed when dropped.
pub struct Image {
    pool: Arc<PoolHandle>,
    handle: ImageT,
}

// SAFETY: an image handle may move between threads; it is used by one thread at a time
// (`Image` is not `Sync`).
unsafe impl Send for Image {}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Image")
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: opened by rbd_open*, closed once; queues borrowing it are gone.
        unsafe { (self.api().rbd_close)(self.handle) };
    }
}

impl Image {
    fn api(&self) -> &'static Api {
        self.pool.cluster.api
    }

    fn named(
        &self,
        op: &'static str,
        name: &str,
        f: unsafe extern "C" fn(ImageT, *const c_char) -> i32,
    ) -> Result<()> {
        let name = cstring("snapshot name", name)?;
        // SAFETY: an open image and a NUL-terminated name.
        let rc = unsafe { f(self.handle, name.as_ptr()) };
        check(op, rc.into()).map(drop)
    }

    pub fn size(&self) -> Result<u64> {
        let mut size = 0u64;
        // SAFETY: an open image and an out-pointer.
        let rc = unsafe { (self.api().rbd_get_size)(self.handle, &mut size) };
        check("rbd_get_size", rc.into())?;
        Ok(size)
    }

    pub fn resize(&self, size: u64) -> Result<()> {
        // SAFETY: an open image.
        let rc = unsafe { (self.api().rbd_resize)(self.handle, size) };
        check("rbd_resize", rc.into()).map(drop)
    }

    /// Reads into `buf` from `offset`; returns how many bytes were read.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: an open image and a buffer valid for `buf.len()` bytes during the call.
        let rc = unsafe {
            (self.api().rbd_read2)(self.handle, offset, buf.len(), buf.as_mut_ptr().cast(), 0)
        };
        Ok(check("rbd_read2", rc as i64)? as usize)
    }

    pub fn flush(&self) -> Result<()> {
        // SAFETY: an open image.
        let rc = unsafe { (self.api().rbd_flush)(self.handle) };
        check("rbd_flush", rc.into()).map(drop)
    }

    pub fn snap_create(&self, name: &str) -> Result<()> {
        self.named("rbd_snap_create", name, self.api().rbd_snap_create)
    }

    pub fn snap_protect(&self, name: &str) -> Result<()> {
        self.named("rbd_snap_protect", name, self.api().rbd_snap_protect)
    }

    pub fn snap_unprotect(&self, name: &str) -> Result<()> {
        self.named("rbd_snap_unprotect", name, self.api().rbd_snap_unprotect)
    }

    /// Removes a snapshot; under clone v2, one with clones moves to the snapshot trash.
    pub fn snap_remove(&self, name: &str) -> Result<()> {
        self.named("rbd_snap_remove", name, self.api().rbd_snap_remove)
    }

    /// The clones of the snapshot the image is open at, as `pool/image` (marked ` (trash)`
    /// for clones in the trash).
    pub fn children(&self) -> Result<Vec<String>> {
        let mut capacity = 16usize;
        loop {
            let mut specs: Vec<ffi::LinkedImageSpec> = Vec::with_capacity(capacity);
            let mut count = capacity;
            // SAFETY: room for `count` entries; librbd fills at most that many.
            let rc = unsafe {
                (self.api().rbd_list_children3)(self.handle, specs.as_mut_ptr(), &mut count)
            };
            if rc == -libc::ERANGE {
                capacity = count.max(capacity * 2);
                continue;
            }
            check("rbd_list_children3", rc.into())?;
            // SAFETY: librbd initialised `count` entries.
            unsafe { specs.set_len(count) };
            let children = specs
                .iter()
                .map(|s| {
                    // SAFETY: strings allocated by librbd, freed below.
                    let (pool, image) =
                        unsafe { (ffi::string(s.pool_name), ffi::string(s.image_name)) };
                    if s.trash {
                        format!("{pool}/{image} (trash)")
                    } else {
                        format!("{pool}/{image}")
                    }
                })
                .collect();
            // SAFETY: the entries librbd filled, released once.
            unsafe { (self.api().rbd_linked_image_spec_list_cleanup)(specs.as_mut_ptr(), count) };
            return Ok(children);
        }
    }

    /// Asynchronous writes, at most `depth` in flight.
    pub fn write_queue(&self, depth: usize) -> WriteQueue<'_> {
        WriteQueue {
            image: self,
            depth: depth.max(1),
            pending: VecDeque::new(),
        }
    }

    /// Asynchronous reads of `[offset, end)` in pieces of `piece` bytes, `depth` ahead.
    pub fn read_queue(&self, offset: u64, end: u64, piece: usize, depth: usize) -> ReadQueue<'_> {
        ReadQueue {
            image: self,
            next: offset,
            end,
            piece: piece.max(1),
            depth: depth.max(1),
            pending: VecDeque::new(),
        }
    }

    fn completion(&self) -> Result<Completion> {
        let mut c: CompletionT = ptr::null_mut();
        // SAFETY: no callback, an out-pointer.
        let rc = unsafe { (self.api().rbd_aio_create_completion)(ptr::null_mut(), None, &mut c) };
        check("rbd_aio_create_completion", rc.into())?;
        Ok(Completion { api: self.api(), c })
    }
}

/// One asynchronous operation. Waited for and released when dropped, so the buffer it uses
/// (kept beside it) outlives it.
struct Completion {
    api: &'static Api,
    c: CompletionT,
}

impl Completion {
    fn wait(&self, op: &'static str) -> Result<u64> {
        // SAFETY: a live completion handed to an aio call.
        unsafe { (self.api.rbd_aio_wait_for_complete)(self.c) };
        // SAFETY: a completed completion.
        let rc = unsafe { (self.api.rbd_aio_get_return_value)(self.c) };
        check(op, rc as i64)
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        // SAFETY: the operation has completed (waited for here, again if already) before
        // its completion and buffer are released.
        unsafe {
            (self.api.rbd_aio_wait_for_complete)(self.c);
            (self.api.rbd_aio_release)(self.c);
        }
    }
}

/// Writes in flight on an image. Dropping it waits for them.
pub struct WriteQueue<'i> {
    image: &'i Image,
    depth: usize,
    // Field order: each completion drops (and waits) before its buffer.
    pending: VecDeque<(Completion, Bytes)>,
}

impl std::fmt::Debug for WriteQueue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriteQueue({} in flight)", self.pending.len())
    }
}

impl WriteQueue<'_> {
    /// Starts writing `data` at `offset`, first waiting for the oldest write when `depth`
    /// are in flight.
    pub fn push(&mut self, offset: u64, data: Bytes) -> Result<()> {
        while self.pending.len() >= self.depth {
            self.wait_oldest()?;
        }
        let completion = self.image.completion()?;
        // SAFETY: an open image; `data` stays alive and unmoved in memory (Bytes' storage
        // is on the heap) in `pending` until the completion is waited for.
        let rc = unsafe {
            (self.image.api().rbd_aio_write)(
                self.image.handle,
                offset,
                data.len(),
                data.as_ptr().cast(),
                completion.c,
            )
        };
        check("rbd_aio_write", rc.into())?;
        self.pending.push_back((completion, data));
        Ok(())
    }

    fn wait_oldest(&mut self) -> Result<()> {
        if let Some((completion, _data)) = self.pending.pop_front() {
            completion.wait("rbd_aio_write")?;
        }
        Ok(())
    }

    /// Waits for every write in flight; the first failure is the answer.
    pub fn drain(&mut self) -> Result<()> {
        let mut first = Ok(());
        while !self.pending.is_empty() {
            if let Err(e) = self.wait_oldest()
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }

    /// Waits for every write; the first failure is the answer.
    pub fn finish(mut self) -> Result<()> {
        self.drain()
    }
}

/// Reads ahead on an image: an iterator of filled buffers, in order.
pub struct ReadQueue<'i> {
    image: &'i Image,
    next: u64,
    end: u64,
    piece: usize,
    depth: usize,
    pending: VecDeque<(Completion, Vec<u8>)>,
}

impl std::fmt::Debug for ReadQueue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadQueue({}..{})", self.next, self.end)
    }
}

impl ReadQueue<'_> {
    fn start(&mut self) -> Result<()> {
        while self.pending.len() < self.depth && self.next < self.end {
            let len = (self.end - self.next).min(self.piece as u64) as usize;
            let mut buf = vec![0u8; len];
            let completion = self.image.completion()?;
            // SAFETY: an open image; the buffer's heap storage stays alive and unmoved in
            // `pending` until the completion is waited for.
            let rc = unsafe {
                (self.image.api().rbd_aio_read)(
                    self.image.handle,
                    self.next,
                    len,
                    buf.as_mut_ptr().cast(),
                    completion.c,
                )
            };
            check("rbd_aio_read", rc.into())?;
            self.pending.push_back((completion, buf));
            self.next += len as u64;
        }
        Ok(())
    }
}

impl Iterator for ReadQueue<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Result<Vec<u8>>> {
        if let Err(e) = self.start() {
            self.end = self.next;
            return Some(Err(e));
        }
        let (completion, mut buf) = self.pending.pop_front()?;
        let read = match completion.wait("rbd_aio_read") {
            Ok(n) => n as usize,
            Err(e) => {
                self.end = self.next;
                return Some(Err(e));
            }
        };
        drop(completion);
        if read < buf.len() {
            // Past the image's end: nothing more follows.
            buf.truncate(read);
            self.end = self.next;
            self.pending.clear();
        }
        Some(Ok(buf))
    }
}

impl From<std::ffi::NulError> for RbdError {
    fn from(_: std::ffi::NulError) -> RbdError {
        RbdError::Nul("a name")
    }
}
