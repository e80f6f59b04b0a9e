//! Listening sockets: bind-address syntax, socket creation and accepted streams.
//!
//! `socket2` creates the sockets so the backlog, `SO_REUSEADDR` and `IPV6_V6ONLY` can be set
//! before `listen()`; `mio` then drives them.

use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::PathBuf;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use socket2::{Domain, SockRef, Socket, Type};

/// A parsed `--bind` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAddr {
    /// `HOST:PORT` or `[IPV6]:PORT`; the host may be a name, resolved at bind time.
    Tcp {
        /// Host name or address, without brackets.
        host: String,
        /// Port; 0 picks a free one.
        port: u16,
    },
    /// `unix:PATH`.
    Unix(PathBuf),
}

impl BindAddr {
    /// Parses `HOST:PORT`, `[IPV6]:PORT` or `unix:PATH`. The error names the value.
    pub fn parse(value: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("bind: {why}: {value:?}");
        if let Some(path) = value.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("empty UNIX socket path"));
            }
            if path.contains('\0') {
                return Err(bad("NUL in UNIX socket path"));
            }
            return Ok(BindAddr::Unix(PathBuf::from(path)));
        }
        let (host, port) = if let Some(rest) = value.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| bad("expected [IPV6]:PORT"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("not an IPv6 address"));
            }
            (host, port)
        } else {
            let (host, port) = value
                .rsplit_once(':')
                .ok_or_else(|| bad("expected HOST:PORT"))?;
            if host.contains(':') {
                return Err(bad("put IPv6 addresses in brackets, as [::1]:8000"));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5 {
            return Err(bad("port must be a number from 0 to 65535"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| bad("port must be a number from 0 to 65535"))?;
        Ok(BindAddr::Tcp {
            host: host.to_owned(),
            port,
        })
    }
}

/// A bound, listening socket and what the engine tells applications about it.
#[derive(Debug)]
pub enum Listener {
    /// TCP, IPv4 or IPv6.
    Tcp(TcpListener),
    /// UNIX domain socket; the path is removed when the listener is dropped.
    Unix(UnixListener, PathBuf),
}

/// Where a listener is, as reported by `Engine.addresses` and `SERVER_PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundAddr {
    /// The real bound TCP address (port 0 resolved).
    Tcp(SocketAddr),
    /// A UNIX socket path.
    Unix(PathBuf),
}

/// An accepted connection's stream.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// UNIX domain socket.
    Unix(UnixStream),
}

/// The peer of an accepted connection.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A TCP peer address.
    Tcp(SocketAddr),
    /// A UNIX socket peer (unnamed).
    Unix,
}

fn tcp_listener(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

fn unix_listener(path: &PathBuf, backlog: i32, mode: u32) -> io::Result<UnixListener> {
    // A stale socket file from a previous run would make bind() fail; remove it only if it is
    // a socket nobody listens on, never another kind of file.
    if let Ok(meta) = fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by another server", path.display()),
                ));
            }
            fs::remove_file(path)?;
        }
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    socket.listen(backlog)?;
    Ok(UnixListener::from_std(socket.into()))
}

impl Listener {
    /// Binds every address `bind` resolves to (a host name may give IPv4 and IPv6).
    pub fn bind(bind: &BindAddr, backlog: i32, unix_mode: u32) -> io::Result<Vec<Listener>> {
        match bind {
            BindAddr::Unix(path) => Ok(vec![Listener::Unix(
                unix_listener(path, backlog, unix_mode)?,
                path.clone(),
            )]),
            BindAddr::Tcp { host, port } => {
                let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
                    Ok(ip) => vec![SocketAddr::new(ip, *port)],
                    Err(_) => {
                        let mut found: Vec<SocketAddr> =
                            (host.as_str(), *port).to_socket_addrs()?.collect();
                        found.dedup();
                        found
                    }
                };
                if addrs.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{host} resolves to no address"),
                    ));
                }
                let mut out = Vec::with_capacity(addrs.len());
                let mut chosen_port = *port;
                for mut addr in addrs {
                    // With port 0 and a name resolving to several addresses, use one port for all.
                    addr.set_port(chosen_port);
                    let listener = tcp_listener(addr, backlog)?;
                    chosen_port = listener.local_addr()?.port();
                    out.push(Listener::Tcp(listener));
                }
                Ok(out)
            }
        }
    }

    /// The bound address.
    pub fn bound(&self) -> io::Result<BoundAddr> {
        match self {
            Listener::Tcp(l) => Ok(BoundAddr::Tcp(l.local_addr()?)),
            Listener::Unix(_, path) => Ok(BoundAddr::Unix(path.clone())),
        }
    }

    /// Accepts one connection (non-blocking), with TCP_NODELAY set on TCP streams.
    pub fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, peer) = l.accept()?;
                // Responses are written whole; Nagle would only delay them.
                let _ = stream.set_nodelay(true);
                Ok((Stream::Tcp(stream), Peer::Tcp(peer)))
            }
            Listener::Unix(l, _) => {
                let (stream, _) = l.accept()?;
                Ok((Stream::Unix(stream), Peer::Unix))
            }
        }
    }

    /// Removes the socket file of a UNIX listener.
    pub fn cleanup(&self) {
        if let Listener::Unix(_, path) = self {
            let _ = fs::remove_file(path);
        }
    }
}

