//! Request-target splitting and path decoding.

use morello_http::{percent_decode_path, split_target, Target};

fn split(t: &str) -> (&str, &str) {
    let Target { path, query } = split_target(t.as_bytes());
    (
        std::str::from_utf8(path).unwrap_or("?"),
        std::str::from_utf8(query).unwrap_or("?"),
    )
}

#[test]
fn origin_form() {
    assert_eq!(split("/"), ("/", ""));
    assert_eq!(split("/a/b"), ("/a/b", ""));
    assert_eq!(split("/a?x=1&y=2"), ("/a", "x=1&y=2"));
    assert_eq!(split("/a?"), ("/a", ""));
    assert_eq!(split("/a?b?c"), ("/a", "b?c"));
    assert_eq!(split("/%2F?%20"), ("/%2F", "%20"));
    assert_eq!(split("//x"), ("//x", ""));
}

#[test]
fn absolute_form() {
    assert_eq!(split("http://host/path?q"), ("/path", "q"));
    assert_eq!(split("https://host:8443/a/b"), ("/a/b", ""));
    assert_eq!(split("http://host"), ("/", ""));
    assert_eq!(split("http://host?q=1"), ("/", "q=1"));
    assert_eq!(split("HTTP://[::1]:80/x"), ("/x", ""));
    assert_eq!(split("Https://h/"), ("/", ""));
}

#[test]
fn asterisk_and_authority_forms() {
    assert_eq!(split("*"), ("*", ""));
    assert_eq!(split("example.com:443"), ("", ""));
    assert_eq!(split("[::1]:443"), ("", ""));
}

#[test]
fn percent_decoding() {
    assert_eq!(&*percent_decode_path(b"/a%20b", false), b"/a b");
    assert_eq!(
        &*percent_decode_path(b"/%e2%82%AC", false),
        "/\u{20ac}".as_bytes()
    );
    assert_eq!(&*percent_decode_path(b"/%00%ff", false), b"/\0\xff");
    assert_eq!(&*percent_decode_path(b"/plain", false), b"/plain");
    assert_eq!(&*percent_decode_path(b"", false), b"");
    assert_eq!(&*percent_decode_path(b"+", false), b"+");
}

#[test]
fn a_path_without_escapes_is_borrowed() {
    let path = b"/plain/path";
    assert!(matches!(
        percent_decode_path(path, false),
        std::borrow::Cow::Borrowed(p) if std::ptr::eq(p, &path[..])
    ));
    assert!(matches!(
        percent_decode_path(b"/a%20b", true),
        std::borrow::Cow::Owned(_)
    ));
}

#[test]
fn percent_decoding_keeps_malformed_escapes() {
    assert_eq!(&*percent_decode_path(b"/%", false), b"/%");
    assert_eq!(&*percent_decode_path(b"/%4", false), b"/%4");
    assert_eq!(&*percent_decode_path(b"/%zz", false), b"/%zz");
    assert_eq!(&*percent_decode_path(b"/%4g%41", false), b"/%4gA");
    assert_eq!(&*percent_decode_path(b"/%%41", false), b"/%A");
    assert_eq!(&*percent_decode_path(b"/%-1", false), b"/%-1");
    assert_eq!(&*percent_decode_path(b"%2", false), b"%2");
}

#[test]
fn quoted_slash() {
    assert_eq!(&*percent_decode_path(b"/a%2Fb%2fc", false), b"/a/b/c");
    assert_eq!(&*percent_decode_path(b"/a%2Fb%2fc", true), b"/a%2Fb%2fc");
    assert_eq!(&*percent_decode_path(b"/a%2Fb%20c", true), b"/a%2Fb c");
    // %252F decodes once, to %2F, which is not decoded again.
    assert_eq!(&*percent_decode_path(b"/%252F", false), b"/%2F");
    assert_eq!(&*percent_decode_path(b"/%252F", true), b"/%2F");
}
