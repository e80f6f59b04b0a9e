//! Property tests of the framing invariants (proptest):
//!
//! * any valid generated request (random method token, target, headers, a Content-Length or
//!   chunked body with random chunk sizes, extensions and trailers) decodes to exactly that
//!   head and body, however the bytes are split, and so does a pipelined sequence of them;
//! * any byte-level mutation of such a request never panics and stays split-invariant;
//! * chunks written by `write_chunk` then `LAST_CHUNK` round-trip through a `BodyDecoder`
//!   (and the reference decoder of `common::oracle`);
//! * a Content-Length with any non-digit in an element is rejected, as is any
//!   Transfer-Encoding other than a lone `chunked`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::oracle;
use common::targets::small_limits;
use common::*;
use morello_http::{write_chunk, BodyDecoder, Error, Framing, Limits, Version, LAST_CHUNK};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

const TCHAR: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn token(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(select(TCHAR), 1..=max)
}

/// A method token; CONNECT takes an authority-form target, so it is left out here.
fn method() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        select(vec![
            &b"GET"[..],
            b"POST",
            b"PUT",
            b"HEAD",
            b"DELETE",
            b"PATCH"
        ])
        .prop_map(<[u8]>::to_vec),
        token(10).prop_filter("CONNECT", |m| m != b"CONNECT"),
    ]
}

/// An origin-form target: `/` then visible ASCII but `#`.
fn target() -> impl Strategy<Value = Vec<u8>> {
    let byte = (0x21u8..=0x7e).prop_filter("no fragment", |&b| b != b'#');
    vec(byte, 0..30).prop_map(|rest| {
        let mut t = b"/".to_vec();
        t.extend(rest);
        t
    })
}

/// A field value as sent (with optional surrounding OWS) and as the decoder reports it.
fn field_value() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let inner = prop_oneof![
        8 => 0x21u8..=0x7e,
        1 => Just(b' '),
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ];
    let ows = vec(select(vec![b' ', b'\t']), 0..3);
    (ows.clone(), vec(inner, 0..20), ows).prop_map(|(pre, v, post)| {
        let trimmed = {
            let start = v.iter().position(|&b| b != b' ' && b != b'\t');
            let end = v.iter().rposition(|&b| b != b' ' && b != b'\t');
            match (start, end) {
                (Some(s), Some(e)) => v[s..=e].to_vec(),
                _ => Vec::new(),
            }
        };
        let mut sent = pre;
        sent.extend(&v);
        sent.extend(post);
        (sent, trimmed)
    })
}

/// Header names that decide framing, routing or connection handling: not generated at random.
const SPECIAL: &[&[u8]] = &[
    b"content-length",
    b"transfer-encoding",
    b"host",
    b"connection",
    b"expect",
];

fn plain_name() -> impl Strategy<Value = Vec<u8>> {
    token(12).prop_filter("special", |n| {
        !SPECIAL.iter().any(|s| n.eq_ignore_ascii_case(s))
    })
}

/// Trailer names: neither special nor forbidden in trailers.
fn trailer_name() -> impl Strategy<Value = Vec<u8>> {
    token(12).prop_filter("forbidden", |n| !morello_http::is_forbidden_trailer(n))
}

/// A chunk extension: `;name`, `;name=token` or `;name="quoted"`, with optional BWS.
fn chunk_ext() -> impl Strategy<Value = Vec<u8>> {
    let bws = || vec(select(vec![b' ', b'\t']), 0..2);
    let qd = prop_oneof![
        (0x20u8..=0x7e).prop_filter("qdtext", |&b| b != b'"' && b != b'\\'),
        (0x80u8..=0xff),
        // Escaped when needed: `"` and `\\` become quoted-pairs.
        0x20u8..=0x7e,
    ];
    let quoted = vec(qd, 0..8).prop_map(|bytes| {
        let mut q = b"\"".to_vec();
        for b in bytes {
            if b == b'"' || b == b'\\' {
                q.push(b'\\');
            }
            q.push(b);
        }
        q.push(b'"');
        q
    });
    let value = prop_oneof![Just(None), token(6).prop_map(Some), quoted.prop_map(Some)];
    (bws(), bws(), token(6), bws(), bws(), value).prop_map(|(a, b, name, c, d, value)| {
        let mut e = a;
        e.push(b';');
        e.extend(b);
        e.extend(name);
        if let Some(v) = value {
            e.extend(c);
            e.push(b'=');
            e.extend(d);
            e.extend(v);
        }
        e
    })
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Length(Vec<u8>),
    /// Chunks (each with its extensions), the last chunk's extensions, trailer lines.
    Chunked(Vec<(Vec<u8>, Vec<u8>)>, Vec<u8>, Vec<Vec<u8>>),
}

