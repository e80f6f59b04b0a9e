//! Test harness: feeds a byte stream to a `RequestDecoder` the way a server would (append,
//! decode until it needs more, drain what was consumed) and checks that the result does not
//! depend on how the stream is split into reads.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use morello_http::{Error, Event, Framing, Limits, RequestDecoder, RequestHead, Version};

pub mod oracle;
pub mod targets;

/// What a test needs to know about a decoded head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadSummary {
    pub method: Vec<u8>,
    pub target: Vec<u8>,
    pub version: Version,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub framing: Framing,
    pub keep_alive: bool,
    pub asked_keep_alive: bool,
    pub expect_continue: bool,
    pub hide_content_length: bool,
    pub is_head: bool,
}

impl HeadSummary {
    fn of(head: &RequestHead) -> Self {
        let info = head.info();
        assert_eq!(info.version, head.version());
        assert_eq!(info.keep_alive, head.keep_alive());
        assert_eq!(info.is_head, head.is_head());
        assert_eq!(info.asked_keep_alive, head.asked_keep_alive());
        Self {
            method: head.method().to_vec(),
            target: head.target().to_vec(),
            version: head.version(),
            headers: head
                .headers()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect(),
            framing: head.framing(),
            keep_alive: head.keep_alive(),
            asked_keep_alive: head.asked_keep_alive(),
            expect_continue: head.expect_continue(),
            hide_content_length: head.hide_content_length(),
            is_head: head.is_head(),
        }
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }
}

/// One request as the harness saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub head: HeadSummary,
    pub body: Vec<u8>,
    pub ended: bool,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub messages: Vec<Message>,
    pub error: Option<Error>,
    /// What `eof` said once all input was fed (only when no error came first).
    pub eof: Option<Result<(), Error>>,
    /// Bytes left unconsumed at the end (only when no error came).
    pub leftover: Vec<u8>,
}

impl Outcome {
    /// The only message; panics unless there is exactly one, complete, and no error.
    pub fn single(&self) -> &Message {
        assert_eq!(self.error, None, "unexpected error: {self:?}");
        assert_eq!(self.messages.len(), 1, "{self:?}");
        assert!(self.messages[0].ended, "{self:?}");
        &self.messages[0]
    }

    /// The only head.
    pub fn head(&self) -> &HeadSummary {
        &self.single().head
    }
}

/// Feeds `chunks` one after the other; after each `End` calls `start_next` at once (as a
/// server that answered instantly would).
pub fn run<'a>(limits: &Limits, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut decoder = RequestDecoder::new(limits.clone());
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Outcome::default();
    let bound = held_bound(limits);
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        if let Err(e) = pump(&mut decoder, &mut buf, &mut out) {
            out.error = Some(e);
            // Poisoned: whatever else arrives, the same error and never an event.
            assert_eq!(decoder.decode(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), Err(e));
            assert_eq!(decoder.error(), Some(e));
            return out;
        }
        // Design rule 5: what the decoder makes the caller keep is bounded by the limits.
        assert!(
            buf.len() <= bound,
            "caller must hold {} bytes, more than the limits allow ({bound})",
            buf.len()
        );
    }
    out.eof = Some(decoder.eof(&buf));
    out.leftover = buf;
    out
}

/// The most bytes a caller must keep unconsumed after `decode` returned `NeedMore`: a
/// partial head (at most `max_head_size`), a partial chunk-size line (`max_chunk_line` bytes
/// and its CR) or a partial trailer line (`max_trailer_size` and its CR). A server holds at
/// most this plus one read.
pub fn held_bound(limits: &Limits) -> usize {
    limits
        .max_head_size
        .max(limits.max_chunk_line.saturating_add(1))
        .max(limits.max_trailer_size.saturating_add(1))
}

