//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs` include this module by path), so
//! that `tests/fuzz_corpus.rs` replays the committed corpus on stable Rust with plain
//! `cargo test`, and a crash found by the fuzzer is a failing test without any fuzzing tool.
//!
//! Every target checks more than "no panic":
//! * [`requests`]: a server-like driver (reads of a fuzzer-chosen size, `start_next` only
//!   after `Paused`) must see exactly what [`run`] sees given the input whole; the bytes the
//!   driver holds never exceed [`held_bound`] plus one read.
//! * [`chunked`]: a chunked body after a fixed head; the request decoder (whole and byte by
//!   byte), a [`BodyDecoder`] driven directly, and the independent [`oracle`] must all agree
//!   on the body, the end and the error.
//! * [`differential`]: the same bytes whole, byte by byte, at every CRLF and split at
//!   fuzzer-chosen points must give equal outcomes (heads, body bytes per message, `End`s,
//!   the final error or `eof` result, and the leftover bytes).
#![allow(clippy::expect_used)]

use super::oracle;
use super::{crlf_pieces, held_bound, run, HeadSummary, Message, Outcome};
use morello_http::{
    percent_decode_path, split_target, BodyDecoder, Error, Event, Framing, Limits, RequestDecoder,
};

/// Small limits, so that every limit boundary is within the fuzzer's reach.
pub fn small_limits() -> Limits {
    Limits {
        max_request_line: 24,
        max_header_count: 3,
        max_field_size: 24,
        max_head_size: 96,
        max_body_size: 6,
        max_chunk_line: 12,
        max_trailer_size: 10,
    }
}

/// Default limits, or small ones when the low bit of `config` is set.
fn limits_for(config: u8) -> Limits {
    if config & 1 == 1 {
        small_limits()
    } else {
        Limits::default()
    }
}

/// Target (a): arbitrary bytes into a [`RequestDecoder`] driven like a server.
///
/// Input: one config byte (bit 0: small limits; bits 1-3: the read size) then the stream.
pub fn requests(data: &[u8]) {
    let Some((&config, input)) = data.split_first() else {
        return;
    };
    let limits = limits_for(config);
    let read = [1, 2, 3, 7, 16, 100, 1024, 1 << 16][usize::from((config >> 1) & 7)];
    let served = serve(&limits, input, read);
    let whole = run(&limits, [input]);
    assert_eq!(
        served, whole,
        "server-like driver differs from a whole decode"
    );
}

/// Reads `input` `read` bytes at a time into a buffer, decodes until `NeedMore`, `Paused` or
/// an error, drains what was consumed, and calls `start_next` only once the decoder said
/// `Paused` (as a server does once its response is complete). Also exercises the head
/// accessors and the target helpers on every head. With an odd `read` (byte by byte among
/// them) each head's allocations are handed back for the next head, as the server does, so
/// split-invariance checks also compare reused buffers with fresh ones.
pub fn serve(limits: &Limits, input: &[u8], read: usize) -> Outcome {
    let bound = held_bound(limits);
    let mut decoder = RequestDecoder::new(limits.clone());
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Outcome::default();
    for piece in input.chunks(read.max(1)) {
        assert!(buf.len() <= bound, "held {} > {bound}", buf.len());
        buf.extend_from_slice(piece);
        loop {
            let (consumed, event) = match decoder.decode(&buf) {
                Ok(ok) => ok,
                Err(e) => {
                    assert_eq!(decoder.error(), Some(e));
                    assert_eq!(decoder.eof(&buf), Err(e));
                    out.error = Some(e);
                    return out;
                }
            };
            assert!(consumed <= buf.len());
            let mut stop = false;
            match event {
                Event::Head(head) => {
                    let target = split_target(head.target());
                    let _ = percent_decode_path(target.path, true);
                    let _ = percent_decode_path(target.path, false);
                    assert!(head.headers().len() <= limits.max_header_count);
                    out.messages.push(Message {
                        head: HeadSummary::of(&head),
                        body: Vec::new(),
                        ended: false,
                    });
                    if read % 2 == 1 {
                        decoder.reuse_buffers(head.into_buffers());
                    }
                }
                Event::Data(d) => {
                    let msg = out.messages.last_mut().expect("data before a head");
                    msg.body.extend_from_slice(d);
                    if let Framing::Length(n) = msg.head.framing {
                        assert!(msg.body.len() as u64 <= n);
                    }
                    if limits.max_body_size != 0 {
                        assert!(msg.body.len() as u64 <= limits.max_body_size);
                    }
                }
                Event::End => {
                    let msg = out.messages.last_mut().expect("end before a head");
                    assert!(!msg.ended);
                    msg.ended = true;
                }
                Event::NeedMore => stop = true,
                Event::Paused => {
                    assert_eq!(consumed, 0);
                    assert!(decoder.is_done());
                    decoder.start_next();
                }
            }
            buf.drain(..consumed);
            if stop {
                break;
            }
        }
    }
    assert!(buf.len() <= bound, "held {} > {bound}", buf.len());
    out.eof = Some(decoder.eof(&buf));
    out.leftover = buf;
    out
}

