//! A cached IMF-fixdate for the `Date` header, refreshed at most once per second.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second `httpdate` can format (9999-12-31T23:59:59Z).
const MAX_SECOND: u64 = 253_402_300_799;

/// Holds the current `Date` value (`Sun, 06 Nov 1994 08:49:37 GMT`), reformatted only when
/// the second changes. One per thread; cheap to query.
#[derive(Debug)]
pub struct DateCache {
    second: u64,
    value: [u8; 29],
}

impl DateCache {
    /// A cache holding the current date.
    pub fn new() -> Self {
        let mut cache = Self {
            second: u64::MAX,
            value: [b' '; 29],
        };
        cache.refresh(SystemTime::now());
        cache
    }

    /// The current date as an IMF-fixdate.
    pub fn get(&mut self) -> &[u8] {
        self.refresh(SystemTime::now());
        &self.value
    }

    /// The date at `now` as an IMF-fixdate: for callers with a cheaper clock than
    /// `SystemTime::now` (a coarse one is enough, the value changes once per second).
    pub fn get_at(&mut self, now: SystemTime) -> &[u8] {
        self.refresh(now);
        &self.value
    }

    /// Reformats the value if `now` is in another second than the cached one. Times before
    /// 1970 or after 9999 are clamped (the formatter cannot represent them).
    fn refresh(&mut self, now: SystemTime) {
        let second = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .min(MAX_SECOND);
        if second == self.second {
            return;
        }
        let date = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(second));
        let mut value = [b' '; 29];
        if write!(&mut value[..], "{date}").is_ok() {
            self.value = value;
            self.second = second;
        }
    }
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        let mut cache = DateCache {
            second: u64::MAX,
            value: [b' '; 29],
        };
        cache.refresh(UNIX_EPOCH + Duration::from_secs(784_111_777));
        assert_eq!(&cache.value, b"Sun, 06 Nov 1994 08:49:37 GMT");
        // Same second: unchanged; next second: refreshed.
        cache.refresh(UNIX_EPOCH + Duration::from_millis(784_111_777_999));
        assert_eq!(&cache.value, b"Sun, 06 Nov 1994 08:49:37 GMT");
        cache.refresh(UNIX_EPOCH + Duration::from_secs(784_111_778));
        assert_eq!(&cache.value, b"Sun, 06 Nov 1994 08:49:38 GMT");
    }

    #[test]
    fn clamps_out_of_range_times() {
        let mut cache = DateCache {
            second: u64::MAX,
            value: [b' '; 29],
        };
        cache.refresh(UNIX_EPOCH - Duration::from_secs(10));
        assert_eq!(&cache.value, b"Thu, 01 Jan 1970 00:00:00 GMT");
        cache.refresh(UNIX_EPOCH + Duration::from_secs(MAX_SECOND + 1000));
        assert_eq!(&cache.value, b"Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn current_date_parses() {
        let mut cache = DateCache::new();
        let value = cache.get().to_vec();
        let text = std::str::from_utf8(&value).unwrap_or_default();
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
    }
}
