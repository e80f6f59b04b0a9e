//! Request-target helpers: splitting path and query, and percent-decoding the path.

use std::borrow::Cow;

/// A request target split into its path and query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The path, still percent-encoded. For absolute-form targets the scheme and authority
    /// are removed (an empty path becomes `/`). For `*` it is `*`. For authority-form
    /// (CONNECT) it is empty.
    pub path: &'a [u8],
    /// The query without its `?`, raw (empty when absent).
    pub query: &'a [u8],
}

/// Strips a case-insensitive `http://` or `https://` prefix.
pub(crate) fn strip_http_scheme(target: &[u8]) -> Option<&[u8]> {
    let colon = memchr::memchr(b':', target)?;
    let scheme = &target[..colon];
    if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
        return None;
    }
    target[colon + 1..].strip_prefix(b"//")
}

/// Splits a validated request target into path and query.
pub fn split_target(target: &[u8]) -> Target<'_> {
    let (path_and_query, absolute) = if target.starts_with(b"/") || target == b"*" {
        (target, false)
    } else if let Some(rest) = strip_http_scheme(target) {
        let authority_end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        (&rest[authority_end..], true)
    } else {
        return Target {
            path: b"",
            query: b"",
        };
    };
    let (path, query) = match memchr::memchr(b'?', path_and_query) {
        Some(q) => (&path_and_query[..q], &path_and_query[q + 1..]),
        None => (path_and_query, &b""[..]),
    };
    let path = if absolute && path.is_empty() {
        &b"/"[..]
    } else {
        path
    };
    Target { path, query }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a path into bytes. Malformed escapes (`%`, `%4`, `%zz`) are kept as they
/// are. With `keep_quoted_slash`, `%2F` and `%2f` are kept encoded, so an encoded slash stays
/// distinguishable from a path separator.
///
/// A path without `%` (the usual case) is returned as it is, borrowed.
pub fn percent_decode_path(path: &[u8], keep_quoted_slash: bool) -> Cow<'_, [u8]> {
    if memchr::memchr(b'%', path).is_none() {
        return Cow::Borrowed(path);
    }
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b == b'%' {
            if let Some(&[h, l]) = path.get(i + 1..i + 3) {
                if let (Some(h), Some(l)) = (hex_value(h), hex_value(l)) {
                    let decoded = (h << 4) | l;
                    if keep_quoted_slash && decoded == b'/' {
                        out.extend_from_slice(&path[i..i + 3]);
                    } else {
                        out.push(decoded);
                    }
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme() {
        assert_eq!(strip_http_scheme(b"HTTP://h/"), Some(&b"h/"[..]));
        assert_eq!(strip_http_scheme(b"https://h"), Some(&b"h"[..]));
        assert_eq!(strip_http_scheme(b"ftp://h"), None);
        assert_eq!(strip_http_scheme(b"http:/h"), None);
        assert_eq!(strip_http_scheme(b"h:80"), None);
    }
}
