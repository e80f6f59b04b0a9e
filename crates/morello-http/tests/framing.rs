//! Content-Length and Transfer-Encoding rules: what decides where a request ends.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use morello_http::{Error, Framing, Limits};

fn cl(value: &str) -> Vec<u8> {
    post_with(&format!("Content-Length: {value}\r\n"), b"hello")
}

#[test]
fn content_length_body() {
    let m = check_ok(&cl("5"));
    assert_eq!(m.head.framing, Framing::Length(5));
    assert_eq!(m.body, b"hello");
    assert!(!m.head.hide_content_length);
    assert!(m.head.keep_alive);
}

#[test]
fn content_length_zero_is_empty() {
    let m = check_ok(&post_with("Content-Length: 0\r\n", b""));
    assert_eq!(m.head.framing, Framing::Empty);
    let m = check_ok(&post_with("Content-Length: 000\r\n", b""));
    assert_eq!(m.head.framing, Framing::Empty);
}

#[test]
fn no_length_means_no_body() {
    let out = check(&post_with("", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert_eq!(out.messages.len(), 2);
    assert_eq!(out.messages[0].head.framing, Framing::Empty);
    assert!(out.messages[0].body.is_empty());
}

#[test]
fn content_length_whitespace_is_trimmed() {
    assert_eq!(check_ok(&cl(" 5 ")).head.framing, Framing::Length(5));
    assert_eq!(check_ok(&cl("\t5\t")).head.framing, Framing::Length(5));
    assert_eq!(check_ok(&cl("005")).head.framing, Framing::Length(5));
}

#[test]
fn content_length_lists_of_equal_values() {
    assert_eq!(check_ok(&cl("5,5")).head.framing, Framing::Length(5));
    assert_eq!(check_ok(&cl("5, 5 ,5")).head.framing, Framing::Length(5));
    let two = post_with("Content-Length: 5\r\nContent-Length: 5\r\n", b"hello");
    assert_eq!(check_ok(&two).head.framing, Framing::Length(5));
    let two = post_with("Content-Length: 5\r\ncontent-length: 05\r\n", b"hello");
    assert_eq!(check_ok(&two).head.framing, Framing::Length(5));
}

#[test]
fn bad_content_lengths() {
    for bad in [
        "+5",
        "-5",
        "-1",
        "0x5",
        "5 5",
        "5,6",
        "5,",
        ",5",
        "5,,5",
        "",
        "five",
        "5.0",
        "1e3",
        "\u{ff15}",
        "99999999999999999999999",
        "18446744073709551616",
    ] {
        check_err(&cl(bad), Error::BadContentLength);
    }
    check_err(
        &post_with("Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
        Error::BadContentLength,
    );
    check_err(
        &post_with("Content-Length: 5\r\nContent-Length: \r\n", b"hello"),
        Error::BadContentLength,
    );
    check_err(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xa05\r\n\r\n",
        Error::BadContentLength,
    );
}

#[test]
fn largest_content_length_is_accepted() {
    let out = check(&post_with(
        "Content-Length: 18446744073709551615\r\n",
        b"abc",
    ));
    assert_eq!(out.messages[0].head.framing, Framing::Length(u64::MAX));
    assert_eq!(out.messages[0].body, b"abc");
    assert_eq!(out.eof, Some(Err(Error::Incomplete)));
}

#[test]
fn content_length_body_stops_at_the_length() {
    let input = post_with(
        "Content-Length: 3\r\n",
        b"abcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let out = check(&input);
    assert_eq!(out.messages.len(), 2);
    assert_eq!(out.messages[0].body, b"abc");
    assert_eq!(out.messages[1].head.method, b"GET");
    // The bytes after the body are the next request even when they look like body.
    let out = check(&post_with("Content-Length: 3\r\n", b"abcdef"));
    assert_eq!(out.messages[0].body, b"abc");
    assert_eq!(out.leftover, b"def");
    assert_eq!(out.eof, Some(Err(Error::Incomplete)));
}

#[test]
fn content_length_over_the_limit_is_413_at_head_time() {
    let limits = Limits {
        max_body_size: 4,
        ..Limits::default()
    };
    check_ok_with(&limits, &post_with("Content-Length: 4\r\n", b"abcd"));
    let out = check_err_with(
        &limits,
        &post_with("Content-Length: 5\r\n", b""),
        Error::BodyTooLarge,
    );
    assert!(out.messages.is_empty());
    assert_eq!(Error::BodyTooLarge.status(), 413);
}

// ---- Transfer-Encoding ----

#[test]
fn chunked_is_accepted_in_any_case() {
    for value in ["chunked", "Chunked", "CHUNKED", " chunked ", "chunked\t"] {
        let m = check_ok(&post_with(
            &format!("Transfer-Encoding: {value}\r\n"),
            b"1\r\na\r\n0\r\n\r\n",
        ));
        assert_eq!(m.head.framing, Framing::Chunked);
        assert_eq!(m.body, b"a");
        assert!(m.head.keep_alive);
        assert!(!m.head.hide_content_length);
    }
}

#[test]
fn other_codings_are_501() {
    for value in [
        "gzip, chunked",
        "identity",
        "chunked, gzip",
        "gzip",
        "deflate",
        "chunked;q=1",
        "x-chunked",
        "chunk",
    ] {
        let out = check_err(
            &post_with(&format!("Transfer-Encoding: {value}\r\n"), b"0\r\n\r\n"),
            Error::UnsupportedTransferCoding,
        );
        assert!(out.messages.is_empty());
    }
    check_err(
        &post_with(
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            b"0\r\n\r\n",
        ),
        Error::UnsupportedTransferCoding,
    );
    check_err(
        &post_with(
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
            b"0\r\n\r\n",
        ),
        Error::UnsupportedTransferCoding,
    );
    assert_eq!(Error::UnsupportedTransferCoding.status(), 501);
}

#[test]
fn chunked_twice_is_400() {
    check_err(
        &post_with("Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"),
        Error::BadTransferEncoding,
    );
    check_err(
        &post_with(
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            b"0\r\n\r\n",
        ),
        Error::BadTransferEncoding,
    );
    check_err(
        &post_with(
            "Transfer-Encoding: gzip, chunked, CHUNKED\r\n",
            b"0\r\n\r\n",
        ),
        Error::BadTransferEncoding,
    );
}

#[test]
fn empty_transfer_encoding_is_400() {
    for value in ["", " ", ",", "chunked,", ", chunked", "chunked, ,"] {
        check_err(
            &post_with(&format!("Transfer-Encoding: {value}\r\n"), b"0\r\n\r\n"),
            Error::BadTransferEncoding,
        );
    }
}

#[test]
fn transfer_encoding_on_http10_is_400() {
    for value in ["chunked", "gzip", "identity"] {
        check_err(
            format!("POST / HTTP/1.0\r\nTransfer-Encoding: {value}\r\n\r\n0\r\n\r\n").as_bytes(),
            Error::BadTransferEncoding,
        );
    }
}

#[test]
fn content_length_and_chunked_decode_as_chunked_and_close() {
    for headers in [
        "Content-Length: 100\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
    ] {
        let input = post_with(headers, b"3\r\nabc\r\n0\r\n\r\n");
        let m = check_ok(&input);
        assert_eq!(m.head.framing, Framing::Chunked);
        assert_eq!(m.body, b"abc");
        assert!(m.head.hide_content_length);
        assert!(!m.head.keep_alive);
        // The Content-Length is still listed; the server must hide it.
        assert!(m.head.header("content-length").is_some());
    }
}

#[test]
fn content_length_and_chunked_still_checks_the_length_syntax() {
    check_err(
        &post_with(
            "Content-Length: +3\r\nTransfer-Encoding: chunked\r\n",
            b"0\r\n\r\n",
        ),
        Error::BadContentLength,
    );
    check_err(
        &post_with(
            "Content-Length: 3, 4\r\nTransfer-Encoding: chunked\r\n",
            b"0\r\n\r\n",
        ),
        Error::BadContentLength,
    );
    // The body size limit applies to the chunked body, not to the ignored length.
    let limits = Limits {
        max_body_size: 10,
        ..Limits::default()
    };
    let m = check_ok_with(
        &limits,
        &post_with(
            "Content-Length: 1000\r\nTransfer-Encoding: chunked\r\n",
            b"3\r\nabc\r\n0\r\n\r\n",
        ),
    );
    assert_eq!(m.body, b"abc");
}

#[test]
fn content_length_with_unsupported_coding_is_501() {
    check_err(
        &post_with("Content-Length: 3\r\nTransfer-Encoding: gzip\r\n", b"abc"),
        Error::UnsupportedTransferCoding,
    );
}

#[test]
fn smuggling_attempts_never_reach_a_second_request() {
    // CL.TE: a front end using Content-Length would see one request; we decode chunked,
    // deliver one request and then close (keep_alive false), never "GPOST".
    let input = post_with(
        "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
        b"0\r\n\r\nG",
    );
    let out = check(&input);
    assert_eq!(out.messages.len(), 1);
    assert!(!out.messages[0].head.keep_alive);
    assert_eq!(out.leftover, b"G");
    // TE with obfuscated value.
    check_err(
        &post_with("Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"),
        Error::UnsupportedTransferCoding,
    );
    check_err(
        &post_with("Transfer-Encoding:\x0bchunked\r\n", b"0\r\n\r\n"),
        Error::BadHeaderValue,
    );
    check_err(
        &post_with("Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"),
        Error::BadHeaderName,
    );
    check_err(
        &post_with("Transfer-Encoding: chunked\r\n\tx\r\n", b"0\r\n\r\n"),
        Error::ObsFold,
    );
    check_err(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\n\r\n0\r\n\r\n",
        Error::BadLineEnding,
    );
}
