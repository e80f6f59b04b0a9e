//! Size limits on heads: 414 and 431, detected as soon as they are exceeded.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use morello_http::{Error, Event, Limits, RequestDecoder};

const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"; // 27 bytes

#[test]
fn request_line_limit() {
    // "GET /xxxxxxxxxx HTTP/1.1" is 24 bytes.
    let line = |n: usize| format!("GET /{} HTTP/1.1", "x".repeat(n));
    let limits = Limits {
        max_request_line: 24,
        ..Limits::default()
    };
    check_ok_with(
        &limits,
        format!("{}\r\nHost: a\r\n\r\n", line(10)).as_bytes(),
    );
    check_err_with(
        &limits,
        format!("{}\r\nHost: a\r\n\r\n", line(11)).as_bytes(),
        Error::RequestLineTooLong,
    );
    // Detected without the CRLF, as soon as one byte too many arrived.
    check_err_with(
        &limits,
        "GET /xxxxxxxxxxxxxxxxxxxxxxx".as_bytes(),
        Error::RequestLineTooLong,
    );
    let mut d = RequestDecoder::new(limits);
    assert_eq!(d.decode(&[b'G'; 24]).unwrap(), (0, Event::NeedMore));
    assert_eq!(d.decode(&[b'G'; 25]), Err(Error::RequestLineTooLong));
    assert_eq!(Error::RequestLineTooLong.status(), 414);
}

#[test]
fn request_line_limit_default() {
    let ok = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8190 - 14));
    check_ok(ok.as_bytes());
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8190 - 13));
    check_err(long.as_bytes(), Error::RequestLineTooLong);
}

#[test]
fn leading_empty_lines_are_bounded_separately() {
    // Empty lines before the request line count neither against the request line nor the head,
    // but together they may not exceed max_request_line bytes: a CRLF flood is a 400.
    let limits = Limits {
        max_request_line: 14,
        max_head_size: 27,
        ..Limits::default()
    };
    let mut input = b"\r\n".repeat(7);
    input.extend_from_slice(HEAD);
    check_ok_with(&limits, &input);
    let mut flood = b"\r\n".repeat(8);
    flood.extend_from_slice(HEAD);
    check_err_with(&limits, &flood, Error::BadRequestLine);
}

#[test]
fn field_line_limit() {
    let limits = Limits {
        max_field_size: 10,
        ..Limits::default()
    };
    // "X-A: 12345" is 10 bytes.
    let with = |field: &str| format!("GET / HTTP/1.1\r\nHost: a\r\n{field}\r\n\r\n").into_bytes();
    check_ok_with(&limits, &with("X-A: 12345"));
    check_err_with(&limits, &with("X-A: 123456"), Error::HeadersTooLarge);
    // Trailing whitespace counts: the limit is on the line as sent.
    check_err_with(&limits, &with("X-A: 12345 "), Error::HeadersTooLarge);
    // Detected before the CRLF.
    check_err_with(
        &limits,
        b"GET / HTTP/1.1\r\nX-A: 1234567890",
        Error::HeadersTooLarge,
    );
    // The request line has its own limit.
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "x".repeat(50));
    check_ok_with(&limits, long_line.as_bytes());
    assert_eq!(Error::HeadersTooLarge.status(), 431);
}

#[test]
fn header_count_limit() {
    let limits = Limits {
        max_header_count: 3,
        ..Limits::default()
    };
    check_ok_with(&limits, &get_with("A: 1\r\nB: 2\r\n"));
    check_err_with(
        &limits,
        &get_with("A: 1\r\nB: 2\r\nC: 3\r\n"),
        Error::HeadersTooLarge,
    );
    // Detected when the extra field line completes, before the head ends.
    check_err_with(
        &limits,
        b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n",
        Error::HeadersTooLarge,
    );
    let none = Limits {
        max_header_count: 0,
        ..Limits::default()
    };
    check_ok_with(&none, b"GET / HTTP/1.0\r\n\r\n");
    check_err_with(&none, HEAD, Error::HeadersTooLarge);
}

#[test]
fn header_count_limit_default() {
    let mut lines = String::new();
    for i in 0..99 {
        lines.push_str(&format!("X-{i}: v\r\n"));
    }
    check_ok(&get_with(&lines));
    lines.push_str("X-Last: v\r\n");
    check_err(&get_with(&lines), Error::HeadersTooLarge);
}

#[test]
fn head_size_limit() {
    let exact = Limits {
        max_head_size: HEAD.len(),
        ..Limits::default()
    };
    check_ok_with(&exact, HEAD);
    let short = Limits {
        max_head_size: HEAD.len() - 1,
        ..Limits::default()
    };
    check_err_with(&short, HEAD, Error::HeadersTooLarge);
    let shorter = Limits {
        max_head_size: HEAD.len() - 2,
        ..Limits::default()
    };
    check_err_with(&shorter, HEAD, Error::HeadersTooLarge);
    // A pipelined request right after does not count against the first head.
    let mut two = HEAD.to_vec();
    two.extend_from_slice(HEAD);
    let out = check_with(&exact, &two);
    assert_eq!(out.messages.len(), 2);
}

#[test]
fn head_size_limit_detected_without_the_terminator() {
    let limits = Limits {
        max_head_size: 100,
        ..Limits::default()
    };
    let mut input = b"GET / HTTP/1.1\r\n".to_vec();
    while input.len() <= 100 {
        input.extend_from_slice(b"X: y\r\n");
    }
    check_err_with(&limits, &input, Error::HeadersTooLarge);
    let mut d = RequestDecoder::new(limits);
    assert_eq!(d.decode(&input[..100]).unwrap(), (0, Event::NeedMore));
    assert_eq!(d.decode(&input[..101]), Err(Error::HeadersTooLarge));
}

#[test]
fn head_size_limit_default() {
    let value = "v".repeat(1000);
    let mut lines = String::new();
    for i in 0..70 {
        lines.push_str(&format!("X-{i}: {value}\r\n"));
    }
    check_err(&get_with(&lines), Error::HeadersTooLarge);
}

#[test]
fn trickled_head_is_linear() {
    // 64 KiB of head fed one byte at a time: a quadratic rescan would take ~2^32 steps.
    let value = "v".repeat(8000);
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..7 {
        head.extend_from_slice(format!("X-{i}: {value}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut d = RequestDecoder::new(Limits::default());
    let started = Instant::now();
    for end in 1..head.len() {
        assert_eq!(d.decode(&head[..end]).unwrap(), (0, Event::NeedMore));
    }
    let (n, ev) = d.decode(&head).unwrap();
    assert_eq!(n, head.len());
    assert!(matches!(ev, Event::Head(h) if h.headers().len() == 8));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn trickled_chunk_line_is_linear() {
    let limits = Limits {
        max_chunk_line: 1 << 20,
        ..Limits::default()
    };
    let mut line = b"1".to_vec();
    while line.len() < 200_000 {
        line.extend_from_slice(b";a=b");
    }
    line.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    let mut d = RequestDecoder::new(limits);
    let (_, ev) = d
        .decode(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    assert!(matches!(ev, Event::Head(_)));
    let started = Instant::now();
    let crlf = line.iter().position(|&b| b == b'\r').unwrap();
    for end in 1..=crlf {
        assert_eq!(d.decode(&line[..end]).unwrap(), (0, Event::NeedMore));
    }
    let (n, ev) = d.decode(&line).unwrap();
    assert_eq!(ev, Event::Data(b"x"));
    assert_eq!(n, crlf + 3);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
