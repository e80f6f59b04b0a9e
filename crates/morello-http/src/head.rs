//! Turning the bytes of a complete head into a validated [`RequestHead`].
//!
//! The decoder has already checked line endings and the size limits; here the request line is
//! split and checked, `httparse` tokenizes the header fields, and the framing, Host and
//! connection rules are applied.

use std::ops::Range;

use crate::body::Framing;
use crate::error::Error;
use crate::limits::Limits;
use crate::request::{HeadBuffers, Header, RequestHead, Version};
use crate::syntax::trim_ows;
use crate::syntax::{is_authority, is_token, list_elements, parse_decimal};

/// Header arrays up to this size live on the stack.
const STACK_HEADERS: usize = 64;

/// Parses `head` (request line, fields and the final empty line, all CRLF-terminated, as
/// checked by the decoder) holding exactly `field_count` fields, into `spare`'s allocations
/// (empty ones allocate).
pub(crate) fn parse_head(
    head: &[u8],
    field_count: usize,
    limits: &Limits,
    spare: HeadBuffers,
) -> Result<RequestHead, Error> {
    let line_end = memchr::memchr(b'\r', head).ok_or(Error::BadRequestLine)?;
    let (method, target, version) = parse_request_line(&head[..line_end])?;
    let fields_at = line_end + 2;
    let block = head.get(fields_at..).ok_or(Error::BadRequestLine)?;

    let HeadBuffers {
        buf: mut head_buf,
        mut headers,
    } = spare;
    headers.clear();
    headers.reserve(field_count);
    // httparse fills an initialized slot array; sizing it to the field count keeps the
    // zeroing small (64 slots are 2 KiB, which cost more than tokenizing a short head).
    match field_count {
        0..=8 => tokenize_on_stack::<8>(block, fields_at, field_count, &mut headers)?,
        9..=16 => tokenize_on_stack::<16>(block, fields_at, field_count, &mut headers)?,
        17..=32 => tokenize_on_stack::<32>(block, fields_at, field_count, &mut headers)?,
        33..=STACK_HEADERS => {
            tokenize_on_stack::<STACK_HEADERS>(block, fields_at, field_count, &mut headers)?
        }
        _ => {
            let mut slots = vec![httparse::EMPTY_HEADER; field_count];
            tokenize(block, fields_at, &mut slots, &mut headers)?;
        }
    }

    head_buf.clear();
    head_buf.extend_from_slice(head);
    let mut head = RequestHead {
        buf: head_buf,
        method,
        target,
        version,
        headers,
        framing: Framing::Empty,
        keep_alive: false,
        asked_keep_alive: false,
        expect_continue: false,
        must_close: false,
    };
    apply_semantics(&mut head, limits)?;
    Ok(head)
}

/// [`tokenize`] with `count` (at most `N`) slots on the stack.
fn tokenize_on_stack<const N: usize>(
    block: &[u8],
    base: usize,
    count: usize,
    out: &mut Vec<Header>,
) -> Result<(), Error> {
    let mut slots = [httparse::EMPTY_HEADER; N];
    let slots = slots.get_mut(..count).ok_or(Error::HeadersTooLarge)?;
    tokenize(block, base, slots, out)
}

/// Runs `httparse` over the field block and records each field as ranges into the head.
fn tokenize<'b>(
    block: &'b [u8],
    base: usize,
    slots: &mut [httparse::Header<'b>],
    out: &mut Vec<Header>,
) -> Result<(), Error> {
    let expected = slots.len();
    let parsed = match httparse::parse_headers(block, slots) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        Ok(httparse::Status::Partial) => return Err(Error::BadHeaderName),
        Err(httparse::Error::HeaderValue) => return Err(Error::BadHeaderValue),
        Err(httparse::Error::NewLine) => return Err(Error::BadLineEnding),
        Err(httparse::Error::TooManyHeaders) => return Err(Error::HeadersTooLarge),
        Err(_) => return Err(Error::BadHeaderName),
    };
    if parsed.len() != expected {
        return Err(Error::BadHeaderName);
    }
    // httparse accepts a name only if every byte is a `tchar`, and a value only if every byte
    // is HTAB, SP, VCHAR or obs-text: exactly RFC 9110's rules, which are ours. The fields are
    // not scanned a second time: for a browser's request (13 fields) that second scan was
    // 1,700 of the 36,700 instructions the whole server spent on it (callgrind,
    // `bench/instructions.py --head browser`). Instead `tests/requests.rs`
    // (`field_bytes_are_accepted_exactly_by_the_grammar`) tries every byte value at positions
    // that reach httparse's scalar, SWAR and SIMD scanners, and fails if an upgrade ever
    // loosens either rule.
    for field in parsed {
        let name = field.name.as_bytes();
        let value = trim_ows(field.value);
        out.push(Header {
            name: range_in(block, name, base)?,
            value: range_in(block, value, base)?,
        });
    }
    Ok(())
}

