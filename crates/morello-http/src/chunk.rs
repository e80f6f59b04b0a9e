//! Grammar of chunk-size lines and trailer fields (RFC 9112 section 7.1).

use crate::error::Error;
use crate::syntax::{is_field_value_byte, is_ows, is_tchar, is_token, trim_ows};

/// Fields that may not appear in a trailer section: they would affect framing, routing,
/// connection management or how the content is interpreted (RFC 9110 section 6.5.1).
const FORBIDDEN_TRAILERS: &[&[u8]] = &[
    b"content-length",
    b"transfer-encoding",
    b"host",
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"trailers",
    b"upgrade",
    b"expect",
    b"content-type",
    b"content-encoding",
    b"content-range",
];

/// True if a field named `name` (any case) may not appear in a trailer section: the fields
/// that affect framing, routing, connection management or how the content is interpreted
/// (listed in the crate documentation). A trailer line with such a name is
/// [`Error::BadTrailer`].
pub fn is_forbidden_trailer(name: &[u8]) -> bool {
    FORBIDDEN_TRAILERS
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

fn skip_ows(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_ows(b)).count();
    &s[n..]
}

fn skip_token(s: &[u8]) -> Option<&[u8]> {
    let n = s.iter().take_while(|&&b| is_tchar(b)).count();
    if n == 0 {
        None
    } else {
        Some(&s[n..])
    }
}

/// Skips a quoted-string (starting at its opening DQUOTE); returns what follows it.
fn skip_quoted(s: &[u8]) -> Option<&[u8]> {
    let mut rest = s.strip_prefix(b"\"")?;
    loop {
        match rest {
            [b'"', after @ ..] => return Some(after),
            [b'\\', escaped, after @ ..] if is_field_value_byte(*escaped) => rest = after,
            [b, after @ ..] if *b != b'\\' && *b != b'"' && is_field_value_byte(*b) => {
                rest = after;
            }
            _ => return None,
        }
    }
}

/// Parses a chunk-size line (without its CRLF): `1*HEXDIG *( BWS ";" BWS name [ BWS "="
/// BWS ( token / quoted-string ) ] )`. Returns the chunk size.
pub(crate) fn parse_chunk_line(line: &[u8]) -> Result<u64, Error> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(Error::BadChunk);
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b.wrapping_sub(b'A').wrapping_add(10),
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(d)))
            .ok_or(Error::BadChunk)?;
    }
    let mut rest = &line[digits..];
    while !rest.is_empty() {
        let after_semi = skip_ows(rest).strip_prefix(b";").ok_or(Error::BadChunk)?;
        let after_name = skip_token(skip_ows(after_semi)).ok_or(Error::BadChunk)?;
        rest = match skip_ows(after_name).strip_prefix(b"=") {
            Some(value) => {
                let value = skip_ows(value);
                if value.starts_with(b"\"") {
                    skip_quoted(value)
                } else {
                    skip_token(value)
                }
                .ok_or(Error::BadChunk)?
            }
            None => after_name,
        };
    }
    Ok(size)
}

/// Checks one trailer field line (without its CRLF): `token ":" OWS value OWS`, with no
/// obs-fold and no field from [`FORBIDDEN_TRAILERS`].
pub(crate) fn check_trailer(line: &[u8]) -> Result<(), Error> {
    let colon = memchr::memchr(b':', line).ok_or(Error::BadTrailer)?;
    let name = &line[..colon];
    if !is_token(name) {
        return Err(Error::BadTrailer);
    }
    if !trim_ows(&line[colon + 1..])
        .iter()
        .all(|&b| is_field_value_byte(b))
    {
        return Err(Error::BadTrailer);
    }
    if is_forbidden_trailer(name) {
        return Err(Error::BadTrailer);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_chunk_line(b"0"), Ok(0));
        assert_eq!(parse_chunk_line(b"1a"), Ok(26));
        assert_eq!(parse_chunk_line(b"FF"), Ok(255));
        assert_eq!(parse_chunk_line(b"000010"), Ok(16));
        assert_eq!(parse_chunk_line(b"ffffffffffffffff"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"0x1",
            b"+1",
            b"-1",
            b" 1",
            b"1 ",
            b"1\t",
            b"g",
            b"10000000000000000",
            b"1;",
            b"1;=x",
            b"1;a=",
            b"1;a=\"x",
            b"1;a=b c",
            b"1;a b",
            b"1;a=\"\x01\"",
            b"1;a=\"\\\x01\"",
            b"1;\x80",
            b"1,a",
        ] {
            assert_eq!(parse_chunk_line(bad), Err(Error::BadChunk), "{bad:?}");
        }
    }

    #[test]
    fn extensions() {
        for ok in [
            &b"1;a"[..],
            b"1;a=b",
            b"1 ;a",
            b"1\t; a = b",
            b"1;a=\"quoted \\\" value\xff\";b;c=d",
            b"1;a=\"\"",
        ] {
            assert_eq!(parse_chunk_line(ok), Ok(1), "{ok:?}");
        }
    }

    #[test]
    fn trailers() {
        assert_eq!(check_trailer(b"X-Checksum: abc"), Ok(()));
        assert_eq!(check_trailer(b"X-Empty:"), Ok(()));
        assert_eq!(check_trailer(b"X-Obs: \xa0\x85"), Ok(()));
        for bad in [
            &b"X-A : b"[..],
            b" X-A: b",
            b"X-A b",
            b": b",
            b"X-A: \x01",
            b"X-A: a\x7fb",
            b"Content-Length: 5",
            b"transfer-encoding: chunked",
            b"HOST: h",
            b"Connection: close",
            b"Trailer: x",
            b"Content-Type: text/plain",
        ] {
            assert_eq!(check_trailer(bad), Err(Error::BadTrailer), "{bad:?}");
        }
    }
}
