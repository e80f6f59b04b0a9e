//! Request heads and the request decoder state machine.

use std::ops::Range;

use crate::body::{BodyDecoder, Framing};
use crate::error::Error;
use crate::head::parse_head;
use crate::limits::Limits;
use crate::response::RequestInfo;
use crate::scan::{scan_line, Scan, ScanError};
use crate::syntax::is_ows;

/// The HTTP versions a request may carry. Anything else is [`Error::UnsupportedVersion`]
/// (505) or [`Error::BadRequestLine`] (400) if it does not even look like a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

impl Version {
    /// `b"HTTP/1.0"` or `b"HTTP/1.1"`.
    pub fn as_bytes(&self) -> &'static [u8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }
}

/// One header field of a [`RequestHead`], as byte ranges into the head's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name, as sent (case preserved).
    pub name: Range<usize>,
    /// The value with leading and trailing SP/HTAB removed (and nothing else).
    pub value: Range<usize>,
}

/// A complete, validated request head. Owns a copy of the head's bytes; fields are ranges
/// into it, so building one costs two allocations whatever the number of headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub(crate) buf: Vec<u8>,
    pub(crate) method: Range<usize>,
    pub(crate) target: Range<usize>,
    pub(crate) version: Version,
    pub(crate) headers: Vec<Header>,
    pub(crate) framing: Framing,
    /// What the Connection header allows, before `must_close`.
    pub(crate) keep_alive: bool,
    /// The `keep-alive` Connection token was present.
    pub(crate) asked_keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// Both Content-Length and Transfer-Encoding came.
    pub(crate) must_close: bool,
}

impl RequestHead {
    /// The method, case preserved (methods are case-sensitive tokens).
    pub fn method(&self) -> &[u8] {
        &self.buf[self.method.clone()]
    }
    /// The raw request target as sent (origin-form, absolute-form, `*` or authority-form).
    pub fn target(&self) -> &[u8] {
        &self.buf[self.target.clone()]
    }
    /// The request's HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }
    /// The header fields in order, with names as sent. Includes Content-Length and
    /// Transfer-Encoding; use [`RequestHead::hide_content_length`] to know when the former
    /// must not reach the application.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(move |h| (&self.buf[h.name.clone()], &self.buf[h.value.clone()]))
    }
    /// How the body is framed.
    pub fn framing(&self) -> Framing {
        self.framing
    }
    /// Whether the client allows the connection to stay open after this exchange
    /// (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive && !self.must_close
    }
    /// Whether the request carries `Expect: 100-continue` (HTTP/1.1 only).
    pub fn expect_continue(&self) -> bool {
        self.expect_continue
    }
    /// True when both Content-Length and Transfer-Encoding came: the body is decoded as
    /// chunked, the Content-Length must be hidden from the application, and the connection
    /// must be closed after the response.
    pub fn hide_content_length(&self) -> bool {
        self.must_close && matches!(self.framing, Framing::Chunked)
    }
    /// Whether the method is `HEAD` (its response carries no body).
    pub fn is_head(&self) -> bool {
        self.method() == b"HEAD"
    }
    /// Whether a Connection header carried the `keep-alive` token (case-insensitive), whatever
    /// the version and whether or not `close` came too.
    pub fn asked_keep_alive(&self) -> bool {
        self.asked_keep_alive
    }
    /// What [`crate::plan_response`] needs to know about this request.
    pub fn info(&self) -> RequestInfo {
        RequestInfo {
            version: self.version,
            is_head: self.is_head(),
            keep_alive: self.keep_alive(),
            asked_keep_alive: self.asked_keep_alive,
        }
    }
}

/// The allocations of a [`RequestHead`] the caller is done with, for a decoder to build a
/// later head in ([`RequestDecoder::reuse_buffers`]). A server decoding many requests passes
/// them back so that a head costs no allocation in the steady state.
#[derive(Debug, Default)]
pub struct HeadBuffers {
    pub(crate) buf: Vec<u8>,
    pub(crate) headers: Vec<Header>,
}

impl HeadBuffers {
    /// The bytes both buffers can hold without growing.
    pub fn capacity(&self) -> usize {
        self.buf.capacity() + self.headers.capacity() * std::mem::size_of::<Header>()
    }
}

