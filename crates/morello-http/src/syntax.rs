//! Byte-level grammar helpers shared by the request and response sides (RFC 9110/9112/3986).

/// A 256-entry membership table for a byte class: alphanumerics plus `extra`. A table lookup
/// is one load per byte where a chain of comparisons was a dozen branches; header names and
/// Host values are checked byte by byte on every request.
const fn byte_class(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// `tchar` of RFC 9110 section 5.6.2.
static TCHAR: [bool; 256] = byte_class(b"!#$%&'*+-.^_`|~");

/// `unreserved / sub-delims` of RFC 3986 (the characters of a reg-name besides `%`).
static REG_NAME: [bool; 256] = byte_class(b"-._~!$&'()*+,;=");

/// `tchar` of RFC 9110 section 5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// A non-empty sequence of `tchar`. Every byte is looked at (no early exit): valid names are
/// the common case, and a loop without a data-dependent branch runs faster on them.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().fold(true, |ok, &b| ok & is_tchar(b))
}

/// SP or HTAB (the only optional whitespace HTTP knows).
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Strips SP and HTAB (and nothing else) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// A byte allowed in a field value: HTAB, SP, VCHAR or obs-text (no other control, no DEL).
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// True if every byte of `s` is a field-value byte ([`is_field_value_byte`]): the check on
/// the header values an application sets. Request values are httparse's to check (see
/// `head::tokenize`). Written without an early exit so the compiler vectorizes it.
pub(crate) fn is_field_value(s: &[u8]) -> bool {
    s.iter().fold(true, |ok, &b| {
        ok & ((b == b'\t') | ((b >= 0x20) & (b != 0x7f)))
    })
}

/// Iterates over the elements of a comma-separated list, each trimmed of SP/HTAB. Empty
/// elements are yielded (as empty slices) so that callers can reject them.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// Parses a non-empty run of ASCII digits as a `u64`, overflow-checked. No sign, no spaces.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// `unreserved / sub-delims` of RFC 3986 (the characters of a reg-name besides `%`).
fn is_reg_name_byte(b: u8) -> bool {
    REG_NAME[usize::from(b)]
}

/// A non-empty reg-name or IPv4 address, percent-escapes checked.
fn is_reg_name(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            match s.get(i + 1..i + 3) {
                Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else if is_reg_name_byte(b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// `uri-host [ ":" port ]`: a non-empty reg-name, IPv4 address or bracketed IPv6 address,
/// then an optional colon and a non-empty run of digits. With `port_required` the port must
/// be there (CONNECT's authority-form).
pub(crate) fn is_authority(s: &[u8], port_required: bool) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix(b"[") {
        let Some(close) = memchr::memchr(b']', rest) else {
            return false;
        };
        let inner = &rest[..close];
        let ok_v6 = inner.len() >= 2
            && inner.contains(&b':')
            && inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ok_v6 {
            return false;
        }
        let after = &rest[close + 1..];
        match after {
            [] => (inner, None),
            [b':', port @ ..] => (inner, Some(port)),
            _ => return false,
        }
    } else {
        match memchr::memchr(b':', s) {
            Some(colon) => {
                let host = &s[..colon];
                if !is_reg_name(host) {
                    return false;
                }
                (host, Some(&s[colon + 1..]))
            }
            None => {
                if !is_reg_name(s) {
                    return false;
                }
                (s, None)
            }
        }
    };
    debug_assert!(!host.is_empty());
    match port {
        Some(p) => !p.is_empty() && p.iter().all(u8::is_ascii_digit),
        None => !port_required,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_classes_match_the_grammars() {
        // The tables against the RFC 9110 and RFC 3986 character lists, for all 256 bytes.
        let alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let tchar = format!("{alnum}!#$%&'*+-.^_`|~");
        let reg_name = format!("{alnum}-._~!$&'()*+,;=");
        for b in 0..=255u8 {
            assert_eq!(is_tchar(b), tchar.as_bytes().contains(&b), "tchar {b:#04x}");
            assert_eq!(
                is_reg_name_byte(b),
                reg_name.as_bytes().contains(&b),
                "reg-name {b:#04x}"
            );
            // The vectorizable whole-value check agrees with the byte rule wherever the byte is.
            let field_byte = b == b'\t' || (b >= 0x20 && b != 0x7f);
            assert_eq!(is_field_value_byte(b), field_byte, "field byte {b:#04x}");
            for at in [0, 1, 31, 32, 33, 63] {
                let mut value = vec![b'a'; 64];
                value[at] = b;
                assert_eq!(is_field_value(&value), field_byte, "field {b:#04x} at {at}");
            }
        }
        assert!(is_field_value(b""));
    }

    #[test]
    fn tokens() {
        assert!(is_token(b"GET"));
        assert!(is_token(b"x-Custom_1~"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(!is_token(b"a\x80"));
    }

    #[test]
    fn trimming_only_sp_htab() {
        assert_eq!(trim_ows(b" \t a b \t "), b"a b");
        assert_eq!(trim_ows(b"\xa0x\x85"), b"\xa0x\x85");
        assert_eq!(trim_ows(b"\x0bx\x0c"), b"\x0bx\x0c");
        assert_eq!(trim_ows(b"  "), b"");
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"0005"), Some(5));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        for bad in [&b""[..], b"+5", b"-5", b" 5", b"5 ", b"0x5", b"5_0"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn authorities() {
        for ok in [
            &b"example.com"[..],
            b"example.com:8080",
            b"127.0.0.1",
            b"127.0.0.1:80",
            b"[::1]",
            b"[::1]:443",
            b"[2001:db8::ff00:42:8329]",
            b"a%20b",
            b"xn--bcher-kva.example",
        ] {
            assert!(is_authority(ok, false), "{ok:?}");
        }
        for bad in [
            &b""[..],
            b":80",
            b"example.com:",
            b"example.com:8x",
            b"a b",
            b"user@host",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"[::g]",
            b"a%2",
            b"a%zz",
            b"h:1:2",
            b"/path",
        ] {
            assert!(!is_authority(bad, false), "{bad:?}");
        }
        assert!(is_authority(b"example.com:443", true));
        assert!(!is_authority(b"example.com", true));
        assert!(!is_authority(b"[::1]", true));
    }
}
