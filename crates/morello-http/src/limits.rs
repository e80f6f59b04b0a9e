//! Named, documented limits on everything a client can make the codec hold.

/// Limits applied while decoding a request. Every default is documented on its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target and version, without the CRLF). Default 8190.
    /// Exceeding it answers 414.
    pub max_request_line: usize,
    /// Most header fields in one head (trailers count separately, against the same number).
    /// Default 100. Exceeding it answers 431.
    pub max_header_count: usize,
    /// Longest single header line (`name: value`, without the CRLF). Default 8190.
    /// Exceeding it answers 431.
    pub max_field_size: usize,
    /// Longest whole head, request line and headers included. Default 64 KiB. Exceeding it
    /// answers 431.
    pub max_head_size: usize,
    /// Largest request body in bytes; 0 means unlimited. Default 0. A Content-Length above it,
    /// or a chunked body growing past it, answers 413.
    pub max_body_size: u64,
    /// Longest chunk-size line (size, extensions and all, without the CRLF). Default 4096.
    /// Exceeding it answers 400: this is what stops chunk-extension floods.
    pub max_chunk_line: usize,
    /// Largest trailer section in bytes. Default 8190. Exceeding it answers 431.
    pub max_trailer_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_line: 8190,
            max_header_count: 100,
            max_field_size: 8190,
            max_head_size: 64 * 1024,
            max_body_size: 0,
            max_chunk_line: 4096,
            max_trailer_size: 8190,
        }
    }
}
