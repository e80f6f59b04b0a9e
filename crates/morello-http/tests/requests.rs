//! Request line, target, header and connection rules.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use morello_http::{Error, Event, Framing, Limits, RequestDecoder, Version};

fn req(line: &str) -> Vec<u8> {
    format!("{line}\r\nHost: example.com\r\n\r\n").into_bytes()
}

#[test]
fn simple_get() {
    let m = check_ok(b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
    assert_eq!(m.head.method, b"GET");
    assert_eq!(m.head.target, b"/index.html?x=1");
    assert_eq!(m.head.version, Version::Http11);
    assert_eq!(
        m.head.headers,
        vec![
            (b"Host".to_vec(), b"example.com".to_vec()),
            (b"Accept".to_vec(), b"*/*".to_vec())
        ]
    );
    assert_eq!(m.head.framing, Framing::Empty);
    assert!(m.head.keep_alive);
    assert!(!m.head.expect_continue);
    assert!(!m.head.hide_content_length);
    assert!(!m.head.is_head);
    assert!(m.body.is_empty());
}

#[test]
fn header_names_keep_their_case() {
    let m = check_ok(&get_with("x-MiXeD-CaSe: v\r\n"));
    assert_eq!(m.head.headers[1].0, b"x-MiXeD-CaSe");
}

// ---- line endings ----

#[test]
fn bare_lf_is_rejected_everywhere() {
    check_err(b"GET / HTTP/1.1\nHost: a\r\n\r\n", Error::BadLineEnding);
    check_err(b"GET / HTTP/1.1\r\nHost: a\n\r\n", Error::BadLineEnding);
    check_err(b"GET / HTTP/1.1\r\nHost: a\r\n\n", Error::BadLineEnding);
    check_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n",
        Error::BadLineEnding,
    );
    check_err(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Error::BadLineEnding);
    check_err(
        b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::BadLineEnding,
    );
}