impl mio::event::Source for Listener {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(r, t, i),
            Listener::Unix(l, _) => l.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(r, t, i),
            Listener::Unix(l, _) => l.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(r),
            Listener::Unix(l, _) => l.deregister(r),
        }
    }
}

impl Stream {
    /// The raw descriptor, for `sendfile` and `shutdown`.
    pub fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Asks the kernel to keep about `bytes` queued but not yet sent on a TCP socket
    /// (`TCP_NOTSENT_LOWAT`): a write or `sendfile` stops taking data once the unsent bytes
    /// pass it (the kernel checks before each new packet buffer, so a call can overshoot by
    /// one), and the socket polls writable again when they fall below it. Does nothing on
    /// UNIX sockets; a failure only loses the cap.
    pub fn limit_unsent(&self, bytes: u32) {
        if let Stream::Tcp(s) = self {
            let _ = SockRef::from(s).set_tcp_notsent_lowat(bytes);
        }
    }

    /// Shuts down the write side, so the peer sees the end of the response.
    pub fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }
}

impl io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl mio::event::Source for Stream {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
        }
    }
}

/// Raises the soft open-files limit to the hard limit, so many connections fit. Returns the new
/// soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let wanted = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } != 0 {
            return Err(io::Error::last_os_error());
        }
        return Ok(wanted.rlim_cur);
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_bind_forms() {
        assert_eq!(
            BindAddr::parse("127.0.0.1:8000").unwrap(),
            BindAddr::Tcp {
                host: "127.0.0.1".into(),
                port: 8000
            }
        );
        assert_eq!(
            BindAddr::parse("[::1]:0").unwrap(),
            BindAddr::Tcp {
                host: "::1".into(),
                port: 0
            }
        );
        assert_eq!(
            BindAddr::parse("localhost:80").unwrap(),
            BindAddr::Tcp {
                host: "localhost".into(),
                port: 80
            }
        );
        assert_eq!(
            BindAddr::parse("unix:/tmp/x.sock").unwrap(),
            BindAddr::Unix("/tmp/x.sock".into())
        );
    }

    #[test]
    fn rejects_bad_binds() {
        for bad in [
            "",
            "8000",
            ":8000",
            "host:",
            "host:65536",
            "host:+80",
            "::1:80",
            "[::1]80",
            "[nope]:1",
            "unix:",
            "h:1x",
        ] {
            let err = BindAddr::parse(bad).unwrap_err();
            assert!(err.starts_with("bind: "), "{bad}: {err}");
        }
    }

    #[test]
    fn limit_unsent_sets_the_tcp_option() {
        let bind = BindAddr::parse("127.0.0.1:0").unwrap();
        let listeners = Listener::bind(&bind, 8, 0o600).unwrap();
        let BoundAddr::Tcp(addr) = listeners[0].bound().unwrap() else {
            panic!("a TCP bind gave another kind of address");
        };
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = loop {
            match listeners[0].accept() {
                Ok(accepted) => break accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("accept: {e}"),
            }
        };
        let Stream::Tcp(tcp) = &stream else {
            panic!("a TCP listener gave another kind of stream");
        };
        // Whatever the host's default (`net.ipv4.tcp_notsent_lowat`), the call must change it.
        SockRef::from(tcp).set_tcp_notsent_lowat(1).unwrap();
        stream.limit_unsent(crate::sendfile::UNSENT_LIMIT);
        assert_eq!(
            SockRef::from(tcp).tcp_notsent_lowat().unwrap(),
            crate::sendfile::UNSENT_LIMIT
        );
    }
}
