//! `morello-http`: a sans-IO HTTP/1.1 *server* codec.
//!
//! Bytes go in, events come out; response heads and bodies are encoded to bytes. The crate knows
//! nothing of sockets, threads or Python, so it can be unit-tested, property-tested and fuzzed
//! on its own.
//!
//! `httparse` tokenizes request heads, and its byte rules for field names (`tchar`) and values
//! (HTAB, SP, VCHAR, obs-text) are exactly RFC 9110's, which a test checks for every byte value
//! (`tests/requests.rs`). The *framing* rules (what decides where one request ends and the
//! next begins) are our own on purpose: they are what makes request smuggling impossible, so
//! they are written out and tested here rather than delegated.
//!
//! # Design rules
//!
//! 1. **Strict, never lenient.** Anything ambiguous is an error: bare CR, bare LF, NUL,
//!    obs-fold, whitespace before a colon, a `+` or a space in a length, duplicate differing
//!    lengths, an unknown transfer coding. An error carries the status code to answer with.
//! 2. **An error is final.** After a [`Error`] the [`RequestDecoder`] is poisoned: it returns the
//!    same error forever and never yields another event. The server answers and closes; it
//!    never tries to resynchronise on the byte stream.
//! 3. **One message at a time.** After [`Event::End`] the decoder yields nothing more until the
//!    caller calls [`RequestDecoder::start_next`], which the server does only once the response
//!    to the current request is complete. Pipelined bytes wait in the caller's buffer.
//! 4. **Split-invariant.** The events produced do not depend on how the input is split into
//!    reads: feeding a message whole, byte by byte, or split at any point gives the same
//!    sequence (data events may be split differently, their concatenation is identical).
//! 5. **Bounded.** Every piece of state is bounded by a named limit in [`Limits`].
//!
//! # Request rules in detail
//!
//! * Lines end in CRLF only; a bare CR, a bare LF or a NUL anywhere in a head, a chunk-size
//!   line or a trailer line is [`Error::BadLineEnding`]. The bytes after chunk data must be
//!   exactly CRLF ([`Error::BadChunk`]).
//! * Content-Length: ASCII digits only, overflow-checked; a comma list or repeated fields are
//!   accepted when every element has the same value. It is syntax-checked even when
//!   Transfer-Encoding is also present (then it is otherwise ignored: the body is chunked,
//!   [`RequestHead::hide_content_length`] is true and the connection closes afterwards;
//!   the body size limit then applies to the chunked body only).
//! * Transfer-Encoding: only a lone `chunked` (one element in all fields) is supported.
//!   Checks, in order: any Transfer-Encoding on HTTP/1.0, an empty element, or `chunked`
//!   twice is 400 [`Error::BadTransferEncoding`]; anything else but a lone `chunked` is 501.
//! * Host: `reg-name / IPv4 / [IPv6]` then optionally `:` and one or more digits. Empty,
//!   a userinfo, or an empty port is [`Error::BadHost`], as are two Host fields. HTTP/1.1
//!   requires one (even with an absolute-form target).
//! * Trailer fields are validated like header fields, limited in size and count, then
//!   discarded; fields that could change framing, routing, connection handling or content
//!   interpretation (Content-Length, Transfer-Encoding, Host, Connection, Keep-Alive,
//!   Proxy-Connection, TE, Trailer, Trailers, Upgrade, Expect, Content-Type,
//!   Content-Encoding, Content-Range) are [`Error::BadTrailer`].
//! * Limit checks are made as bytes arrive, position by position, so the error reported is
//!   the same however the input is split.

pub mod body;
mod chunk;
pub mod date;
pub mod error;
mod head;
pub mod limits;
pub mod request;
pub mod response;
mod scan;
mod syntax;
pub mod target;

pub use body::{BodyDecoder, Decoded, Framing};
pub use chunk::is_forbidden_trailer;
pub use date::DateCache;
pub use error::Error;
pub use limits::Limits;
pub use request::{Event, HeadBuffers, Header, RequestDecoder, RequestHead, Version};
pub use response::{
    is_hop_by_hop, plan_response, validate_header_name, validate_header_value, validate_status,
    write_chunk, write_chunk_size, write_head, write_head_block, BodyFraming, FieldBlock,
    RequestInfo, ResponsePlan, LAST_CHUNK,
};
pub use target::{percent_decode_path, split_target, Target};
