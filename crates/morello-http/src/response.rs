//! Response side: framing decisions, validation of what the application sends, head and
//! chunk encoding.

use crate::request::Version;
use crate::syntax::{is_field_value, is_field_value_byte, is_token};

/// The last chunk of a chunked body, with an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// The application's Content-Length: exactly this many body bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 peers, no Content-Length).
    Chunked,
    /// The body ends when the connection closes (HTTP/1.0 peers, no Content-Length).
    CloseDelimited,
    /// No body may be sent: HEAD, 1xx, 204, 304.
    NoBody,
}

/// The framing and connection decisions for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePlan {
    /// The version written in the status line: the server's protocol setting.
    pub version: Version,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
    /// The request was HTTP/1.0: keeping such a peer alive needs `Connection: keep-alive`
    /// even when the status line says HTTP/1.1.
    pub peer_http10: bool,
}

/// What the response planner needs to know about the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestInfo {
    /// The request's version.
    pub version: Version,
    /// Method is HEAD.
    pub is_head: bool,
    /// [`crate::RequestHead::keep_alive`].
    pub keep_alive: bool,
    /// The request explicitly carried the `keep-alive` Connection token.
    pub asked_keep_alive: bool,
}

/// Decides framing and keep-alive for a response.
///
/// * The status line carries `server` (the `protocol` setting): `HTTP/1.1` normally.
/// * 1xx, 204 and 304 never have a body; neither does a response to HEAD (its
///   Content-Length, if the application gave one, is still sent).
/// * With a Content-Length the body is length-delimited.
/// * Without one, when both request and server speak HTTP/1.1, it is chunked; otherwise it is
///   close-delimited and the connection closes.
/// * When request or server speaks only HTTP/1.0 the connection stays open only if the
///   request asked for `keep-alive` and the body is not close-delimited.
pub fn plan_response(
    request: RequestInfo,
    server: Version,
    status: u16,
    content_length: Option<u64>,
) -> ResponsePlan {
    let effective = request.version.min(server);
    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if no_body || request.is_head {
        BodyFraming::NoBody
    } else if let Some(n) = content_length {
        BodyFraming::Length(n)
    } else if effective == Version::Http11 {
        BodyFraming::Chunked
    } else {
        BodyFraming::CloseDelimited
    };
    let keep_alive = request.keep_alive
        && framing != BodyFraming::CloseDelimited
        && (effective == Version::Http11 || request.asked_keep_alive);
    ResponsePlan {
        version: server,
        framing,
        keep_alive,
        peer_http10: request.version == Version::Http10,
    }
}

/// Response header fields rendered as they go on the wire (`name: value CRLF` each), so
/// that writing a head copies one block instead of two slices per field, and holding the
/// fields costs one allocation. Names and values must have been validated with
/// [`validate_header_name`] and [`validate_header_value`] before they are pushed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldBlock {
    bytes: Vec<u8>,
    count: usize,
    has_date: bool,
    has_server: bool,
}

impl FieldBlock {
    /// An empty block with room for `bytes` bytes of fields.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Appends one field.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        self.has_date |= name.eq_ignore_ascii_case(b"date");
        self.has_server |= name.eq_ignore_ascii_case(b"server");
        self.count += 1;
        write_field(&mut self.bytes, name, value);
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the block holds no field.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The rendered fields.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Writes the status line, the application's headers, then `Date` and `Server` (each unless
/// the application set it), the framing header (`Transfer-Encoding: chunked` when chunked;
/// the application's Content-Length is among `headers` already) and a `Connection` header
/// when it is needed (`close` when not keeping alive; `keep-alive` when keeping an HTTP/1.0
/// peer alive), then the blank line. Inputs must already have been validated with
/// [`validate_status`], [`validate_header_name`] and [`validate_header_value`].
///
/// An empty `date` writes no `Date` header; an empty `server` writes no `Server` header.
/// `Connection: keep-alive` is written when keeping alive and either `plan.version` or the
/// peer ([`ResponsePlan::peer_http10`]) is HTTP/1.0. Nothing is allocated beyond growing `out`.
pub fn write_head<'h>(
    out: &mut Vec<u8>,
    plan: &ResponsePlan,
    status: &[u8],
    headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
    date: &[u8],
    server: &[u8],
) {
    write_status_line(out, plan, status);
    let mut has_date = false;
    let mut has_server = false;
    for (name, value) in headers {
        has_date |= name.eq_ignore_ascii_case(b"date");
        has_server |= name.eq_ignore_ascii_case(b"server");
        write_field(out, name, value);
    }
    finish_head(out, plan, has_date, has_server, date, server);
}