#[test]
fn bare_cr_is_rejected_everywhere() {
    check_err(b"GET / HTTP/1.1\rHost: a\r\n\r\n", Error::BadLineEnding);
    check_err(b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", Error::BadLineEnding);
    check_err(
        b"GET / HTTP/1.1\r\nX: a\rb\r\nHost: a\r\n\r\n",
        Error::BadLineEnding,
    );
    check_err(b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", Error::BadLineEnding);
    check_err(b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", Error::BadLineEnding);
    check_err(b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", Error::BadLineEnding);
}

#[test]
fn nul_is_rejected_in_the_head() {
    check_err(b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", Error::BadLineEnding);
    check_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
        Error::BadLineEnding,
    );
    check_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX\0: b\r\n\r\n",
        Error::BadLineEnding,
    );
}

#[test]
fn empty_lines_before_the_request_line_are_skipped() {
    let m = check_ok(b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(m.head.method, b"GET");
}

// ---- request line ----

#[test]
fn methods_are_case_sensitive_tokens_passed_as_sent() {
    assert_eq!(check_ok(&req("get / HTTP/1.1")).head.method, b"get");
    assert_eq!(
        check_ok(&req("PROPFIND / HTTP/1.1")).head.method,
        b"PROPFIND"
    );
    assert_eq!(
        check_ok(&req("X-MY_METHOD! / HTTP/1.1")).head.method,
        b"X-MY_METHOD!"
    );
    let m = check_ok(&req("HEAD / HTTP/1.1"));
    assert!(m.head.is_head);
    assert!(!check_ok(&req("head / HTTP/1.1")).head.is_head);
}

#[test]
fn non_token_methods_are_rejected() {
    check_err(&req("G(T / HTTP/1.1"), Error::BadMethod);
    check_err(&req("GE:T / HTTP/1.1"), Error::BadMethod);
    check_err(&req("G\"T / HTTP/1.1"), Error::BadMethod);
    check_err(&req("G\u{7f}T / HTTP/1.1"), Error::BadMethod);
    check_err(b"G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", Error::BadMethod);
    check_err(
        b"G\xc3\xa9T / HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::BadMethod,
    );
}

#[test]
fn request_line_needs_single_spaces() {
    check_err(&req("GET  / HTTP/1.1"), Error::BadRequestLine);
    check_err(&req(" GET / HTTP/1.1"), Error::BadRequestLine);
    check_err(&req("GET / HTTP/1.1 "), Error::BadRequestLine);
    check_err(&req("GET /  HTTP/1.1"), Error::BadRequestLine);
    check_err(&req("GET\t/ HTTP/1.1"), Error::BadRequestLine);
    check_err(&req("GET /\tHTTP/1.1"), Error::BadRequestLine);
    check_err(&req("GET /"), Error::BadRequestLine);
    check_err(&req("GET"), Error::BadRequestLine);
    check_err(&req("GET /a b HTTP/1.1"), Error::BadRequestLine);
}

#[test]
fn versions() {
    assert_eq!(
        check_ok(&req("GET / HTTP/1.1")).head.version,
        Version::Http11
    );
    assert_eq!(
        check_ok(b"GET / HTTP/1.0\r\n\r\n").head.version,
        Version::Http10
    );
    check_err(&req("GET / HTTP/2.0"), Error::UnsupportedVersion);
    check_err(&req("GET / HTTP/1.2"), Error::UnsupportedVersion);
    check_err(&req("GET / HTTP/0.9"), Error::UnsupportedVersion);
    check_err(&req("GET / HTTP/3.0"), Error::UnsupportedVersion);
    for bad in [
        "HTTP/1.1x",
        "HTTP/1",
        "HTTP/1.",
        "HTTP/11",
        "HTTP/10.0",
        "http/1.1",
        "HTTP/1.a",
        "HTTPS/1.1",
        "HTTP/a.1",
        "HTTP/1,1",
    ] {
        check_err(&req(&format!("GET / {bad}")), Error::BadRequestLine);
    }
}

#[test]
fn http2_preface_gets_505() {
    check_err(
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        Error::UnsupportedVersion,
    );
}

// ---- target ----

#[test]
fn origin_and_absolute_forms() {
    assert_eq!(
        check_ok(&req("GET /a/b?c=d&e HTTP/1.1")).head.target,
        b"/a/b?c=d&e"
    );
    assert_eq!(
        check_ok(&req("GET //double HTTP/1.1")).head.target,
        b"//double"
    );
    assert_eq!(
        check_ok(&req("GET http://host/path?q HTTP/1.1"))
            .head
            .target,
        b"http://host/path?q"
    );
    assert_eq!(
        check_ok(&req("GET https://host:8443 HTTP/1.1")).head.target,
        b"https://host:8443"
    );
    assert_eq!(
        check_ok(&req("GET HTTP://[::1]:80/x HTTP/1.1")).head.target,
        b"HTTP://[::1]:80/x"
    );
    assert_eq!(
        check_ok(&req("GET http://host?q HTTP/1.1")).head.target,
        b"http://host?q"
    );
}

#[test]
fn bad_targets() {
    for bad in [
        "/a#frag",
        "/#",
        "http://host/a#f",
        "ftp://host/",
        "http:/host",
        "http://",
        "http:///path",
        "http://user@host/",
        "host:80",
        "example.com",
        "path",
        "?q",
        "*",
    ] {
        check_err(&req(&format!("GET {bad} HTTP/1.1")), Error::BadTarget);
    }
    check_err(&req("GET  HTTP/1.1"), Error::BadTarget);
    check_err(b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", Error::BadTarget);
    check_err(b"GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", Error::BadTarget);
    check_err(
        b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::BadTarget,
    );
    check_err(b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", Error::BadTarget);
    check_err(b"GET /\t HTTP/1.1\r\nHost: a\r\n\r\n", Error::BadTarget);
}

#[test]
fn asterisk_only_with_options() {
    assert_eq!(check_ok(&req("OPTIONS * HTTP/1.1")).head.target, b"*");
    assert_eq!(check_ok(&req("OPTIONS /x HTTP/1.1")).head.target, b"/x");
    check_err(&req("GET * HTTP/1.1"), Error::BadTarget);
    check_err(&req("options * HTTP/1.1"), Error::BadTarget);
    check_err(&req("OPTIONS ** HTTP/1.1"), Error::BadTarget);
}

#[test]
fn authority_form_only_for_connect() {
    assert_eq!(
        check_ok(&req("CONNECT example.com:443 HTTP/1.1"))
            .head
            .target,
        b"example.com:443"
    );
    assert_eq!(
        check_ok(&req("CONNECT [::1]:443 HTTP/1.1")).head.target,
        b"[::1]:443"
    );
    check_err(&req("CONNECT example.com HTTP/1.1"), Error::BadTarget);
    check_err(&req("CONNECT /path HTTP/1.1"), Error::BadTarget);
    check_err(
        &req("CONNECT http://example.com/ HTTP/1.1"),
        Error::BadTarget,
    );
    check_err(&req("CONNECT * HTTP/1.1"), Error::BadTarget);
    check_err(&req("GET example.com:443 HTTP/1.1"), Error::BadTarget);
}

// ---- header fields ----

#[test]
fn obs_fold_is_rejected() {
    check_err(&get_with("X-A: a\r\n b\r\n"), Error::ObsFold);
    check_err(&get_with("X-A: a\r\n\tb\r\n"), Error::ObsFold);
    check_err(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", Error::ObsFold);
}

#[test]
fn whitespace_before_colon_is_rejected() {
    check_err(&get_with("X-A : a\r\n"), Error::BadHeaderName);
    check_err(&get_with("X-A\t: a\r\n"), Error::BadHeaderName);
    check_err(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Error::BadHeaderName);
}

#[test]
fn header_names_must_be_tokens() {
    check_err(&get_with("X(A): a\r\n"), Error::BadHeaderName);
    check_err(&get_with(": a\r\n"), Error::BadHeaderName);
    check_err(&get_with("no colon\r\n"), Error::BadHeaderName);
    check_err(&get_with("nocolon\r\n"), Error::BadHeaderName);
    check_err(&get_with("X\"A: a\r\n"), Error::BadHeaderName);
    check_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n",
        Error::BadHeaderName,
    );
    check_ok(&get_with("X-!#$%&'*+-.^_`|~09az: a\r\n"));
}

/// Every byte, at positions that reach httparse's scalar, SWAR (8-byte) and SIMD (16- and
/// 32-byte) scanning: a field name is accepted exactly when all its bytes are `tchar`, and a
/// value exactly when all its bytes are HTAB, SP, VCHAR or obs-text. The decoder does not
/// re-scan names and values after httparse (see `head::tokenize`); this is what makes that
/// safe, and it fails if an httparse upgrade ever loosens either rule.
#[test]
fn field_bytes_are_accepted_exactly_by_the_grammar() {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let value_byte = |b: u8| b == b'\t' || (b >= 0x20 && b != 0x7f);
    let limits = Limits::default();
    // Decodes a head whose one extra field line is `before`, `len` filler bytes with `b` at
    // `at`, then `after`; whole and byte by byte must agree. True if it is accepted.
    let accepted = |b: u8, at: usize, len: usize, before: &[u8], after: &[u8]| {
        let mut field = vec![b'f'; len];
        field[at] = b;
        let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        input.extend_from_slice(before);
        input.extend_from_slice(&field);
        input.extend_from_slice(after);
        input.extend_from_slice(b"\r\n\r\n");
        let whole = run(&limits, [&input[..]]);
        let bytes = run(&limits, input.chunks(1));
        assert_eq!(whole, bytes, "byte by byte differs for {input:?}");
        whole.error.is_none()
    };
    for b in 0..=255u8 {
        // CR and LF end lines, and ':' ends a name: they are structure, tested elsewhere.
        if b == b'\r' || b == b'\n' {
            continue;
        }
        if b != b':' {
            for at in [0, 1, 7, 8, 15, 16, 31, 32, 47] {
                let ok = accepted(b, at, 48, b"", b": v");
                assert_eq!(ok, tchar(b), "name byte {b:#04x} at {at}");
            }
        }
        for at in [1, 7, 8, 15, 16, 31, 32, 33, 63, 64, 70] {
            let ok = accepted(b, at, 72, b"X-V: ", b"");
            assert_eq!(ok, value_byte(b), "value byte {b:#04x} at {at}");
        }
    }
}

#[test]
fn control_characters_in_values_are_rejected() {
    for c in [1u8, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f] {
        let mut input = b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a".to_vec();
        input.push(c);
        input.extend_from_slice(b"b\r\n\r\n");
        check_err(&input, Error::BadHeaderValue);
    }
}

#[test]
fn values_are_trimmed_of_sp_and_htab_only() {
    let m = check_ok(&get_with(
        "X-A: \t a \t b \t \r\nX-B:\r\nX-C:   \r\nX-D:x\r\n",
    ));
    assert_eq!(m.head.header("x-a").unwrap(), b"a \t b");
    assert_eq!(m.head.header("x-b").unwrap(), b"");
    assert_eq!(m.head.header("x-c").unwrap(), b"");
    assert_eq!(m.head.header("x-d").unwrap(), b"x");
    let m =
        check_ok(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: \xa0v\x85 \r\nX-B: \xc2\xa0\xc2\x85\r\n\r\n");
    assert_eq!(m.head.header("x-a").unwrap(), b"\xa0v\x85");
    assert_eq!(m.head.header("x-b").unwrap(), b"\xc2\xa0\xc2\x85");
}

#[test]
fn header_values_may_hold_obs_text_and_tabs() {
    let m = check_ok(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\tbar\xff\r\n\r\n");
    assert_eq!(m.head.header("x-a").unwrap(), b"caf\xe9\tbar\xff");
}

#[test]
fn many_headers_use_the_heap_fallback() {
    let limits = Limits {
        max_header_count: 200,
        ..Limits::default()
    };
    let mut lines = String::new();
    for i in 0..150 {
        lines.push_str(&format!("X-{i}: v{i}\r\n"));
    }
    let m = check_ok_with(&limits, &get_with(&lines));
    assert_eq!(m.head.headers.len(), 151);
    assert_eq!(m.head.header("x-149").unwrap(), b"v149");
}

// ---- Host ----

#[test]
fn host_rules() {
    check_ok(b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
    check_ok(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    check_ok(b"GET / HTTP/1.1\r\nHOST: [::1]:80\r\n\r\n");
    check_ok(b"GET / HTTP/1.0\r\n\r\n");
    check_ok(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n");
    check_err(b"GET / HTTP/1.1\r\n\r\n", Error::BadHost);
    check_err(b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Error::BadHost);
    check_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        Error::BadHost,
    );
    check_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
        Error::BadHost,
    );
    check_err(b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", Error::BadHost);
    check_err(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Error::BadHost);
    check_err(b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", Error::BadHost);
    check_err(b"GET / HTTP/1.1\r\nHost: a:\r\n\r\n", Error::BadHost);
    check_err(b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Error::BadHost);
    check_err(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Error::BadHost);
    check_err(b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", Error::BadHost);
    check_err(
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
        Error::BadHost,
    );
    check_err(b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n", Error::BadHost);
    // Absolute-form still needs a Host header in HTTP/1.1.
    check_err(b"GET http://a/ HTTP/1.1\r\n\r\n", Error::BadHost);
}

// ---- keep-alive and Expect ----

#[test]
fn keep_alive_rules() {
    let ka = |input: &[u8]| {
        let m = check_ok(input);
        (m.head.keep_alive, m.head.asked_keep_alive)
    };
    assert_eq!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), (true, false));
    assert_eq!(
        ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        (false, false)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n"),
        (false, false)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n"),
        (false, false)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"),
        (false, true)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"),
        (true, false)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"),
        (true, true)
    );
    assert_eq!(ka(b"GET / HTTP/1.0\r\n\r\n"), (false, false));
    assert_eq!(
        ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        (true, true)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
        (true, true)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.0\r\nConnection: upgrade ,\tkeep-alive \r\n\r\n"),
        (true, true)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.0\r\nConnection: x\r\nConnection: keep-alive\r\n\r\n"),
        (true, true)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
        (false, true)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n"),
        (false, false)
    );
    assert_eq!(
        ka(b"GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n"),
        (false, false)
    );
}

#[test]
fn expect_continue() {
    assert!(
        check_ok(&post_with(
            "Expect: 100-continue\r\nContent-Length: 1\r\n",
            b"x"
        ))
        .head
        .expect_continue
    );
    assert!(
        check_ok(&post_with(
            "Expect: 100-Continue\r\nContent-Length: 1\r\n",
            b"x"
        ))
        .head
        .expect_continue
    );
    let m = check_ok(&post_with(
        "Expect: something-else\r\nContent-Length: 1\r\n",
        b"x",
    ));
    assert!(!m.head.expect_continue);
    assert_eq!(m.head.header("expect").unwrap(), b"something-else");
    assert!(
        !check_ok(&post_with("Content-Length: 1\r\n", b"x"))
            .head
            .expect_continue
    );
    let m = check_ok(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
    assert!(!m.head.expect_continue);
}

// ---- pipelining, pausing, eof, poisoning ----

#[test]
fn three_pipelined_requests() {
    let mut input = Vec::new();
    input.extend_from_slice(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
    input.extend_from_slice(b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    input.extend_from_slice(b"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-T: 1\r\n\r\n");
    input.extend_from_slice(b"\r\nGET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let out = check(&input);
    assert_eq!(out.error, None);
    assert_eq!(out.eof, Some(Ok(())));
    let targets: Vec<&[u8]> = out
        .messages
        .iter()
        .map(|m| m.head.target.as_slice())
        .collect();
    assert_eq!(targets, [&b"/1"[..], b"/2", b"/3", b"/4"]);
    let bodies: Vec<&[u8]> = out.messages.iter().map(|m| m.body.as_slice()).collect();
    assert_eq!(bodies, [&b""[..], b"hello", b"abcde", b""]);
    assert!(out.messages.iter().all(|m| m.ended));
    assert!(!out.messages[3].head.keep_alive);
}

#[test]
fn decoder_pauses_after_end_until_start_next() {
    let input = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut d = RequestDecoder::new(Limits::default());
    let (n, ev) = d.decode(input).unwrap();
    assert!(matches!(ev, Event::Head(ref h) if h.framing() == Framing::Length(3)));
    assert!(d.in_body());
    let rest = &input[n..];
    let (n2, ev) = d.decode(rest).unwrap();
    assert_eq!(ev, Event::Data(b"abc"));
    assert_eq!(n2, 3);
    let rest = &rest[n2..];
    assert_eq!(d.decode(rest).unwrap(), (0, Event::End));
    assert!(d.is_done());
    for _ in 0..3 {
        assert_eq!(d.decode(rest).unwrap(), (0, Event::Paused));
    }
    assert_eq!(d.eof(rest), Ok(()));
    d.start_next();
    assert!(!d.is_done());
    let (n3, ev) = d.decode(rest).unwrap();
    assert!(matches!(ev, Event::Head(ref h) if h.target() == b"/next"));
    assert_eq!(n3, rest.len());
    assert_eq!(d.decode(&[]).unwrap(), (0, Event::End));
    assert_eq!(d.eof(&[]), Ok(()));
}

#[test]
fn empty_body_request_ends_on_the_next_call() {
    let mut d = RequestDecoder::new(Limits::default());
    let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let (n, ev) = d.decode(input).unwrap();
    assert_eq!(n, input.len());
    assert!(matches!(ev, Event::Head(_)));
    assert!(d.in_body());
    assert_eq!(d.decode(b"").unwrap(), (0, Event::End));
    assert!(!d.in_body());
}

#[test]
fn start_next_is_ignored_unless_done() {
    let mut d = RequestDecoder::new(Limits::default());
    assert_eq!(d.decode(b"GET / HT").unwrap(), (0, Event::NeedMore));
    d.start_next();
    let (_, ev) = d.decode(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(matches!(ev, Event::Head(_)));
}

#[test]
fn leading_empty_lines_are_consumed_while_waiting() {
    let mut d = RequestDecoder::new(Limits::default());
    assert_eq!(d.decode(b"\r\n\r\n\r").unwrap(), (4, Event::NeedMore));
    assert_eq!(d.decode(b"\r").unwrap(), (0, Event::NeedMore));
    assert_eq!(d.decode(b"\r\nGE").unwrap(), (2, Event::NeedMore));
    assert_eq!(d.eof(b"GE"), Err(Error::Incomplete));
}

#[test]
fn eof_between_messages_is_clean() {
    let out = check(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(out.eof, Some(Ok(())));
    let out = check(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n");
    assert_eq!(out.eof, Some(Ok(())));
    let out = check(b"");
    assert_eq!(out.eof, Some(Ok(())));
    let mut d = RequestDecoder::new(Limits::default());
    assert_eq!(d.eof(b"\r\n\r"), Ok(()));
    assert_eq!(d.eof(b""), Ok(()));
}

#[test]
fn eof_mid_head_is_incomplete() {
    for input in [
        &b"G"[..],
        b"GET / HTTP/1.1",
        b"GET / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r",
    ] {
        let out = check(input);
        assert_eq!(out.error, None);
        assert!(out.messages.is_empty());
        assert_eq!(out.eof, Some(Err(Error::Incomplete)), "{input:?}");
    }
    let out = check(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2");
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.eof, Some(Err(Error::Incomplete)));
}

#[test]
fn eof_mid_body_is_incomplete() {
    let out = check(&post_with("Content-Length: 10\r\n", b"12345"));
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.messages[0].body, b"12345");
    assert!(!out.messages[0].ended);
    assert_eq!(out.eof, Some(Err(Error::Incomplete)));

    for body in [
        "",
        "5\r\nab",
        "5\r\nabcde",
        "5\r\nabcde\r\n",
        "0\r\n",
        "0\r\nX: y\r\n",
        "5;a=b",
    ] {
        let out = check(&chunked(body));
        assert_eq!(out.error, None);
        assert!(!out.messages[0].ended);
        assert_eq!(out.eof, Some(Err(Error::Incomplete)), "{body:?}");
    }
}

#[test]
fn eof_poisons_and_errors_are_sticky() {
    let mut d = RequestDecoder::new(Limits::default());
    assert_eq!(d.decode(b"GET").unwrap(), (0, Event::NeedMore));
    assert_eq!(d.eof(b"GET"), Err(Error::Incomplete));
    assert_eq!(d.error(), Some(Error::Incomplete));
    assert_eq!(
        d.decode(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Err(Error::Incomplete)
    );

    let mut d = RequestDecoder::new(Limits::default());
    assert_eq!(
        d.decode(b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n"),
        Err(Error::BadHeaderName)
    );
    for _ in 0..3 {
        assert_eq!(
            d.decode(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(Error::BadHeaderName)
        );
    }
    assert_eq!(d.eof(b""), Err(Error::BadHeaderName));
    d.start_next();
    assert_eq!(d.decode(b""), Err(Error::BadHeaderName));
    assert_eq!(d.error(), Some(Error::BadHeaderName));
}

#[test]
fn errors_after_complete_messages_keep_the_earlier_messages() {
    let out = check_err(
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\nHost: a\r\n\r\n",
        Error::BadLineEnding,
    );
    assert_eq!(out.messages.len(), 1);
    assert!(out.messages[0].ended);
}

#[test]
fn errors_are_split_invariant_before_the_head_completes() {
    // A bad byte followed by more head: the error is the same however the head arrives.
    let out = check_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: \x01\r\nX-B: \n",
        Error::BadLineEnding,
    );
    assert!(out.messages.is_empty());
}

#[test]
fn head_info_feeds_the_response_planner() {
    let m = check_ok(b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert!(m.head.is_head);
    assert!(m.head.keep_alive);
    assert!(m.head.asked_keep_alive);
}

#[test]
fn every_field_count_up_to_the_limit() {
    // The tokenizer sizes its slot array by the field count (tiers of 8, 16, 32 and 64, then
    // the heap): every count, across each tier boundary, keeps every field in order.
    for count in 0..=Limits::default().max_header_count {
        let mut head = b"GET / HTTP/1.1\r\nHost: example.com\r\n".to_vec();
        for i in 1..count {
            head.extend_from_slice(format!("X-Field-{i}: value {i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let m = check_ok(&head);
        assert_eq!(m.head.headers.len(), count.max(1), "{count} fields");
        for (i, (name, value)) in m.head.headers.iter().enumerate().skip(1) {
            assert_eq!(name, format!("X-Field-{i}").as_bytes());
            assert_eq!(value, format!("value {i}").as_bytes());
        }
    }
}

/// Decodes one head with `decoder`, which must produce it whole from `input`.
fn head_of(decoder: &mut RequestDecoder, input: &[u8]) -> morello_http::RequestHead {
    match decoder.decode(input) {
        Ok((n, Event::Head(head))) => {
            assert_eq!(n, input.len());
            head
        }
        other => panic!("expected a head, got {other:?}"),
    }
}

#[test]
fn reused_buffers_build_the_same_heads() {
    let long = get_with(&"X-Field: some value\r\n".repeat(40));
    let short = req("GET /s HTTP/1.1");
    let post = post_with("Content-Type: text/plain\r\n", b"");
    // Long then short, short then long: stale bytes or fields must never show through, and
    // the result equals what a decoder without reused buffers builds.
    for order in [[&long, &short, &post], [&short, &post, &long]] {
        let mut reusing = RequestDecoder::new(Limits::default());
        for input in order {
            let fresh = head_of(&mut RequestDecoder::new(Limits::default()), input);
            let head = head_of(&mut reusing, input);
            assert_eq!(head, fresh);
            assert!(!reusing.has_buffers());
            // Finish the (bodiless) message and hand the head back, as a server does.
            while !matches!(reusing.decode(b""), Ok((0, Event::Paused))) {}
            reusing.start_next();
            let buffers = head.into_buffers();
            assert!(buffers.capacity() >= input.len());
            reusing.reuse_buffers(buffers);
            assert!(reusing.has_buffers());
        }
    }
}