/// The head every [`chunked`] input follows.
pub const CHUNKED_HEAD: &[u8] =
    b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

/// Limits for [`chunked`]: default head limits (the fixed head must pass), body-side limits
/// picked by `config`.
fn chunked_limits(config: u8) -> Limits {
    Limits {
        max_chunk_line: [4096, 12, 3, 0][usize::from(config & 3)],
        max_trailer_size: [8190, 10, 1, 0][usize::from((config >> 2) & 3)],
        // The fixed head has two fields, counted against the same limit.
        max_header_count: [100, 5, 3, 2][usize::from((config >> 4) & 3)],
        max_body_size: [0, 6, 100, 1][usize::from((config >> 6) & 3)],
        ..Limits::default()
    }
}

/// Target (b): arbitrary bytes as a chunked body.
///
/// Input: one config byte (the body-side limits) then the body.
pub fn chunked(data: &[u8]) {
    let Some((&config, body)) = data.split_first() else {
        return;
    };
    let limits = chunked_limits(config);
    let reference = oracle::decode_chunked(&limits, body);

    // The BodyDecoder on its own, given everything at once.
    let direct = drive_body(&limits, body, body.len().max(1));
    assert_eq!(
        direct, reference,
        "BodyDecoder disagrees with the reference"
    );
    // ... and a few bytes at a time.
    let trickled = drive_body(&limits, body, 3);
    assert_eq!(
        trickled, reference,
        "BodyDecoder fed 3 bytes at a time disagrees"
    );

    // Through the request decoder, whole and byte by byte.
    let mut input = CHUNKED_HEAD.to_vec();
    input.extend_from_slice(body);
    let whole = run(&limits, [&input[..]]);
    let bytes = run(&limits, input.chunks(1));
    assert_eq!(whole, bytes, "byte by byte differs");
    let first = whole
        .messages
        .first()
        .expect("the fixed head always decodes");
    assert_eq!(first.body, reference.body);
    match reference.end {
        Ok(Some(_)) => assert!(first.ended, "{whole:?}"),
        Ok(None) => {
            assert!(!first.ended);
            assert_eq!(whole.messages.len(), 1);
            assert_eq!(whole.error, None);
            assert_eq!(whole.eof, Some(Err(Error::Incomplete)));
        }
        Err(e) => {
            assert!(!first.ended);
            assert_eq!(whole.messages.len(), 1);
            assert_eq!(whole.error, Some(e));
        }
    }
}

