//! A reference chunked-body decoder, written independently of `src/body.rs` and `src/chunk.rs`
//! for the differential fuzz target and the property tests: it walks the input one byte at a
//! time, straight from the grammar of RFC 9112 section 7.1 and the rules of `lib.rs`, with
//! no resumable state. It must agree with [`morello_http::BodyDecoder`] on every input: the
//! same body bytes, the same end, the same error.

use morello_http::{Error, Limits};

/// What the reference decoder made of a chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The body data decoded before the end or the error.
    pub body: Vec<u8>,
    /// `Ok(Some(n))`: complete, `n` bytes of input used (trailers included); `Ok(None)`: more
    /// input is needed; `Err(e)`: the input is rejected.
    pub end: Result<Option<usize>, Error>,
}

/// Where a line starting at `start` ends (the index of its CR), if the input holds it all.
/// Each byte is looked at in order: a content byte past `max` is `too_long`; a NUL, a bare
/// LF, or a CR not followed by LF is [`Error::BadLineEnding`].
fn line_end(
    input: &[u8],
    start: usize,
    max: usize,
    too_long: Error,
) -> Result<Option<usize>, Error> {
    let mut i = start;
    loop {
        let Some(&b) = input.get(i) else {
            return Ok(None);
        };
        match b {
            b'\r' => {
                return match input.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some(i)),
                    Some(_) => Err(Error::BadLineEnding),
                }
            }
            b'\n' | 0 => return Err(Error::BadLineEnding),
            _ if i - start >= max => return Err(too_long),
            _ => i += 1,
        }
    }
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// HTAB, SP, VCHAR or obs-text.
fn text(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// The chunk size of a chunk-size line (without CRLF), or `None` if the line is malformed:
/// `1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )`.
fn chunk_size(line: &[u8]) -> Option<u64> {
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        Size,
        BeforeSemi,
        BeforeName,
        Name,
        AfterName,
        BeforeValue,
        Token,
        Quoted,
        Escape,
        AfterQuoted,
    }
    let mut size: u64 = 0;
    let mut digits = 0;
    let mut s = S::Size;
    for &b in line {
        let ws = b == b' ' || b == b'\t';
        s = match (s, b) {
            (S::Size, _) if b.is_ascii_hexdigit() => {
                let d = (b as char).to_digit(16)?;
                size = size.checked_mul(16)?.checked_add(u64::from(d))?;
                digits += 1;
                S::Size
            }
            (S::Size | S::BeforeSemi | S::Name | S::AfterName | S::AfterQuoted, b';') => {
                S::BeforeName
            }
            (S::Size | S::BeforeSemi | S::AfterQuoted, _) if ws => S::BeforeSemi,
            (S::BeforeName, _) if ws => S::BeforeName,
            (S::BeforeName | S::Name, _) if tchar(b) => S::Name,
            (S::Name | S::AfterName, _) if ws => S::AfterName,
            (S::Name | S::AfterName, b'=') => S::BeforeValue,
            (S::BeforeValue, _) if ws => S::BeforeValue,
            (S::BeforeValue, b'"') => S::Quoted,
            (S::BeforeValue | S::Token, _) if tchar(b) => S::Token,
            (S::Token, _) if ws => S::BeforeSemi,
            (S::Token, b';') => S::BeforeName,
            (S::Quoted, b'"') => S::AfterQuoted,
            (S::Quoted, b'\\') => S::Escape,
            (S::Quoted | S::Escape, _) if text(b) => S::Quoted,
            _ => return None,
        };
    }
    // A line may end after the size, a name, a token value or a closing quote.
    let complete = matches!(s, S::Size | S::Name | S::Token | S::AfterQuoted);
    (digits > 0 && complete).then_some(size)
}

/// Fields that may not appear in a trailer section.
const FORBIDDEN: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "upgrade",
    "expect",
    "content-type",
    "content-encoding",
    "content-range",
];

/// `token ":" OWS field-value OWS`, not a forbidden field.
fn trailer_ok(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = &line[..colon];
    !name.is_empty()
        && name.iter().all(|&b| tchar(b))
        && line[colon + 1..].iter().all(|&b| text(b))
        && !FORBIDDEN
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
}

/// Decodes `input` as a chunked body under `limits`.
pub fn decode_chunked(limits: &Limits, input: &[u8]) -> Reference {
    let mut body = Vec::new();
    let end = decode_into(limits, input, &mut body);
    Reference { body, end }
}

fn decode_into(limits: &Limits, input: &[u8], body: &mut Vec<u8>) -> Result<Option<usize>, Error> {
    let mut pos = 0;
    let mut received: u64 = 0;
    // Chunks.
    loop {
        let Some(cr) = line_end(input, pos, limits.max_chunk_line, Error::ChunkLineTooLong)? else {
            return Ok(None);
        };
        let size = chunk_size(&input[pos..cr]).ok_or(Error::BadChunk)?;
        pos = cr + 2;
        if size == 0 {
            break;
        }
        received = received.checked_add(size).ok_or(Error::BodyTooLarge)?;
        if limits.max_body_size != 0 && received > limits.max_body_size {
            return Err(Error::BodyTooLarge);
        }
        let avail = (input.len() - pos) as u64;
        if avail < size {
            body.extend_from_slice(&input[pos..]);
            return Ok(None);
        }
        let end = pos + size as usize;
        body.extend_from_slice(&input[pos..end]);
        pos = end;
        for expected in *b"\r\n" {
            match input.get(pos) {
                None => return Ok(None),
                Some(&b) if b == expected => pos += 1,
                Some(_) => return Err(Error::BadChunk),
            }
        }
    }
    // Trailers.
    let mut size = 0usize;
    let mut count = 0usize;
    loop {
        let budget = limits.max_trailer_size.saturating_sub(size);
        let Some(cr) = line_end(input, pos, budget, Error::TrailersTooLarge)? else {
            return Ok(None);
        };
        let line = &input[pos..cr];
        pos = cr + 2;
        if line.is_empty() {
            return Ok(Some(pos));
        }
        count += 1;
        if count > limits.max_header_count {
            return Err(Error::TrailersTooLarge);
        }
        if !trailer_ok(line) {
            return Err(Error::BadTrailer);
        }
        size += line.len();
    }
}
