//! Python `bytes` written by the IO thread without copying them out of Python first.
//!
//! A large body chunk is kept as a reference to the application's `bytes` object; the IO thread
//! writes straight from the object's buffer. That saves a copy and, more importantly, the
//! allocation of a fresh body-sized buffer per response, which glibc would trim and fault back
//! in every time (12% of the CPU on the 64 KiB `big` benchmark).
//!
//! The catch is the last reference: releasing a Python object needs the GIL, which the IO
//! thread never takes. A [`SharedBytes`] dropped by a thread that does not hold the GIL parks
//! its object in a bin; workers empty the bin each time they start a request, and the monitor
//! when the server is idle.

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Objects released by threads without the GIL, waiting for one with it.
static BIN: Mutex<Vec<Py<PyBytes>>> = Mutex::new(Vec::new());
/// Set when something was parked, so the per-request check costs one atomic load, not a lock.
static PARKED: AtomicBool = AtomicBool::new(false);

/// A Python `bytes` object readable without the GIL.
pub struct SharedBytes {
    obj: ManuallyDrop<Py<PyBytes>>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: a `bytes` object is immutable and its buffer lives inside the object, which never
// moves; the strong reference held in `obj` keeps it alive until `Drop`, which releases it
// under the GIL or hands it to a thread that holds the GIL. Reading the buffer from any thread
// meanwhile is sound.
unsafe impl Send for SharedBytes {}
// SAFETY: as above; `&SharedBytes` only gives read access to the immutable buffer.
unsafe impl Sync for SharedBytes {}

impl std::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.len)
    }
}

impl SharedBytes {
    /// Keeps a reference to `bytes` (GIL held by the caller).
    pub fn new(bytes: &Bound<'_, PyBytes>) -> Self {
        let data = bytes.as_bytes();
        Self {
            ptr: data.as_ptr(),
            len: data.len(),
            obj: ManuallyDrop::new(bytes.clone().unbind()),
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr`/`len` describe the immutable buffer of `obj`, alive while `self` is.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for SharedBytes {
    fn drop(&mut self) {
        // SAFETY: `obj` is taken exactly once, here.
        let obj = unsafe { ManuallyDrop::take(&mut self.obj) };
        // SAFETY: PyGILState_Check only reads the calling thread's state.
        if unsafe { pyo3::ffi::PyGILState_Check() } == 1 {
            drop(obj);
        } else {
            BIN.lock().unwrap_or_else(|p| p.into_inner()).push(obj);
            PARKED.store(true, Ordering::Release);
        }
    }
}

/// Releases the objects parked by threads without the GIL. Cheap when the bin is empty.
pub fn empty_bin(_py: Python<'_>) {
    if !PARKED.swap(false, Ordering::Acquire) {
        return;
    }
    let parked = std::mem::take(&mut *BIN.lock().unwrap_or_else(|p| p.into_inner()));
    drop(parked);
}

/// True when objects wait in the bin.
pub fn bin_is_empty() -> bool {
    !PARKED.load(Ordering::Acquire)
}
