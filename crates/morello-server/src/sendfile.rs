//! `sendfile(2)`: file bytes to a socket without copying through user space.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

use crate::listener::Stream;

/// Largest piece sent per call, so one connection does not monopolise the IO thread.
const MAX_PIECE: u64 = 1024 * 1024;

/// Sends up to `len` bytes of `file` from `offset` to `stream`, advancing both. Returns the
/// bytes sent; `Ok(0)` means the file ended early.
pub fn send(stream: &Stream, file: &File, offset: &mut u64, len: &mut u64) -> io::Result<usize> {
    let count = usize::try_from((*len).min(MAX_PIECE)).unwrap_or(usize::MAX);
    let mut off =
        libc::off_t::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both descriptors are open for the duration of the call; `off` is ours.
    let n = unsafe { libc::sendfile(stream.raw_fd(), file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as u64;
    *offset += n;
    *len -= n.min(*len);
    Ok(n as usize)
}
