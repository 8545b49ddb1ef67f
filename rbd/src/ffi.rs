//! The C functions of librados and librbd this crate calls, looked up once with `dlopen` /
//! `dlsym` from `librados.so.2` and `librbd.so.1` (their stable ABIs). Declarations follow
//! `rados/librados.h` and `rbd/librbd.h`.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

pub(crate) type RadosT = *mut c_void;
pub(crate) type IoCtxT = *mut c_void;
pub(crate) type ImageT = *mut c_void;
pub(crate) type OptionsT = *mut c_void;
pub(crate) type CompletionT = *mut c_void;
type Callback = Option<unsafe extern "C" fn(CompletionT, *mut c_void)>;

/// `rbd_image_spec_t`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct ImageSpec {
    pub(crate) id: *mut c_char,
    pub(crate) name: *mut c_char,
}

/// `rbd_trash_image_info_t`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct TrashInfo {
    pub(crate) id: *mut c_char,
    pub(crate) name: *mut c_char,
    pub(crate) source: c_int,
    pub(crate) deletion_time: libc::time_t,
    pub(crate) deferment_end_time: libc::time_t,
}

/// `rbd_linked_image_spec_t`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct LinkedImageSpec {
    pub(crate) pool_id: i64,
    pub(crate) pool_name: *mut c_char,
    pub(crate) pool_namespace: *mut c_char,
    pub(crate) image_id: *mut c_char,
    pub(crate) image_name: *mut c_char,
    pub(crate) trash: bool,
}

pub(crate) const RBD_IMAGE_OPTION_FORMAT: c_int = 0;
pub(crate) const RBD_IMAGE_OPTION_ORDER: c_int = 2;
pub(crate) const RBD_TRASH_IMAGE_SOURCE_USER: c_int = 0;