fn pump(decoder: &mut RequestDecoder, buf: &mut Vec<u8>, out: &mut Outcome) -> Result<(), Error> {
    loop {
        let (consumed, event) = decoder.decode(buf)?;
        assert!(consumed <= buf.len());
        let stop = match event {
            Event::Head(head) => {
                assert!(consumed > 0);
                assert!(decoder.in_body());
                out.messages.push(Message {
                    head: HeadSummary::of(&head),
                    body: Vec::new(),
                    ended: false,
                });
                false
            }
            Event::Data(data) => {
                assert!(!data.is_empty());
                // Zero-copy: the data is the tail of the consumed bytes.
                let start = data.as_ptr() as usize - buf.as_ptr() as usize;
                assert_eq!(start + data.len(), consumed);
                out.messages
                    .last_mut()
                    .unwrap()
                    .body
                    .extend_from_slice(data);
                false
            }
            Event::End => {
                let msg = out.messages.last_mut().unwrap();
                assert!(!msg.ended);
                msg.ended = true;
                assert!(decoder.is_done());
                assert!(!decoder.in_body());
                false
            }
            Event::NeedMore => true,
            Event::Paused => panic!("paused although start_next was called"),
        };
        buf.drain(..consumed);
        if decoder.is_done() {
            // Design rule 3: nothing more until start_next.
            assert_eq!(decoder.decode(buf), Ok((0, Event::Paused)));
            decoder.start_next();
        }
        if stop {
            return Ok(());
        }
    }
}

/// Splits `input` after every CRLF.
pub fn crlf_pieces(input: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for i in 1..input.len() {
        if input[i - 1] == b'\r' && input[i] == b'\n' {
            pieces.push(&input[start..=i]);
            start = i + 1;
        }
    }
    pieces.push(&input[start..]);
    pieces
}

/// Inputs up to this length are also tried split at every point, and in three pieces.
const EXHAUSTIVE_MAX: usize = 400;

/// Decodes `input` whole, byte by byte, split at every CRLF and (for short inputs) split at
/// every point; asserts all give the same outcome and returns it.
pub fn check_with(limits: &Limits, input: &[u8]) -> Outcome {
    let whole = run(limits, [input]);
    let bytes = run(limits, input.chunks(1));
    assert_eq!(
        whole,
        bytes,
        "byte by byte differs for {:?}",
        String::from_utf8_lossy(input)
    );
    let crlf = run(limits, crlf_pieces(input));
    assert_eq!(
        whole,
        crlf,
        "CRLF split differs for {:?}",
        String::from_utf8_lossy(input)
    );
    if input.len() <= EXHAUSTIVE_MAX {
        for i in 0..=input.len() {
            let split = run(limits, [&input[..i], &input[i..]]);
            assert_eq!(
                whole,
                split,
                "split at {i} differs for {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
    // A few deterministic pseudo-random splittings (reads of 1 to 7 bytes).
    let mut seed: u32 = 0x9e37_79b9;
    for _ in 0..8 {
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < input.len() {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = 1 + (seed >> 24) as usize % 7;
            let end = (at + n).min(input.len());
            pieces.push(&input[at..end]);
            at = end;
        }
        let random = run(limits, pieces);
        assert_eq!(
            whole,
            random,
            "random split differs for {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

/// [`check_with`] with default limits.
pub fn check(input: &[u8]) -> Outcome {
    check_with(&Limits::default(), input)
}

/// Asserts `input` fails with `error` (however it is split) and returns the outcome.
pub fn check_err(input: &[u8], error: Error) -> Outcome {
    check_err_with(&Limits::default(), input, error)
}

/// [`check_err`] with `limits`.
pub fn check_err_with(limits: &Limits, input: &[u8], error: Error) -> Outcome {
    let out = check_with(limits, input);
    assert_eq!(
        out.error,
        Some(error),
        "for {:?}: {out:?}",
        String::from_utf8_lossy(input)
    );
    out
}

/// Asserts `input` is one complete request and returns it.
pub fn check_ok(input: &[u8]) -> Message {
    check_ok_with(&Limits::default(), input)
}

/// [`check_ok`] with `limits`.
pub fn check_ok_with(limits: &Limits, input: &[u8]) -> Message {
    let out = check_with(limits, input);
    assert_eq!(out.eof, Some(Ok(())), "{out:?}");
    assert!(out.leftover.is_empty(), "{out:?}");
    out.single().clone()
}

/// `GET / HTTP/1.1` with a Host header and the given extra header lines.
pub fn get_with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: example.com\r\n{headers}\r\n").into_bytes()
}

/// A `POST` with Host, the given header lines and then `body` as raw bytes.
pub fn post_with(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!("POST /upload HTTP/1.1\r\nHost: example.com\r\n{headers}\r\n").into_bytes();
    v.extend_from_slice(body);
    v
}

/// A chunked POST whose body is `body` (raw chunked framing).
pub fn chunked(body: &str) -> Vec<u8> {
    post_with("Transfer-Encoding: chunked\r\n", body.as_bytes())
}
