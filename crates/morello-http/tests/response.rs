//! Response side: planning, head and chunk encoding, validators.
#![allow(clippy::unwrap_used)]

use morello_http::{
    is_hop_by_hop, plan_response, validate_header_name, validate_header_value, validate_status,
    write_chunk, write_head, write_head_block, BodyFraming, FieldBlock, RequestInfo, ResponsePlan,
    Version, LAST_CHUNK,
};

const V10: Version = Version::Http10;
const V11: Version = Version::Http11;
const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

fn info(version: Version, is_head: bool, keep_alive: bool, asked: bool) -> RequestInfo {
    RequestInfo {
        version,
        is_head,
        keep_alive,
        asked_keep_alive: asked,
    }
}

#[test]
fn plan_table() {
    use BodyFraming::*;
    // (request, server, status, content-length) -> (framing, keep_alive)
    type Case = (RequestInfo, Version, u16, Option<u64>, BodyFraming, bool);
    let cases: &[Case] = &[
        (
            info(V11, false, true, false),
            V11,
            200,
            Some(5),
            Length(5),
            true,
        ),
        (info(V11, false, true, false), V11, 200, None, Chunked, true),
        (
            info(V11, false, false, false),
            V11,
            200,
            None,
            Chunked,
            false,
        ),
        (
            info(V11, false, false, false),
            V11,
            200,
            Some(0),
            Length(0),
            false,
        ),
        (
            info(V11, true, true, false),
            V11,
            200,
            Some(5),
            NoBody,
            true,
        ),
        (info(V11, true, true, false), V11, 200, None, NoBody, true),
        (info(V11, false, true, false), V11, 204, None, NoBody, true),
        (
            info(V11, false, true, false),
            V11,
            304,
            Some(10),
            NoBody,
            true,
        ),
        (info(V11, false, true, false), V11, 100, None, NoBody, true),
        (info(V11, false, true, false), V11, 199, None, NoBody, true),
        (info(V11, false, true, false), V11, 205, None, Chunked, true),
        // HTTP/1.0 peer.
        (
            info(V10, false, false, false),
            V11,
            200,
            Some(5),
            Length(5),
            false,
        ),
        (
            info(V10, false, true, true),
            V11,
            200,
            Some(5),
            Length(5),
            true,
        ),
        (
            info(V10, false, true, true),
            V11,
            200,
            None,
            CloseDelimited,
            false,
        ),
        (
            info(V10, false, false, false),
            V11,
            200,
            None,
            CloseDelimited,
            false,
        ),
        (info(V10, true, true, true), V11, 200, None, NoBody, true),
        (info(V10, false, true, true), V11, 204, None, NoBody, true),
        // HTTP/1.0 server setting.
        (
            info(V11, false, true, false),
            V10,
            200,
            Some(5),
            Length(5),
            false,
        ),
        (
            info(V11, false, true, true),
            V10,
            200,
            Some(5),
            Length(5),
            true,
        ),
        (
            info(V11, false, true, true),
            V10,
            200,
            None,
            CloseDelimited,
            false,
        ),
        (
            info(V11, false, false, true),
            V10,
            200,
            Some(5),
            Length(5),
            false,
        ),
        (info(V11, true, true, false), V10, 200, None, NoBody, false),
    ];
    for &(request, server, status, cl, framing, keep_alive) in cases {
        let plan = plan_response(request, server, status, cl);
        assert_eq!(
            plan.version, server,
            "{request:?} {server:?} {status} {cl:?}"
        );
        assert_eq!(
            plan.framing, framing,
            "{request:?} {server:?} {status} {cl:?}"
        );
        assert_eq!(
            plan.keep_alive, keep_alive,
            "{request:?} {server:?} {status} {cl:?}"
        );
        assert_eq!(plan.peer_http10, request.version == V10);
    }
}

fn head(plan: &ResponsePlan, status: &str, headers: &[(&str, &str)], server: &str) -> String {
    let mut out = b"prefix|".to_vec();
    write_head(
        &mut out,
        plan,
        status.as_bytes(),
        headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        DATE,
        server.as_bytes(),
    );
    // The pre-rendered path writes exactly the same head.
    let mut fields = FieldBlock::with_capacity(16);
    assert!(fields.is_empty());
    for (n, v) in headers {
        fields.push(n.as_bytes(), v.as_bytes());
    }
    assert_eq!(fields.len(), headers.len());
    let mut block_out = b"prefix|".to_vec();
    write_head_block(
        &mut block_out,
        plan,
        status.as_bytes(),
        &fields,
        DATE,
        server.as_bytes(),
    );
    assert_eq!(block_out, out);
    String::from_utf8(out).unwrap()
}

