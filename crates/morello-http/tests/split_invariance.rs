//! Design rule 4: the outcome never depends on how the input is split into reads. Every case
//! of a corpus (valid and invalid) is decoded whole, byte by byte, at every CRLF, at every
//! single split point and in pseudo-random pieces (see `common::check_with`); then the corpus
//! is mutated to reach odd states, and cases are concatenated to check pipelining.
#![allow(clippy::unwrap_used)]

mod common;

use common::targets::small_limits;
use common::*;
use morello_http::Limits;

const CORPUS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\r\n\r\nGET /x?y HTTP/1.1\r\nHost: a:1\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"HEAD http://a/b HTTP/1.1\r\nHost: a\r\nX-A: \t v \xa0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\"b;c\"\r\n\r\n\r\n1 ; x = y\r\n!\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    // Invalid ones.
    b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /#f HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\na\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nContent-Length: 1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\n\r\na\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\"\r\na\r\n0\r\n\r\n",
    // Incomplete ones.
    b"GET / HTTP/1.1\r\nHost: a\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
];

#[test]
fn corpus_is_split_invariant() {
    for case in CORPUS {
        check(case);
        check_with(&small_limits(), case);
    }
}

#[test]
fn three_piece_splits() {
    for case in CORPUS.iter().filter(|c| c.len() <= 80) {
        let whole = run(&Limits::default(), [*case]);
        for i in 0..=case.len() {
            for j in i..=case.len() {
                let out = run(&Limits::default(), [&case[..i], &case[i..j], &case[j..]]);
                assert_eq!(
                    whole,
                    out,
                    "split at {i},{j} of {:?}",
                    String::from_utf8_lossy(case)
                );
            }
        }
    }
}

#[test]
fn pipelined_pairs_compose() {
    for a in CORPUS {
        let first = run(&Limits::default(), [*a]);
        // Only complete messages that leave the connection usable can be followed.
        if first.error.is_some() || first.eof != Some(Ok(())) {
            continue;
        }
        for b in CORPUS {
            let second = run(&Limits::default(), [*b]);
            let mut joined = a.to_vec();
            joined.extend_from_slice(b);
            let both = check(&joined);
            let mut expected = first.messages.clone();
            expected.extend(second.messages.clone());
            assert_eq!(both.messages, expected);
            assert_eq!(both.error, second.error);
            assert_eq!(both.eof, second.eof);
        }
    }
}

/// Deterministic xorshift generator for the mutation test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_corpus_is_split_invariant() {
    const INTERESTING: &[u8] = b"\r\n\0 \t:;,=\"\\#*/?0aF@\x7f\x80\xff";
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..600 {
        let mut case = CORPUS[rng.below(CORPUS.len())].to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(case.len() + 1);
            let byte = INTERESTING[rng.below(INTERESTING.len())];
            match rng.below(3) {
                0 if at < case.len() => case[at] = byte,
                1 if at < case.len() => {
                    case.remove(at);
                }
                _ => case.insert(at, byte),
            }
        }
        let limits = if round % 2 == 0 {
            Limits::default()
        } else {
            small_limits()
        };
        check_with(&limits, &case);
    }
}