/// Feeds `body` to a chunked [`BodyDecoder`] `read` bytes at a time, the way the request
/// decoder does; reports what it decoded the way the reference does.
fn drive_body(limits: &Limits, body: &[u8], read: usize) -> oracle::Reference {
    let mut decoder = BodyDecoder::new(Framing::Chunked, limits);
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut used = 0usize;
    let bound = held_bound(limits);
    for piece in body.chunks(read) {
        buf.extend_from_slice(piece);
        loop {
            let d = match decoder.decode(&buf) {
                Ok(d) => d,
                Err(e) => {
                    // Poisoned.
                    assert_eq!(decoder.decode(b"0\r\n\r\n"), Err(e));
                    return oracle::Reference {
                        body: out,
                        end: Err(e),
                    };
                }
            };
            assert!(d.consumed <= buf.len());
            assert!(d.data.end <= d.consumed || d.data.is_empty());
            out.extend_from_slice(&buf[d.data.clone()]);
            assert_eq!(decoder.received(), out.len() as u64);
            buf.drain(..d.consumed);
            used += d.consumed;
            if d.done {
                assert!(d.data.is_empty(), "data and done in one chunked call");
                assert!(decoder.is_done());
                // Once done, nothing more is consumed.
                let again = decoder.decode(&buf).expect("done is not an error");
                assert_eq!((again.consumed, again.done), (0, true));
                return oracle::Reference {
                    body: out,
                    end: Ok(Some(used)),
                };
            }
            if d.data.is_empty() {
                break;
            }
        }
        assert!(buf.len() <= bound, "held {} > {bound}", buf.len());
    }
    assert!(!decoder.is_done());
    oracle::Reference {
        body: out,
        end: Ok(None),
    }
}

/// Target (c): the same bytes decoded whole, byte by byte, at every CRLF, and split at up to
/// seven fuzzer-chosen points must give equal outcomes.
///
/// Input: one config byte (bit 0: small limits; bits 1-3: the number `n` of split points),
/// then `n` split points as two bytes each (little-endian, taken modulo the length), then
/// the stream.
pub fn differential(data: &[u8]) {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let limits = limits_for(config);
    let n = usize::from((config >> 1) & 7);
    if rest.len() < 2 * n {
        return;
    }
    let (points, input) = rest.split_at(2 * n);
    let mut cuts: Vec<usize> = points
        .chunks(2)
        .map(|p| usize::from(u16::from_le_bytes([p[0], p[1]])) % (input.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut pieces = Vec::with_capacity(n + 1);
    let mut at = 0;
    for cut in cuts {
        pieces.push(&input[at..cut]);
        at = cut;
    }
    pieces.push(&input[at..]);

    let whole = run(&limits, [input]);
    let split = run(&limits, pieces.iter().copied());
    assert_eq!(whole, split, "split at fuzzer-chosen points differs");
    let bytes = run(&limits, input.chunks(1));
    assert_eq!(whole, bytes, "byte by byte differs");
    let crlf = run(&limits, crlf_pieces(input));
    assert_eq!(whole, crlf, "split at every CRLF differs");
    check_outcome(&limits, &whole);
}

/// Sanity rules every outcome obeys.
fn check_outcome(limits: &Limits, out: &Outcome) {
    for (i, msg) in out.messages.iter().enumerate() {
        let last = i + 1 == out.messages.len();
        // Only the last message may be unfinished.
        assert!(msg.ended || last);
        match msg.head.framing {
            Framing::Empty => assert!(msg.body.is_empty()),
            Framing::Length(n) => {
                assert!(msg.body.len() as u64 <= n);
                assert!(!msg.ended || msg.body.len() as u64 == n);
            }
            Framing::Chunked => {}
        }
        if limits.max_body_size != 0 {
            assert!(msg.body.len() as u64 <= limits.max_body_size);
        }
        // A message that must close the connection is never followed by another.
        if msg.head.hide_content_length {
            assert!(!msg.head.keep_alive);
        }
    }
    if out.error.is_some() {
        assert_eq!(out.eof, None);
    } else if out.messages.last().is_some_and(|m| !m.ended) {
        assert_eq!(out.eof, Some(Err(Error::Incomplete)));
    }
}

/// Runs the target named `name` on `data` (used to replay the corpus).
pub fn by_name(name: &str) -> Option<fn(&[u8])> {
    match name {
        "requests" => Some(requests),
        "chunked" => Some(chunked),
        "differential" => Some(differential),
        _ => None,
    }
}