#[test]
fn write_head_chunked_keep_alive() {
    let plan = plan_response(info(V11, false, true, false), V11, 200, None);
    assert_eq!(
        head(&plan, "200 OK", &[("Content-Type", "text/plain")], "morello"),
        "prefix|HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: morello\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
}

#[test]
fn write_head_length_close() {
    let plan = plan_response(info(V11, false, false, false), V11, 404, Some(9));
    assert_eq!(
        head(&plan, "404 Not Found", &[("Content-Length", "9")], ""),
        "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n"
            .replace("HTTP", "prefix|HTTP")
    );
}

#[test]
fn write_head_respects_app_date_and_server() {
    let plan = plan_response(info(V11, false, true, false), V11, 200, Some(0));
    assert_eq!(
        head(
            &plan,
            "200 OK",
            &[
                ("date", "yesterday"),
                ("SERVER", "app"),
                ("Content-Length", "0")
            ],
            "morello"
        ),
        "prefix|HTTP/1.1 200 OK\r\ndate: yesterday\r\nSERVER: app\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn write_head_http10_peer_kept_alive() {
    let plan = plan_response(info(V10, false, true, true), V11, 200, Some(2));
    assert_eq!(
        head(&plan, "200 OK", &[("Content-Length", "2")], "s"),
        "prefix|HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: s\r\nConnection: keep-alive\r\n\r\n"
    );
    // HTTP/1.0 peer, close-delimited.
    let plan = plan_response(info(V10, false, true, true), V11, 200, None);
    assert_eq!(
        head(&plan, "200 OK", &[], "s"),
        "prefix|HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: s\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn write_head_http10_server() {
    let plan = plan_response(info(V11, false, true, true), V10, 200, Some(2));
    assert_eq!(
        head(&plan, "200 OK", &[("Content-Length", "2")], ""),
        "prefix|HTTP/1.0 200 OK\r\nContent-Length: 2\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn write_head_no_body() {
    let plan = plan_response(info(V11, true, true, false), V11, 200, Some(100));
    assert_eq!(
        head(&plan, "200 OK", &[("Content-Length", "100")], ""),
        "prefix|HTTP/1.1 200 OK\r\nContent-Length: 100\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
    );
    let plan = plan_response(info(V11, false, true, false), V11, 204, None);
    assert_eq!(
        head(&plan, "204 No Content", &[], ""),
        "prefix|HTTP/1.1 204 No Content\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
    );
}

#[test]
fn write_head_empty_date_is_omitted() {
    let plan = plan_response(info(V11, false, true, false), V11, 200, Some(0));
    let mut out = Vec::new();
    write_head(
        &mut out,
        &plan,
        b"200 ",
        [(&b"Content-Length"[..], &b"0"[..])],
        b"",
        b"",
    );
    assert_eq!(out, b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n");
}

#[test]
fn chunks() {
    let mut out = Vec::new();
    write_chunk(&mut out, b"hello");
    write_chunk(&mut out, b"");
    write_chunk(&mut out, &[b'x'; 26]);
    write_chunk(&mut out, &vec![b'y'; 0x1000]);
    out.extend_from_slice(LAST_CHUNK);
    let mut expected = b"5\r\nhello\r\n1a\r\n".to_vec();
    expected.extend_from_slice(&[b'x'; 26]);
    expected.extend_from_slice(b"\r\n1000\r\n");
    expected.extend_from_slice(&[b'y'; 0x1000]);
    expected.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(out, expected);
}

#[test]
fn written_chunks_decode_back() {
    use morello_http::{BodyDecoder, Framing, Limits};
    let mut wire = Vec::new();
    for piece in [&b"a"[..], b"bcd", &[0u8; 300]] {
        write_chunk(&mut wire, piece);
    }
    wire.extend_from_slice(LAST_CHUNK);
    let mut d = BodyDecoder::new(Framing::Chunked, &Limits::default());
    let mut at = 0;
    let mut body = Vec::new();
    loop {
        let r = d.decode(&wire[at..]).unwrap();
        body.extend_from_slice(&wire[at..][r.data.clone()]);
        at += r.consumed;
        if r.done {
            break;
        }
    }
    assert_eq!(at, wire.len());
    assert_eq!(body.len(), 304);
}

#[test]
fn status_validation() {
    assert_eq!(validate_status(b"200 OK"), Ok(200));
    assert_eq!(validate_status(b"404 Not Found"), Ok(404));
    assert_eq!(validate_status(b"200 "), Ok(200));
    assert_eq!(validate_status(b"100 Continue"), Ok(100));
    assert_eq!(validate_status(b"599 Custom\tThing"), Ok(599));
    assert_eq!(validate_status(b"200 Caf\xe9"), Ok(200));
    for bad in [
        &b"200"[..],
        b"2000 OK",
        b"20 OK",
        b"200\tOK",
        b"200OK",
        b"OK",
        b"",
        b" 200 OK",
        b"2x0 OK",
        b"099 Low",
        b"600 High",
        b"000 Zero",
        b"200 O\rK",
        b"200 OK\r\n",
        b"200 O\nK",
        b"200 O\0K",
        b"200 O\x7fK",
        b"200 O\x01K",
    ] {
        assert!(validate_status(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn header_validation() {
    assert!(validate_header_name(b"Content-Type"));
    assert!(validate_header_name(b"x-!#$%&'*+-.^_`|~"));
    for bad in [
        &b""[..],
        b"Bad Name",
        b"Bad:Name",
        b"Bad\r\nName",
        b"B(d)",
        b"N\xe9",
    ] {
        assert!(!validate_header_name(bad), "{bad:?}");
    }
    assert!(validate_header_value(b""));
    assert!(validate_header_value(b"text/html; charset=utf-8"));
    assert!(validate_header_value(b"a\tb"));
    assert!(validate_header_value(b"caf\xe9"));
    for bad in [
        &b"a\rb"[..],
        b"a\nb",
        b"a\r\nX-Injected: 1",
        b"a\0b",
        b"a\x7fb",
        b"a\x1bb",
    ] {
        assert!(!validate_header_value(bad), "{bad:?}");
    }
}

#[test]
fn hop_by_hop() {
    for name in [
        "Connection",
        "keep-alive",
        "PROXY-AUTHENTICATE",
        "Proxy-Authorization",
        "te",
        "Trailer",
        "Trailers",
        "Transfer-Encoding",
        "upgrade",
    ] {
        assert!(is_hop_by_hop(name.as_bytes()), "{name}");
    }
    for name in [
        "Content-Length",
        "Content-Type",
        "X-Connection",
        "Connections",
        "Date",
        "Server",
        "",
    ] {
        assert!(!is_hop_by_hop(name.as_bytes()), "{name}");
    }
}