/// [`write_head`] for fields already rendered into a [`FieldBlock`]; the same output.
pub fn write_head_block(
    out: &mut Vec<u8>,
    plan: &ResponsePlan,
    status: &[u8],
    fields: &FieldBlock,
    date: &[u8],
    server: &[u8],
) {
    write_status_line(out, plan, status);
    out.extend_from_slice(&fields.bytes);
    finish_head(out, plan, fields.has_date, fields.has_server, date, server);
}

fn write_status_line(out: &mut Vec<u8>, plan: &ResponsePlan, status: &[u8]) {
    out.extend_from_slice(plan.version.as_bytes());
    out.push(b' ');
    out.extend_from_slice(status);
    out.extend_from_slice(b"\r\n");
}

/// `Date`, `Server`, the framing and connection fields, and the blank line.
fn finish_head(
    out: &mut Vec<u8>,
    plan: &ResponsePlan,
    has_date: bool,
    has_server: bool,
    date: &[u8],
    server: &[u8],
) {
    if !has_date && !date.is_empty() {
        write_field(out, b"Date", date);
    }
    if !has_server && !server.is_empty() {
        write_field(out, b"Server", server);
    }
    if plan.framing == BodyFraming::Chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if !plan.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if plan.version == Version::Http10 || plan.peer_http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends one chunk (`size-in-hex CRLF data CRLF`) to `out`. An empty `data` writes nothing
/// (an empty chunk would end the body).
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    write_chunk_size(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends a chunk-size line (`size-in-hex CRLF`) for a chunk of `size` bytes whose data the
/// caller sends separately, followed by `CRLF`. `size` must not be 0 (that would end the body).
pub fn write_chunk_size(out: &mut Vec<u8>, size: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 2 * std::mem::size_of::<usize>()];
    let mut at = digits.len();
    let mut n = size;
    while n > 0 && at > 0 {
        at -= 1;
        digits[at] = HEX[n & 0xf];
        n >>= 4;
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// Validates a WSGI status string such as `200 OK`: three digits, a space, then a reason
/// phrase of visible characters, SP and HTAB (it may be empty). Returns the status code.
///
/// The code must be within 100..=599 (RFC 9110 section 15). `200 ` (empty reason) is valid,
/// `200` (no space) is not. The reason may hold obs-text (bytes >= 0x80, from latin-1 WSGI
/// strings) as RFC 9112 allows; any control character other than HTAB, or DEL, is refused.
pub fn validate_status(status: &[u8]) -> Result<u16, &'static str> {
    let [a, b, c, rest @ ..] = status else {
        return Err("status must start with a three-digit code");
    };
    if !(a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit()) {
        return Err("status must start with a three-digit code");
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    if !(100..=599).contains(&code) {
        return Err("status code must be between 100 and 599");
    }
    let Some(reason) = rest.strip_prefix(b" ") else {
        return Err("status code must be followed by a space and a reason phrase");
    };
    if !reason.iter().all(|&b| is_field_value_byte(b)) {
        return Err("status reason phrase holds a control character");
    }
    Ok(code)
}

/// True if `name` is a valid field name (a non-empty RFC 9110 token).
pub fn validate_header_name(name: &[u8]) -> bool {
    is_token(name)
}

/// True if `value` is a valid field value: no CR, LF, NUL or other control character except
/// HTAB.
pub fn validate_header_value(value: &[u8]) -> bool {
    is_field_value(value)
}

/// True for hop-by-hop header names (case-insensitive), which a WSGI application must not
/// send: Connection, Keep-Alive, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
/// Trailers, Transfer-Encoding, Upgrade.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP_BY_HOP: &[&[u8]] = &[
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    ];
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}