/// The range of `inner` (a sub-slice of `outer`) shifted by `base`.
fn range_in(outer: &[u8], inner: &[u8], base: usize) -> Result<Range<usize>, Error> {
    let start = (inner.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
    let end = start.checked_add(inner.len()).ok_or(Error::BadHeaderName)?;
    if end > outer.len() {
        return Err(Error::BadHeaderName);
    }
    let shift = |i: usize| base.checked_add(i).ok_or(Error::BadHeaderName);
    Ok(shift(start)?..shift(end)?)
}

/// Splits `method SP target SP version` and checks each part.
fn parse_request_line(line: &[u8]) -> Result<(Range<usize>, Range<usize>, Version), Error> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::BadRequestLine);
    };
    if method.is_empty() || version.is_empty() {
        return Err(Error::BadRequestLine);
    }
    if !is_token(method) {
        return Err(Error::BadMethod);
    }
    let version = parse_version(version)?;
    check_target(method, target)?;
    let target_at = method.len() + 1;
    Ok((
        0..method.len(),
        target_at..target_at + target.len(),
        version,
    ))
}

/// `HTTP/1.0` and `HTTP/1.1` are supported; any other `HTTP/d.d` is 505; the rest is 400.
fn parse_version(v: &[u8]) -> Result<Version, Error> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(Error::UnsupportedVersion)
        }
        _ => Err(Error::BadRequestLine),
    }
}

/// Checks the request target's form against the method (RFC 9112 section 3.2).
fn check_target(method: &[u8], target: &[u8]) -> Result<(), Error> {
    if target.is_empty()
        || target
            .iter()
            .any(|&b| !(0x21..=0x7e).contains(&b) || b == b'#')
    {
        return Err(Error::BadTarget);
    }
    let ok = if method == b"CONNECT" {
        is_authority(target, true)
    } else if target == b"*" {
        method == b"OPTIONS"
    } else if target.starts_with(b"/") {
        true
    } else {
        is_absolute_form(target)
    };
    if ok {
        Ok(())
    } else {
        Err(Error::BadTarget)
    }
}

/// `http://authority[/path][?query]` or the same with `https` (scheme case-insensitive).
/// Userinfo (`user@`) is rejected, as RFC 9110 section 4.2.4 recommends.
fn is_absolute_form(target: &[u8]) -> bool {
    let Some(rest) = crate::target::strip_http_scheme(target) else {
        return false;
    };
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    is_authority(&rest[..end], false)
}

fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Framing, Host, Connection and Expect rules.
///
/// Order of checks: each field in order (syntax of Content-Length, duplicate or bad Host),
/// then a missing Host, then Transfer-Encoding, then the body size limit.
fn apply_semantics(head: &mut RequestHead, limits: &Limits) -> Result<(), Error> {
    let mut content_length: Option<u64> = None;
    let mut te_seen = false;
    let mut te_elements = 0usize;
    let mut te_chunked = 0usize;
    let mut te_empty = false;
    let mut hosts = 0usize;
    let mut close = false;
    let mut asked_keep_alive = false;
    let mut expect_continue = false;

    for (name, value) in head.headers() {
        if eq_ci(name, b"content-length") {
            for element in list_elements(value) {
                let n = parse_decimal(element).ok_or(Error::BadContentLength)?;
                if content_length.is_some_and(|prev| prev != n) {
                    return Err(Error::BadContentLength);
                }
                content_length = Some(n);
            }
        } else if eq_ci(name, b"transfer-encoding") {
            te_seen = true;
            for element in list_elements(value) {
                te_elements += 1;
                if element.is_empty() {
                    te_empty = true;
                } else if eq_ci(element, b"chunked") {
                    te_chunked += 1;
                }
            }
        } else if eq_ci(name, b"host") {
            hosts += 1;
            if hosts > 1 || !is_authority(value, false) {
                return Err(Error::BadHost);
            }
        } else if eq_ci(name, b"connection") {
            for element in list_elements(value) {
                close |= eq_ci(element, b"close");
                asked_keep_alive |= eq_ci(element, b"keep-alive");
            }
        } else if eq_ci(name, b"expect") {
            expect_continue |= eq_ci(value, b"100-continue");
        }
    }

    let http11 = head.version == Version::Http11;
    if http11 && hosts == 0 {
        return Err(Error::BadHost);
    }
    head.framing = if te_seen {
        if !http11 || te_empty || te_chunked > 1 {
            return Err(Error::BadTransferEncoding);
        }
        if te_elements != 1 || te_chunked != 1 {
            return Err(Error::UnsupportedTransferCoding);
        }
        head.must_close = content_length.is_some();
        Framing::Chunked
    } else {
        match content_length {
            None | Some(0) => Framing::Empty,
            Some(n) if limits.max_body_size != 0 && n > limits.max_body_size => {
                return Err(Error::BodyTooLarge);
            }
            Some(n) => Framing::Length(n),
        }
    };
    head.keep_alive = !close && (http11 || asked_keep_alive);
    head.asked_keep_alive = asked_keep_alive;
    head.expect_continue = http11 && expect_continue;
    Ok(())
}