impl RequestHead {
    /// Gives up the head, keeping its allocations (emptied) for a later head.
    pub fn into_buffers(self) -> HeadBuffers {
        let mut buffers = HeadBuffers {
            buf: self.buf,
            headers: self.headers,
        };
        buffers.buf.clear();
        buffers.headers.clear();
        buffers
    }
}

/// What [`RequestDecoder::decode`] produced from the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete request head. Its body (if any) follows as `Data` events.
    Head(RequestHead),
    /// A piece of the decoded body: a sub-slice of the input (zero-copy).
    Data(&'a [u8]),
    /// The message (head and body, trailers included) is complete.
    End,
    /// Nothing can be decoded without more bytes (everything given so far is consumed or
    /// must be kept by the caller: see the `consumed` count).
    NeedMore,
    /// After `End`: the decoder waits for [`RequestDecoder::start_next`].
    Paused,
}

/// The request-side state machine: feed it bytes, get [`Event`]s.
///
/// The caller owns the buffer: it passes the unconsumed bytes to [`RequestDecoder::decode`],
/// which returns how many it consumed and one event. Bytes not consumed must be passed again,
/// with more appended, on the next call. Scanning for the end of a head resumes where it
/// stopped, so a head trickled in byte by byte costs linear time.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    state: State,
    /// Allocations to build the next head in (see [`RequestDecoder::reuse_buffers`]).
    spare: Option<HeadBuffers>,
}

/// Where the scan for the end of a head stands, as offsets into the caller's buffer.
#[derive(Debug, Clone, Copy, Default)]
struct HeadProgress {
    /// Bytes known not to end the head (all checked for CR, LF and NUL).
    scanned: usize,
    /// Where the line being scanned starts.
    line_start: usize,
    /// Complete lines before it, request line included.
    lines: usize,
    /// Bytes of empty lines (CRLF) consumed before the request line, across calls. Bounded by
    /// `max_request_line`, so a flood of CRLFs gets a 400 instead of being read forever.
    skipped: usize,
}

#[derive(Debug)]
enum State {
    /// Waiting for a head; scanning resumes where it stopped.
    Head(HeadProgress),
    /// Decoding a body.
    Body(BodyDecoder),
    /// `End` was returned; waiting for `start_next`.
    Done,
    /// An error was returned; it is returned forever.
    Failed(Error),
}

