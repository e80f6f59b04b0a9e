//! Resumable line scanning shared by the head and the chunked-body decoders.
//!
//! The scanner behaves as if it looked at one byte at a time, so where a line ends, and which
//! error is reported, never depends on how the input was split into reads:
//!
//! 1. a byte at index `total_cap` or beyond is [`ScanError::TotalTooLarge`];
//! 2. after a CR, only LF may follow ([`ScanError::LineEnding`] otherwise) and ends the line;
//! 3. a bare LF or a NUL is [`ScanError::LineEnding`];
//! 4. a content byte beyond `max_line` bytes of the line is [`ScanError::LineTooLong`].

/// Why a line could not be scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// Bare CR, bare LF or NUL.
    LineEnding,
    /// The line has more than `max_line` content bytes.
    LineTooLong,
    /// The input reached `total_cap` bytes without the line ending before it.
    TotalTooLarge,
}

/// What the scanner found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The line ends here: the CR is at this index and the LF right after it.
    Line(usize),
    /// The line is not complete; resume scanning at this index once more bytes arrived.
    Partial(usize),
}

/// Scans `buf` for the CRLF ending the line that starts at `start`, resuming at `from`
/// (bytes in `start..from` were scanned before and hold no CR, LF or NUL).
pub(crate) fn scan_line(
    buf: &[u8],
    start: usize,
    from: usize,
    max_line: usize,
    total_cap: usize,
) -> Result<Scan, ScanError> {
    let hard_end = buf.len().min(total_cap);
    let line_cap = start.saturating_add(max_line);
    // Defensive clamping: callers keep `start <= from <= buf.len()`.
    let start = start.min(buf.len());
    let from = from.clamp(start, buf.len());
    if from > hard_end {
        // Bytes at or beyond `total_cap` are already there.
        return Err(ScanError::TotalTooLarge);
    }
    match memchr::memchr3(b'\r', b'\n', 0, &buf[from..hard_end]) {
        Some(offset) => {
            let at = from + offset;
            if line_cap < at {
                return Err(ScanError::LineTooLong);
            }
            if buf[at] != b'\r' {
                return Err(ScanError::LineEnding);
            }
            let next = at + 1;
            match buf.get(next) {
                None => Ok(Scan::Partial(at)),
                Some(_) if next >= total_cap => Err(ScanError::TotalTooLarge),
                Some(b'\n') => Ok(Scan::Line(at)),
                Some(_) => Err(ScanError::LineEnding),
            }
        }
        None => {
            if line_cap < hard_end {
                Err(ScanError::LineTooLong)
            } else if buf.len() > hard_end {
                Err(ScanError::TotalTooLarge)
            } else {
                Ok(Scan::Partial(hard_end))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(buf: &[u8], max_line: usize, total: usize) -> Result<Scan, ScanError> {
        scan_line(buf, 0, 0, max_line, total)
    }

    #[test]
    fn finds_lines() {
        assert_eq!(scan(b"abc\r\nx", 10, 100), Ok(Scan::Line(3)));
        assert_eq!(scan(b"\r\n", 0, 100), Ok(Scan::Line(0)));
        assert_eq!(scan(b"abc", 10, 100), Ok(Scan::Partial(3)));
        assert_eq!(scan(b"abc\r", 10, 100), Ok(Scan::Partial(3)));
        assert_eq!(scan_line(b"xxabc\r\n", 2, 4, 10, 100), Ok(Scan::Line(5)));
        // Out-of-range positions never panic.
        assert_eq!(scan_line(b"ab", 5, 9, 10, 100), Ok(Scan::Partial(2)));
        assert_eq!(
            scan_line(b"abcd", 3, 4, 10, 2),
            Err(ScanError::TotalTooLarge)
        );
    }

    #[test]
    fn line_endings() {
        assert_eq!(scan(b"ab\nc", 10, 100), Err(ScanError::LineEnding));
        assert_eq!(scan(b"ab\rc", 10, 100), Err(ScanError::LineEnding));
        assert_eq!(scan(b"ab\0c", 10, 100), Err(ScanError::LineEnding));
        assert_eq!(scan(b"ab\r\r\n", 10, 100), Err(ScanError::LineEnding));
    }

    #[test]
    fn limits() {
        assert_eq!(scan(b"abc\r\n", 3, 100), Ok(Scan::Line(3)));
        assert_eq!(scan(b"abcd", 3, 100), Err(ScanError::LineTooLong));
        assert_eq!(scan(b"abcd\r\n", 3, 100), Err(ScanError::LineTooLong));
        assert_eq!(scan(b"abc", 3, 100), Ok(Scan::Partial(3)));
        assert_eq!(scan(b"abcd", 10, 3), Err(ScanError::TotalTooLarge));
        assert_eq!(scan(b"abc", 10, 3), Ok(Scan::Partial(3)));
        assert_eq!(scan(b"ab\r\n", 10, 3), Err(ScanError::TotalTooLarge));
        assert_eq!(scan(b"ab\r", 10, 3), Ok(Scan::Partial(2)));
    }
}