#[derive(Debug, Clone)]
struct Request {
    bytes: Vec<u8>,
    expected: Message,
}

fn chunk() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        vec(any::<u8>(), 1..40),
        prop_oneof![3 => Just(Vec::new()), 1 => chunk_ext()],
    )
}

fn body(http11: bool) -> BoxedStrategy<Body> {
    let length = vec(any::<u8>(), 0..60).prop_map(Body::Length);
    if !http11 {
        return prop_oneof![Just(Body::None), length].boxed();
    }
    let trailer = (trailer_name(), field_value()).prop_map(|(n, (v, _))| {
        let mut line = n;
        line.push(b':');
        line.extend(v);
        line
    });
    let chunked = (
        vec(chunk(), 0..5),
        prop_oneof![3 => Just(Vec::new()), 1 => chunk_ext()],
        vec(trailer, 0..3),
    )
        .prop_map(|(chunks, last, trailers)| Body::Chunked(chunks, last, trailers));
    prop_oneof![Just(Body::None), length, chunked].boxed()
}

fn request() -> impl Strategy<Value = Request> {
    let headers = vec((plain_name(), field_value()), 0..6);
    (method(), target(), any::<bool>(), headers, any::<bool>())
        .prop_flat_map(|(m, t, http11, h, hex_upper)| {
            (
                Just(m),
                Just(t),
                Just(http11),
                Just(h),
                body(http11),
                Just(hex_upper),
            )
        })
        .prop_map(|(method, target, http11, fields, body, hex_upper)| {
            build(method, target, http11, fields, body, hex_upper)
        })
}

/// A header field: its name, and its value as sent and as reported.
type Field = (Vec<u8>, (Vec<u8>, Vec<u8>));

/// Serialises a generated request and says what the decoder must report for it.
fn build(
    method: Vec<u8>,
    target: Vec<u8>,
    http11: bool,
    fields: Vec<Field>,
    body: Body,
    hex_upper: bool,
) -> Request {
    let version = if http11 {
        Version::Http11
    } else {
        Version::Http10
    };
    let mut bytes = Vec::new();
    bytes.extend(&method);
    bytes.push(b' ');
    bytes.extend(&target);
    bytes.push(b' ');
    bytes.extend(version.as_bytes());
    bytes.extend(b"\r\n");
    let mut headers = Vec::new();
    let mut field = |bytes: &mut Vec<u8>, name: &[u8], sent: &[u8], value: &[u8]| {
        bytes.extend(name);
        bytes.push(b':');
        bytes.extend(sent);
        bytes.extend(b"\r\n");
        headers.push((name.to_vec(), value.to_vec()));
    };
    if http11 {
        field(&mut bytes, b"Host", b" example.com", b"example.com");
    }
    for (name, (sent, value)) in &fields {
        field(&mut bytes, name, sent, value);
    }
    let (framing, payload, decoded) = match &body {
        Body::None => (Framing::Empty, Vec::new(), Vec::new()),
        Body::Length(data) => {
            let n = data.len().to_string();
            field(
                &mut bytes,
                b"Content-Length",
                format!(" {n}").as_bytes(),
                n.as_bytes(),
            );
            let framing = if data.is_empty() {
                Framing::Empty
            } else {
                Framing::Length(data.len() as u64)
            };
            (framing, data.clone(), data.clone())
        }
        Body::Chunked(chunks, last, trailers) => {
            field(&mut bytes, b"Transfer-Encoding", b" chunked", b"chunked");
            let mut payload = Vec::new();
            let mut decoded = Vec::new();
            for (data, ext) in chunks {
                let size = if hex_upper {
                    format!("{:X}", data.len())
                } else {
                    format!("{:x}", data.len())
                };
                payload.extend(size.as_bytes());
                payload.extend(ext);
                payload.extend(b"\r\n");
                payload.extend(data);
                payload.extend(b"\r\n");
                decoded.extend(data);
            }
            payload.push(b'0');
            payload.extend(last);
            payload.extend(b"\r\n");
            for t in trailers {
                payload.extend(t);
                payload.extend(b"\r\n");
            }
            payload.extend(b"\r\n");
            (Framing::Chunked, payload, decoded)
        }
    };
    bytes.extend(b"\r\n");
    bytes.extend(payload);
    let expected = Message {
        head: HeadSummary {
            is_head: method == b"HEAD",
            method,
            target,
            version,
            headers,
            framing,
            keep_alive: http11,
            asked_keep_alive: false,
            expect_continue: false,
            hide_content_length: false,
        },
        body: decoded,
        ended: true,
    };
    Request { bytes, expected }
}

