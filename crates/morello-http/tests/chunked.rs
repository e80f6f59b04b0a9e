//! Chunked bodies: chunk-size lines, extensions, data framing and trailers.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use morello_http::{BodyDecoder, Decoded, Error, Framing, Limits};

fn body_of(chunks: &str) -> Vec<u8> {
    check_ok(&chunked(chunks)).body
}

#[test]
fn simple_chunks() {
    assert_eq!(
        body_of("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        b"hello world"
    );
    assert_eq!(body_of("0\r\n\r\n"), b"");
    assert_eq!(body_of("A\r\n0123456789\r\n0\r\n\r\n"), b"0123456789");
    assert_eq!(body_of("a\r\n0123456789\r\n000\r\n\r\n"), b"0123456789");
    assert_eq!(body_of("0001\r\nx\r\n0\r\n\r\n"), b"x");
}

#[test]
fn chunk_data_may_hold_anything() {
    let m = check_ok(&post_with(
        "Transfer-Encoding: chunked\r\n",
        b"6\r\n\r\n\0\n\r\xff\r\n0\r\n\r\n",
    ));
    assert_eq!(m.body, b"\r\n\0\n\r\xff");
}

#[test]
fn chunk_size_must_be_bare_hex() {
    for bad in [
        "0x1\r\na\r\n0\r\n\r\n",
        "+1\r\na\r\n0\r\n\r\n",
        "-1\r\na\r\n0\r\n\r\n",
        "1 \r\na\r\n0\r\n\r\n",
        " 1\r\na\r\n0\r\n\r\n",
        "\t1\r\na\r\n",
        "g\r\n",
        "\r\n",
        "1\t\r\na\r\n",
        "1,2\r\n",
    ] {
        check_err(&chunked(bad), Error::BadChunk);
    }
}

#[test]
fn chunk_size_overflow_is_rejected() {
    check_err(&chunked("10000000000000000\r\n"), Error::BadChunk);
    check_err(&chunked("fffffffffffffffffffff\r\n"), Error::BadChunk);
    // The largest size parses; the body simply never finishes.
    let out = check(&chunked("ffffffffffffffff\r\nabc"));
    assert_eq!(out.messages[0].body, b"abc");
    assert_eq!(out.eof, Some(Err(Error::Incomplete)));
}

#[test]
fn valid_chunk_extensions() {
    for ext in [
        &b";a"[..],
        b";a=b",
        b" ;a",
        b"\t;\ta\t=\tb",
        b";a=\"q u o\\\"t\\\\ed\";b;c=d",
        b";a=\"\"",
        b";a=\"\xff\"",
        b";!#$%&'*+-.^_`|~=x",
    ] {
        let mut body = b"3".to_vec();
        body.extend_from_slice(ext);
        body.extend_from_slice(b"\r\nabc\r\n0");
        body.extend_from_slice(ext);
        body.extend_from_slice(b"\r\n\r\n");
        let m = check_ok(&post_with("Transfer-Encoding: chunked\r\n", &body));
        assert_eq!(m.body, b"abc", "{ext:?}");
    }
}

#[test]
fn invalid_chunk_extensions() {
    for ext in [
        ";",
        "; ",
        ";=b",
        ";a=",
        ";a=\"b",
        ";a b",
        ";a=b c",
        ";a=b;",
        ";a=(b)",
        ";a@b",
        ";a=\"\x01\"",
        ";a=\"b\"c",
        ";a ",
        ";a=b ",
        "g",
    ] {
        let body = format!("3{ext}\r\nabc\r\n0\r\n\r\n");
        check_err(
            &post_with("Transfer-Encoding: chunked\r\n", body.as_bytes()),
            Error::BadChunk,
        );
    }
}

#[test]
fn line_endings_in_chunk_lines() {
    check_err(&chunked("3\nabc\r\n0\r\n\r\n"), Error::BadLineEnding);
    check_err(&chunked("3\rabc\r\n0\r\n\r\n"), Error::BadLineEnding);
    check_err(
        &post_with("Transfer-Encoding: chunked\r\n", b"3\0\r\nabc\r\n0\r\n\r\n"),
        Error::BadLineEnding,
    );
    check_err(
        &post_with(
            "Transfer-Encoding: chunked\r\n",
            b"3;a=\"\0\"\r\nabc\r\n0\r\n\r\n",
        ),
        Error::BadLineEnding,
    );
    check_err(&chunked("3\r\nabc\r\n0\n\r\n"), Error::BadLineEnding);
    check_err(&chunked("3\r\nabc\r\n0\r\n\n"), Error::BadLineEnding);
    check_err(
        &chunked("3\r\nabc\r\n0\r\nX: y\n\r\n"),
        Error::BadLineEnding,
    );
    check_err(
        &post_with(
            "Transfer-Encoding: chunked\r\n",
            b"3\r\nabc\r\n0\r\nX: \0\r\n\r\n",
        ),
        Error::BadLineEnding,
    );
}

#[test]
fn chunk_data_must_be_followed_by_crlf() {
    for bad in [
        "3\r\nabcd\r\n0\r\n\r\n",
        "3\r\nabc\n0\r\n\r\n",
        "3\r\nabc\r0\r\n\r\n",
        "3\r\nab\r\n0\r\n\r\n",
        "3\r\nabc0\r\n\r\n",
    ] {
        let out = check_err(&chunked(bad), Error::BadChunk);
        assert_eq!(out.messages.len(), 1);
    }
    // The data itself was delivered before the framing error was seen.
    let out = check_err(&chunked("3\r\nabcX"), Error::BadChunk);
    assert_eq!(out.messages[0].body, b"abc");
}

#[test]
fn chunk_line_flood_is_stopped() {
    let limits = Limits {
        max_chunk_line: 16,
        ..Limits::default()
    };
    // Exactly at the limit is fine.
    let ok = format!("1;{}\r\nx\r\n0\r\n\r\n", "a".repeat(14));
    assert_eq!(check_ok_with(&limits, &chunked(&ok)).body, b"x");
    // One byte more is refused, even before the CRLF arrives.
    let long = format!("1;{}", "a".repeat(15));
    check_err_with(&limits, &chunked(&long), Error::ChunkLineTooLong);
    check_err_with(
        &limits,
        &chunked(&format!("{long}\r\nx\r\n0\r\n\r\n")),
        Error::ChunkLineTooLong,
    );
    // Leading zeros count too.
    check_err_with(&limits, &chunked(&"0".repeat(17)), Error::ChunkLineTooLong);
    // Default limit, long flood fed in pieces.
    let flood = format!("1{}", ";a=b".repeat(2000));
    let out = check(&chunked(&flood));
    assert_eq!(out.error, Some(Error::ChunkLineTooLong));
    assert_eq!(Error::ChunkLineTooLong.status(), 400);
}

#[test]
fn trailers_are_validated_and_discarded() {
    let m = check_ok(&chunked(
        "3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other:\t v \t\r\n\r\n",
    ));
    assert_eq!(m.body, b"abc");
    assert!(m.head.header("x-checksum").is_none());
    let m = check_ok(&post_with(
        "Transfer-Encoding: chunked\r\n",
        b"0\r\nX-A: \xa0\x85\xff\r\n\r\n",
    ));
    assert!(m.body.is_empty());
}

#[test]
fn forbidden_trailers() {
    for field in [
        "Content-Length: 5",
        "Transfer-Encoding: chunked",
        "Host: a",
        "connection: close",
        "Trailer: x",
        "TE: trailers",
        "Content-Type: text/plain",
        "Content-Encoding: gzip",
        "Upgrade: h2c",
        "Keep-Alive: 5",
        "Expect: 100-continue",
    ] {
        check_err(
            &chunked(&format!("0\r\n{field}\r\n\r\n")),
            Error::BadTrailer,
        );
    }
}

#[test]
fn malformed_trailers() {
    for field in [
        "X-A : b",
        " X-A: b",
        "\tX-A: b",
        "X-A",
        ": b",
        "X(A): b",
        "X-A: \x01",
        "X-A: a\x7f",
    ] {
        check_err(
            &chunked(&format!("0\r\nX-Ok: 1\r\n{field}\r\n\r\n")),
            Error::BadTrailer,
        );
    }
}

#[test]
fn trailer_limits() {
    let limits = Limits {
        max_trailer_size: 20,
        max_header_count: 3,
        ..Limits::default()
    };
    // 10 + 10 bytes of field lines: exactly at the limit.
    check_ok_with(&limits, &chunked("0\r\nX-A: 12345\r\nX-B: 12345\r\n\r\n"));
    check_err_with(
        &limits,
        &chunked("0\r\nX-A: 12345\r\nX-B: 123456\r\n\r\n"),
        Error::TrailersTooLarge,
    );
    // Detected before the line ends.
    check_err_with(
        &limits,
        &chunked("0\r\nX-A: 12345678901234567890"),
        Error::TrailersTooLarge,
    );
    // Count: 3 allowed, 4 refused.
    check_ok_with(&limits, &chunked("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"));
    check_err_with(
        &limits,
        &chunked("0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"),
        Error::TrailersTooLarge,
    );
    assert_eq!(Error::TrailersTooLarge.status(), 431);
    // Default limits: a huge trailer section.
    let big = format!(
        "0\r\n{}\r\n",
        "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(300)
    );
    check_err(&chunked(&big), Error::TrailersTooLarge);
}

#[test]
fn chunked_body_size_limit() {
    let limits = Limits {
        max_body_size: 5,
        ..Limits::default()
    };
    assert_eq!(
        check_ok_with(&limits, &chunked("2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n")).body,
        b"abcde"
    );
    let out = check_err_with(
        &limits,
        &chunked("2\r\nab\r\n4\r\ncdef\r\n0\r\n\r\n"),
        Error::BodyTooLarge,
    );
    assert_eq!(out.messages[0].body, b"ab");
    check_err_with(&limits, &chunked("6\r\n"), Error::BodyTooLarge);
    check_err_with(
        &limits,
        &chunked("ffffffffffffffff\r\n"),
        Error::BodyTooLarge,
    );
}

#[test]
fn chunked_then_pipelined_request() {
    let mut input = chunked("3\r\nabc\r\n0\r\n\r\n");
    input.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    let out = check(&input);
    assert_eq!(out.messages.len(), 2);
    assert_eq!(out.messages[0].body, b"abc");
    assert_eq!(out.messages[1].head.target, b"/next");
    assert_eq!(out.eof, Some(Ok(())));
}

// ---- BodyDecoder on its own ----

#[test]
fn body_decoder_direct() {
    let limits = Limits::default();
    let mut d = BodyDecoder::new(Framing::Chunked, &limits);
    assert!(!d.is_done());
    assert_eq!(
        d.decode(b"").unwrap(),
        Decoded {
            consumed: 0,
            data: 0..0,
            done: false
        }
    );
    assert_eq!(
        d.decode(b"3\r").unwrap(),
        Decoded {
            consumed: 0,
            data: 0..0,
            done: false
        }
    );
    assert_eq!(
        d.decode(b"3\r\nab").unwrap(),
        Decoded {
            consumed: 5,
            data: 3..5,
            done: false
        }
    );
    assert_eq!(d.received(), 2);
    assert_eq!(
        d.decode(b"c\r\n0\r\n").unwrap(),
        Decoded {
            consumed: 1,
            data: 0..1,
            done: false
        }
    );
    assert_eq!(
        d.decode(b"\r\n0\r\n").unwrap(),
        Decoded {
            consumed: 5,
            data: 5..5,
            done: false
        }
    );
    assert_eq!(
        d.decode(b"\r\nrest").unwrap(),
        Decoded {
            consumed: 2,
            data: 2..2,
            done: true
        }
    );
    assert!(d.is_done());
    assert_eq!(
        d.decode(b"rest").unwrap(),
        Decoded {
            consumed: 0,
            data: 0..0,
            done: true
        }
    );
    assert_eq!(d.received(), 3);

    let mut d = BodyDecoder::new(Framing::Length(4), &limits);
    assert_eq!(
        d.decode(b"ab").unwrap(),
        Decoded {
            consumed: 2,
            data: 0..2,
            done: false
        }
    );
    assert_eq!(
        d.decode(b"cdef").unwrap(),
        Decoded {
            consumed: 2,
            data: 0..2,
            done: true
        }
    );
    assert!(d.is_done());
    assert_eq!(
        d.decode(b"ef").unwrap(),
        Decoded {
            consumed: 0,
            data: 0..0,
            done: true
        }
    );

    let mut d = BodyDecoder::new(Framing::Empty, &limits);
    assert!(d.is_done());
    assert_eq!(
        d.decode(b"x").unwrap(),
        Decoded {
            consumed: 0,
            data: 0..0,
            done: true
        }
    );

    let mut d = BodyDecoder::new(Framing::Chunked, &limits);
    assert_eq!(d.decode(b"z\r\n"), Err(Error::BadChunk));
    assert_eq!(d.decode(b"0\r\n\r\n"), Err(Error::BadChunk));
}