macro_rules! api {
    ($($lib:ident: $name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The resolved entry points.
        #[derive(Debug)]
        pub(crate) struct Api {
            $(pub(crate) $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        fn resolve(rados: *mut c_void, rbd: *mut c_void) -> Result<Api, String> {
            Ok(Api {
                $($name: {
                    let handle = if stringify!($lib) == "rados" { rados } else { rbd };
                    let symbol = sym(handle, concat!(stringify!($name), "\0"))?;
                    // SAFETY: the symbol is the C function of that name, whose signature is
                    // the one declared here from the library's header.
                    unsafe {
                        std::mem::transmute::<
                            *mut c_void,
                            unsafe extern "C" fn($($arg),*) $(-> $ret)?,
                        >(symbol)
                    }
                },)*
            })
        }
    };
}

api! {
    rados: rados_create2: fn(*mut RadosT, *const c_char, *const c_char, u64) -> c_int;
    rados: rados_conf_read_file: fn(RadosT, *const c_char) -> c_int;
    rados: rados_conf_set: fn(RadosT, *const c_char, *const c_char) -> c_int;
    rados: rados_connect: fn(RadosT) -> c_int;
    rados: rados_shutdown: fn(RadosT);
    rados: rados_cluster_fsid: fn(RadosT, *mut c_char, usize) -> c_int;
    rados: rados_ioctx_create: fn(RadosT, *const c_char, *mut IoCtxT) -> c_int;
    rados: rados_ioctx_destroy: fn(IoCtxT);
    rbd: rbd_image_options_create: fn(*mut OptionsT);
    rbd: rbd_image_options_destroy: fn(OptionsT);
    rbd: rbd_image_options_set_uint64: fn(OptionsT, c_int, u64) -> c_int;
    rbd: rbd_create4: fn(IoCtxT, *const c_char, u64, OptionsT) -> c_int;
    rbd: rbd_remove: fn(IoCtxT, *const c_char) -> c_int;
    rbd: rbd_rename: fn(IoCtxT, *const c_char, *const c_char) -> c_int;
    rbd: rbd_list2: fn(IoCtxT, *mut ImageSpec, *mut usize) -> c_int;
    rbd: rbd_image_spec_list_cleanup: fn(*mut ImageSpec, usize);
    rbd: rbd_trash_move: fn(IoCtxT, *const c_char, u64) -> c_int;
    rbd: rbd_trash_list: fn(IoCtxT, *mut TrashInfo, *mut usize) -> c_int;
    rbd: rbd_trash_list_cleanup: fn(*mut TrashInfo, usize);
    rbd: rbd_trash_remove: fn(IoCtxT, *const c_char, bool) -> c_int;
    rbd: rbd_open: fn(IoCtxT, *const c_char, *mut ImageT, *const c_char) -> c_int;
    rbd: rbd_open_read_only: fn(IoCtxT, *const c_char, *mut ImageT, *const c_char) -> c_int;
    rbd: rbd_open_by_id: fn(IoCtxT, *const c_char, *mut ImageT, *const c_char) -> c_int;
    rbd: rbd_close: fn(ImageT) -> c_int;
    rbd: rbd_get_size: fn(ImageT, *mut u64) -> c_int;
    rbd: rbd_resize: fn(ImageT, u64) -> c_int;
    rbd: rbd_read2: fn(ImageT, u64, usize, *mut c_char, c_int) -> isize;
    rbd: rbd_flush: fn(ImageT) -> c_int;
    rbd: rbd_aio_create_completion: fn(*mut c_void, Callback, *mut CompletionT) -> c_int;
    rbd: rbd_aio_write: fn(ImageT, u64, usize, *const c_char, CompletionT) -> c_int;
    rbd: rbd_aio_read: fn(ImageT, u64, usize, *mut c_char, CompletionT) -> c_int;
    rbd: rbd_aio_wait_for_complete: fn(CompletionT) -> c_int;
    rbd: rbd_aio_get_return_value: fn(CompletionT) -> isize;
    rbd: rbd_aio_release: fn(CompletionT);
    rbd: rbd_snap_create: fn(ImageT, *const c_char) -> c_int;
    rbd: rbd_snap_remove: fn(ImageT, *const c_char) -> c_int;
    rbd: rbd_snap_protect: fn(ImageT, *const c_char) -> c_int;
    rbd: rbd_snap_unprotect: fn(ImageT, *const c_char) -> c_int;
    rbd: rbd_list_children3: fn(ImageT, *mut LinkedImageSpec, *mut usize) -> c_int;
    rbd: rbd_linked_image_spec_list_cleanup: fn(*mut LinkedImageSpec, usize);
}

fn open(name: &str) -> Result<*mut c_void, String> {
    let c = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated name; dlopen has no other preconditions.
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        return Err(format!("cannot load {name}: {}", dl_error()));
    }
    Ok(handle)
}

fn sym(handle: *mut c_void, name: &'static str) -> Result<*mut c_void, String> {
    // SAFETY: `handle` came from dlopen and is never closed; `name` ends with NUL.
    let symbol = unsafe { libc::dlsym(handle, name.as_ptr().cast()) };
    if symbol.is_null() {
        return Err(format!(
            "{} is missing from the Ceph libraries: {}",
            name.trim_end_matches('\0'),
            dl_error()
        ));
    }
    Ok(symbol)
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message owned by libc.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown error".into();
    }
    // SAFETY: non-null, NUL-terminated, valid until the next dl* call on this thread.
    unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}

/// The entry points, loaded on first use (and the reason when the libraries are missing).
pub(crate) fn api() -> Result<&'static Api, crate::RbdError> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(|| {
        let rados = open("librados.so.2")?;
        let rbd = open("librbd.so.1")?;
        resolve(rados, rbd)
    })
    .as_ref()
    .map_err(|e| crate::RbdError::Load(e.clone()))
}

/// Copies a C string owned by the library.
///
/// # Safety
/// `p` is NULL or a valid NUL-terminated string.
pub(crate) unsafe fn string(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