/// Cut points (sorted, within `0..=len`) from raw fuzz values.
fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        out.push(&input[at..c]);
        at = c;
    }
    out.push(&input[at..]);
    out
}

/// Whole, byte by byte, at every CRLF and at `cuts`: all equal; returns the whole outcome.
fn split_invariant(limits: &Limits, input: &[u8], cuts: &[usize]) -> Outcome {
    let whole = run(limits, [input]);
    assert_eq!(whole, run(limits, input.chunks(1)), "byte by byte differs");
    assert_eq!(whole, run(limits, crlf_pieces(input)), "CRLF split differs");
    assert_eq!(
        whole,
        run(limits, pieces(input, cuts)),
        "random split differs"
    );
    whole
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    vec(any::<usize>(), 0..6)
}

/// 512 cases per property, unless `PROPTEST_CASES` says otherwise (for a longer run).
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 512;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_requests_decode_exactly(req in request(), cuts in cuts()) {
        let out = split_invariant(&Limits::default(), &req.bytes, &cuts);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(out.messages, vec![req.expected]);
        prop_assert_eq!(out.eof, Some(Ok(())));
        prop_assert!(out.leftover.is_empty());
    }

    #[test]
    fn pipelined_requests_decode_in_order(reqs in vec(request(), 1..4), cuts in cuts()) {
        let mut input = Vec::new();
        for r in &reqs {
            input.extend(&r.bytes);
        }
        let out = split_invariant(&Limits::default(), &input, &cuts);
        let expected: Vec<Message> = reqs.into_iter().map(|r| r.expected).collect();
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(out.messages, expected);
        prop_assert_eq!(out.eof, Some(Ok(())));
    }

    #[test]
    fn truncated_requests_are_incomplete(req in request(), cut in any::<usize>()) {
        // Any strict prefix that is not just the head of a body-less request is incomplete.
        let cut = cut % req.bytes.len();
        let prefix = &req.bytes[..cut];
        let out = split_invariant(&Limits::default(), prefix, &[]);
        prop_assert_eq!(out.error, None);
        if cut == 0 {
            prop_assert_eq!(out.eof, Some(Ok(())));
        } else {
            prop_assert_eq!(out.eof, Some(Err(Error::Incomplete)));
            prop_assert!(out.messages.iter().all(|m| !m.ended));
        }
    }

    #[test]
    fn mutations_never_panic_and_stay_split_invariant(
        req in request(),
        edits in vec((any::<usize>(), 0u8..3, prop_oneof![
            select(b"\r\n\0 \t:;,=\"\\#*/?0aF@\x7f\x80\xff".to_vec()),
            any::<u8>(),
        ]), 1..6),
        small in any::<bool>(),
        cuts in cuts(),
    ) {
        let mut bytes = req.bytes;
        for (at, op, byte) in edits {
            let at = at % (bytes.len() + 1);
            match op {
                0 if at < bytes.len() => bytes[at] = byte,
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, byte),
            }
        }
        let limits = if small { small_limits() } else { Limits::default() };
        split_invariant(&limits, &bytes, &cuts);
    }

    #[test]
    fn written_chunks_round_trip(
        pieces_in in vec(vec(any::<u8>(), 0..300), 0..8),
        read in 1usize..64,
    ) {
        let mut wire = Vec::new();
        for p in &pieces_in {
            write_chunk(&mut wire, p);
        }
        wire.extend_from_slice(LAST_CHUNK);
        let expected: Vec<u8> = pieces_in.concat();

        let limits = Limits::default();
        let reference = oracle::decode_chunked(&limits, &wire);
        prop_assert_eq!(&reference.body, &expected);
        prop_assert_eq!(reference.end, Ok(Some(wire.len())));

        let mut decoder = BodyDecoder::new(Framing::Chunked, &limits);
        let mut buf = Vec::new();
        let mut body = Vec::new();
        let mut used = 0;
        for piece in wire.chunks(read) {
            buf.extend_from_slice(piece);
            loop {
                let d = decoder.decode(&buf).unwrap();
                body.extend_from_slice(&buf[d.data.clone()]);
                buf.drain(..d.consumed);
                used += d.consumed;
                if d.done || d.data.is_empty() {
                    break;
                }
            }
        }
        prop_assert!(decoder.is_done());
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(body, expected);
    }

    #[test]
    fn content_length_with_a_non_digit_is_rejected(
        digits in vec(select(b"0123456789".to_vec()), 0..6),
        at in any::<usize>(),
        bad in prop_oneof![
            (0x21u8..=0x7e).prop_filter("list syntax or digit", |b| !b.is_ascii_digit() && *b != b','),
            0x80u8..=0xff,
        ],
        inner_space in any::<bool>(),
        listed in any::<bool>(),
    ) {
        // One element holding a non-digit, or a space between digits.
        let mut element = digits.clone();
        if inner_space && element.len() >= 2 {
            element.insert(1 + at % (element.len() - 1), b' ');
        } else {
            element.insert(at % (element.len() + 1), bad);
        }
        let mut value = element;
        if listed {
            // ... even next to good elements of a list.
            let mut list = b"5, ".to_vec();
            list.extend(value);
            value = list;
        }
        let mut input = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ".to_vec();
        input.extend(&value);
        input.extend(b"\r\n\r\nhello");
        let out = split_invariant(&Limits::default(), &input, &[]);
        prop_assert_eq!(out.error, Some(Error::BadContentLength), "{:?}", String::from_utf8_lossy(&value));
        prop_assert!(out.messages.is_empty());
    }

    #[test]
    fn transfer_encoding_other_than_lone_chunked_is_rejected(
        elements in vec(prop_oneof![
            Just(b"chunked".to_vec()),
            Just(b"CHUNKED".to_vec()),
            Just(b"gzip".to_vec()),
            Just(b"identity".to_vec()),
            Just(Vec::new()),
            token(8),
        ], 1..4),
        with_length in any::<bool>(),
    ) {
        let lone_chunked = elements.len() == 1 && elements[0].eq_ignore_ascii_case(b"chunked");
        let value = elements.join(&b", "[..]);
        let mut input = b"POST / HTTP/1.1\r\nHost: a\r\n".to_vec();
        if with_length {
            input.extend(b"Content-Length: 1\r\n");
        }
        input.extend(b"Transfer-Encoding: ");
        input.extend(&value);
        input.extend(b"\r\n\r\n0\r\n\r\n");
        let out = split_invariant(&Limits::default(), &input, &[]);
        if lone_chunked {
            prop_assert_eq!(out.error, None);
            let m = &out.messages[0];
            prop_assert_eq!(m.head.framing, Framing::Chunked);
            prop_assert_eq!(m.head.hide_content_length, with_length);
            prop_assert_eq!(m.head.keep_alive, !with_length);
        } else {
            prop_assert!(matches!(
                out.error,
                Some(Error::BadTransferEncoding | Error::UnsupportedTransferCoding)
            ), "{:?}: {:?}", String::from_utf8_lossy(&value), out);
            prop_assert!(out.messages.is_empty());
        }
    }
}
