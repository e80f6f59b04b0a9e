//! `sendfile(2)`: file bytes to a socket without copying through user space.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

use crate::listener::Stream;

/// Largest piece sent per call, so one connection does not monopolise the IO thread.
const MAX_PIECE: u64 = 1024 * 1024;

/// Unsent bytes a connection may hold in the kernel while it sends a file
/// ([`Stream::limit_unsent`], set on its first `sendfile`).
///
/// Without a cap, one `sendfile` queues up to the whole send buffer (megabytes once the kernel
/// has grown it) beyond what the peer's window admits, and the rest of the file then leaves in
/// small pieces whenever the peer's ACKs open the window, inside whichever context processes
/// those ACKs. On loopback, where morello usually sits behind a proxy, that is the reader's
/// CPU: measured with wrk and a 1 MiB file, the reader's CPU per response halved with a 16 KiB
/// cap (1,578 -> 3,327 responses/s in one 5 s run, wrk at 100% CPU in both; the paired
/// `bench/run.sh -r 4` run quoted in CHANGELOG.md measured 1,847 -> 4,350), and 4, 8, 16 and
/// 32 KiB measured alike; 64 KiB fell back to ~2,100. With the cap the IO thread is woken to
/// queue each next piece, so the sending work stays on the server's core. Connections that
/// never send a file are not capped: bytes bodies are copied into large linear buffers that
/// the peer consumes cheaply (a 1 MiB body measured the same with and without the cap), and a
/// cap would only split their writes (a 64 KiB body measured ~10% slower with it).
/// The cap stays for the connection's later responses: a keep-alive connection that fetched
/// one file is likely to fetch more. Kernels before Linux 6.0 could miss a writable wakeup
/// under this option in a race (fixed by "tcp: make sure EPOLLOUT wont be missed"); there the
/// write timeout ends such a stall.
pub const UNSENT_LIMIT: u32 = 16 * 1024;

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
