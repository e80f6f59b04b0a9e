//! Codec micro-benchmarks (criterion): `cargo bench -p morello-http` or `make bench-codec`.
//!
//! The target from the performance issue: a typical browser request head decodes in well
//! under 1 µs. Each benchmark decodes a whole head with a fresh decoder, as the server does
//! for every request, and encodes a response head into a reused buffer.
#![allow(missing_docs, clippy::unwrap_used, clippy::panic)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use morello_http::{
    plan_response, write_head_block, Event, FieldBlock, Limits, RequestDecoder, Version,
};

/// What `wrk` sends: the `hello` benchmark's request.
const MINIMAL: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n";

/// A Firefox navigation request (516 bytes, 11 fields).
const BROWSER: &[u8] = b"GET /articles/2026/11/wsgi-servers?sort=new&page=2 HTTP/1.1\r\n\
Host: www.example.org\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-GB,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.org/articles/2026/11/\r\n\
Connection: keep-alive\r\n\
Cookie: session=4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\r\n";

/// A JSON API POST with a length-delimited body (the head only is decoded).
const POST: &[u8] = b"POST /api/v1/items HTTP/1.1\r\n\
Host: api.example.org\r\n\
Content-Type: application/json\r\n\
Content-Length: 27\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl\r\n\
Accept: application/json\r\n\r\n";

fn decode_head(input: &[u8]) -> usize {
    let mut decoder = RequestDecoder::new(Limits::default());
    match decoder.decode(input) {
        Ok((n, Event::Head(head))) => n + head.headers().len(),
        other => panic!("the benchmark request did not decode: {other:?}"),
    }
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode head");
    for (name, input) in [("minimal", MINIMAL), ("browser", BROWSER), ("post", POST)] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| b.iter(|| decode_head(black_box(input))));
    }
    group.finish();
}

fn decode_byte_by_byte(c: &mut Criterion) {
    // The worst case for the resumable scanner: one byte per read.
    c.bench_function("decode head byte by byte/browser", |b| {
        b.iter_batched(
            || RequestDecoder::new(Limits::default()),
            |mut decoder| {
                for end in 1..=BROWSER.len() {
                    let input = black_box(&BROWSER[..end]);
                    if let Ok((_, Event::Head(head))) = decoder.decode(input) {
                        return head.headers().len();
                    }
                }
                panic!("the browser request did not decode byte by byte");
            },
            BatchSize::SmallInput,
        )
    });
}

fn encode(c: &mut Criterion) {
    let mut decoder = RequestDecoder::new(Limits::default());
    let info = match decoder.decode(BROWSER) {
        Ok((_, Event::Head(head))) => head.info(),
        other => panic!("the benchmark request did not decode: {other:?}"),
    };
    let mut fields = FieldBlock::with_capacity(128);
    fields.push(b"Content-Type", b"text/html; charset=utf-8");
    fields.push(b"Content-Length", b"13");
    fields.push(b"Cache-Control", b"no-store");
    let mut out = Vec::with_capacity(512);
    c.bench_function("encode response head", |b| {
        b.iter(|| {
            out.clear();
            let plan = plan_response(black_box(info), Version::Http11, 200, Some(13));
            write_head_block(
                &mut out,
                &plan,
                b"200 OK",
                &fields,
                b"Sun, 06 Nov 1994 08:49:37 GMT",
                b"morello",
            );
            out.len()
        })
    });
}

criterion_group!(benches, decode, decode_byte_by_byte, encode);
criterion_main!(benches);