impl RequestDecoder {
    /// A decoder at the start of a connection, enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: State::Head(HeadProgress::default()),
            spare: None,
        }
    }

    /// Hands the decoder a finished head's allocations ([`RequestHead::into_buffers`]): the
    /// next head it decodes is built in them (growing them as needed) instead of in new ones.
    /// The result is the same either way. Buffers given while the decoder still holds some
    /// replace them.
    pub fn reuse_buffers(&mut self, buffers: HeadBuffers) {
        self.spare = Some(buffers);
    }

    /// Whether the decoder holds buffers for its next head (see
    /// [`RequestDecoder::reuse_buffers`]).
    pub fn has_buffers(&self) -> bool {
        self.spare.is_some()
    }

    /// Decodes from `input` (the caller's unconsumed bytes). Returns the number of bytes of
    /// `input` consumed and one event. On error the decoder is poisoned.
    ///
    /// At the start of a head, empty lines (CRLF) before the request line are consumed and
    /// ignored, as RFC 9112 section 2.2 allows, up to `max_request_line` bytes of them (more is
    /// [`Error::BadRequestLine`]); a bare LF there is still an error.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Event<'a>), Error> {
        let result = match &mut self.state {
            State::Failed(e) => return Err(*e),
            State::Done => return Ok((0, Event::Paused)),
            State::Head(progress) => {
                let progress = *progress;
                self.decode_head(input, progress)
            }
            State::Body(body) => match body.decode(input) {
                Ok(d) if !d.data.is_empty() => Ok((d.consumed, Event::Data(&input[d.data]))),
                Ok(d) if d.done => {
                    self.state = State::Done;
                    Ok((d.consumed, Event::End))
                }
                Ok(d) => Ok((d.consumed, Event::NeedMore)),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
        result
    }

    /// Looks for the end of the head, resuming at `progress`; parses the head once complete.
    fn decode_head<'a>(
        &mut self,
        input: &'a [u8],
        mut p: HeadProgress,
    ) -> Result<(usize, Event<'a>), Error> {
        if p.scanned > input.len() {
            // The caller broke the contract (fewer bytes than before): start over.
            p = HeadProgress::default();
        }
        let mut skip = 0;
        if p.scanned == 0 {
            while input[skip..].starts_with(b"\r\n") {
                skip += 2;
                if p.skipped + skip > self.limits.max_request_line {
                    return Err(Error::BadRequestLine);
                }
            }
            p.skipped += skip;
        }
        let buf = &input[skip..];
        let limits = &self.limits;
        let head_len = loop {
            let (max_line, too_long) = if p.lines == 0 {
                (limits.max_request_line, Error::RequestLineTooLong)
            } else {
                (limits.max_field_size, Error::HeadersTooLarge)
            };
            let cr = match scan_line(buf, p.line_start, p.scanned, max_line, limits.max_head_size) {
                Ok(Scan::Line(cr)) => cr,
                Ok(Scan::Partial(at)) => {
                    p.scanned = at;
                    self.state = State::Head(p);
                    return Ok((skip, Event::NeedMore));
                }
                Err(ScanError::LineEnding) => return Err(Error::BadLineEnding),
                Err(ScanError::LineTooLong) => return Err(too_long),
                Err(ScanError::TotalTooLarge) => return Err(Error::HeadersTooLarge),
            };
            let line = &buf[p.line_start..cr];
            if p.lines == 0 {
                if line.is_empty() {
                    return Err(Error::BadRequestLine);
                }
            } else if line.is_empty() {
                break cr + 2;
            } else if line.first().copied().is_some_and(is_ows) {
                return Err(Error::ObsFold);
            } else if p.lines > limits.max_header_count {
                // `lines - 1` fields were complete before this one.
                return Err(Error::HeadersTooLarge);
            }
            p.lines += 1;
            p.line_start = cr + 2;
            p.scanned = cr + 2;
        };
        let spare = self.spare.take().unwrap_or_default();
        let head = parse_head(&buf[..head_len], p.lines - 1, limits, spare)?;
        self.state = State::Body(BodyDecoder::new(head.framing(), limits));
        Ok((skip + head_len, Event::Head(head)))
    }

    /// Tells the decoder the peer closed its side. Returns `Err(Error::Incomplete)` if a
    /// message was in progress (some bytes of a head, or an unfinished body), `Ok(())` if the
    /// close came cleanly between messages. A close-delimited request body does not exist, so
    /// EOF never completes a message.
    ///
    /// `pending` is what the caller still holds after decoding all it could (the last
    /// [`RequestDecoder::decode`] returned [`Event::NeedMore`] or [`Event::Paused`]).
    /// Details:
    /// * waiting for a head: `Ok(())` if `pending` is empty or only empty lines (CRLF, and
    ///   possibly a final CR), else `Incomplete`;
    /// * in a body: `Incomplete` unless the body is complete (its `End` not yet returned);
    /// * after `End` (before `start_next`): `Ok(())`, whatever `pending` holds: those bytes
    ///   belong to a message not started yet, to be decoded after `start_next`;
    /// * poisoned: the poisoning error.
    ///
    /// On `Err(Incomplete)` the decoder is poisoned with it.
    pub fn eof(&mut self, pending: &[u8]) -> Result<(), Error> {
        let result = match &self.state {
            State::Failed(e) => return Err(*e),
            State::Done => Ok(()),
            State::Body(body) if body.is_done() => Ok(()),
            State::Body(_) => Err(Error::Incomplete),
            State::Head(_) => {
                let mut rest = pending;
                while let Some(after) = rest.strip_prefix(b"\r\n") {
                    rest = after;
                }
                if rest.is_empty() || rest == b"\r" {
                    Ok(())
                } else {
                    Err(Error::Incomplete)
                }
            }
        };
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
        result
    }

    /// After [`Event::End`], makes the decoder ready for the next request on the connection.
    pub fn start_next(&mut self) {
        if matches!(self.state, State::Done) {
            self.state = State::Head(HeadProgress::default());
        }
    }

    /// True while a head has been returned and its body is not finished.
    pub fn in_body(&self) -> bool {
        matches!(self.state, State::Body(_))
    }

    /// True after `End` and before `start_next`.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The error this decoder is poisoned with, if any.
    pub fn error(&self) -> Option<Error> {
        match self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }
}
