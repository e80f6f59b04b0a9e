//! The codec's error type: each variant knows the status code to answer with.

use std::fmt;

/// Why a request was rejected. Every variant maps to one status code ([`Error::status`]) and a
/// short reason ([`Error::reason`]) safe to show the client. The connection must be closed
/// after answering: the byte stream can no longer be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A bare CR, a bare LF or a NUL in the head or in chunk framing. 400.
    BadLineEnding,
    /// The request line is not `method SP target SP version`. 400.
    BadRequestLine,
    /// The method is not a token. 400.
    BadMethod,
    /// The target is empty, has a fragment, or has bytes not allowed in a target. 400.
    BadTarget,
    /// The version is not `HTTP/1.0` or `HTTP/1.1`, but is a well-formed HTTP version. 505.
    UnsupportedVersion,
    /// A header name is not a token, or whitespace precedes the colon. 400.
    BadHeaderName,
    /// A header value holds a control character. 400.
    BadHeaderValue,
    /// A header line starts with whitespace (obs-fold). 400.
    ObsFold,
    /// HTTP/1.1 without exactly one valid Host header. 400.
    BadHost,
    /// Content-Length is not ASCII digits, overflows, or repeats with different values. 400.
    BadContentLength,
    /// Transfer-Encoding is `chunked` more than once, or appears on HTTP/1.0. 400.
    BadTransferEncoding,
    /// A transfer coding other than a lone `chunked`. 501.
    UnsupportedTransferCoding,
    /// A chunk-size line is malformed (not hex, overflow, bad extension, missing CRLF). 400.
    BadChunk,
    /// A chunk-size line is longer than [`crate::Limits::max_chunk_line`]. 400.
    ChunkLineTooLong,
    /// A trailer field is malformed, or is a field that may not appear in trailers. 400.
    BadTrailer,
    /// The request line exceeds [`crate::Limits::max_request_line`]. 414.
    RequestLineTooLong,
    /// Too many header fields, a field too long, or the head too large. 431.
    HeadersTooLarge,
    /// The trailer section exceeds its limits. 431.
    TrailersTooLarge,
    /// The body exceeds [`crate::Limits::max_body_size`]. 413.
    BodyTooLarge,
    /// The peer closed the connection before the message was complete. Not answered.
    Incomplete,
}

impl Error {
    /// The status code to answer with (400, 413, 414, 431, 501 or 505).
    pub fn status(&self) -> u16 {
        match self {
            Error::UnsupportedVersion => 505,
            Error::UnsupportedTransferCoding => 501,
            Error::RequestLineTooLong => 414,
            Error::HeadersTooLarge | Error::TrailersTooLarge => 431,
            Error::BodyTooLarge => 413,
            _ => 400,
        }
    }

    /// A short, fixed reason phrase for the status line and log, never containing client bytes.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::BadLineEnding => "bad line ending",
            Error::BadRequestLine => "bad request line",
            Error::BadMethod => "bad method",
            Error::BadTarget => "bad request target",
            Error::UnsupportedVersion => "unsupported HTTP version",
            Error::BadHeaderName => "bad header name",
            Error::BadHeaderValue => "bad header value",
            Error::ObsFold => "obsolete line folding",
            Error::BadHost => "missing or bad Host",
            Error::BadContentLength => "bad Content-Length",
            Error::BadTransferEncoding => "bad Transfer-Encoding",
            Error::UnsupportedTransferCoding => "unsupported transfer coding",
            Error::BadChunk => "bad chunk",
            Error::ChunkLineTooLong => "chunk line too long",
            Error::BadTrailer => "bad trailer",
            Error::RequestLineTooLong => "request line too long",
            Error::HeadersTooLarge => "request header fields too large",
            Error::TrailersTooLarge => "trailer fields too large",
            Error::BodyTooLarge => "request body too large",
            Error::Incomplete => "incomplete request",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for Error {}
