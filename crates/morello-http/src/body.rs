//! Request body framing: Content-Length and chunked decoding.

use crate::chunk::{check_trailer, parse_chunk_line};
use crate::error::Error;
use crate::limits::Limits;
use crate::scan::{scan_line, Scan, ScanError};

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (no Content-Length, no Transfer-Encoding, or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// The result of one [`BodyDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input consumed (framing and data).
    pub consumed: usize,
    /// The range of the input holding body data to deliver (may be empty).
    pub data: std::ops::Range<usize>,
    /// The body (with its trailers) is complete.
    pub done: bool,
}

/// Decodes one request body. Chunk data is returned as sub-ranges of the input, never copied.
/// Trailers are parsed, validated and counted against limits, then discarded: they never
/// change framing and never reach the application.
///
/// After an error the decoder is poisoned and returns that error forever.
#[derive(Debug)]
pub struct BodyDecoder {
    framing: Framing,
    max_body_size: u64,
    max_chunk_line: usize,
    max_trailer_size: usize,
    max_header_count: usize,
    received: u64,
    chunk: ChunkState,
    /// Bytes of the current (incomplete) chunk-size or trailer line already scanned.
    scanned: usize,
    failed: Option<Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data; this many bytes are left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: reading trailer lines; `size` bytes and `count` fields so far.
    Trailers { size: usize, count: usize },
    /// Complete.
    Done,
}

impl BodyDecoder {
    /// A decoder for a body with `framing`, enforcing the body, chunk-line and trailer limits.
    pub fn new(framing: Framing, limits: &Limits) -> Self {
        Self {
            framing,
            max_body_size: limits.max_body_size,
            max_chunk_line: limits.max_chunk_line,
            max_trailer_size: limits.max_trailer_size,
            max_header_count: limits.max_header_count,
            received: 0,
            chunk: ChunkState::Size,
            scanned: 0,
            failed: None,
        }
    }

    /// Decodes as much of `input` as it can. Call again with the unconsumed rest plus new
    /// bytes. A call that can make no progress returns `consumed: 0`, an empty `data` and
    /// `done: false`.
    ///
    /// At most one piece of data is returned per call; `consumed` then covers it and the
    /// framing before it. Once the body is done, calls consume nothing and return `done`.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let result = match self.framing {
            Framing::Empty => Ok(Decoded {
                consumed: 0,
                data: 0..0,
                done: true,
            }),
            Framing::Length(n) => Ok(self.decode_length(n, input)),
            Framing::Chunked => self.decode_chunked(input),
        };
        if let Err(e) = result {
            self.failed = Some(e);
        }
        result
    }

    fn decode_length(&mut self, length: u64, input: &[u8]) -> Decoded {
        let left = length.saturating_sub(self.received);
        let take = usize::try_from(left).map_or(input.len(), |left| left.min(input.len()));
        // `take` fits in a u64: it is at most `left`.
        self.received = self.received.saturating_add(take as u64);
        Decoded {
            consumed: take,
            data: 0..take,
            done: self.received >= length,
        }
    }

    fn decode_chunked(&mut self, input: &[u8]) -> Result<Decoded, Error> {
        let mut pos = 0;
        let pending = |pos: usize, done: bool| Decoded {
            consumed: pos,
            data: pos..pos,
            done,
        };
        loop {
            match self.chunk {
                ChunkState::Size => {
                    let cr = match self.scan(input, pos, self.max_chunk_line)? {
                        Some(cr) => cr,
                        None => return Ok(pending(pos, false)),
                    };
                    let size = parse_chunk_line(&input[pos..cr])?;
                    pos = cr + 2;
                    if size == 0 {
                        self.chunk = ChunkState::Trailers { size: 0, count: 0 };
                    } else {
                        let total = self.received.checked_add(size).ok_or(Error::BodyTooLarge)?;
                        if self.max_body_size != 0 && total > self.max_body_size {
                            return Err(Error::BodyTooLarge);
                        }
                        self.chunk = ChunkState::Data(size);
                    }
                }
                ChunkState::Data(left) => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return Ok(pending(pos, false));
                    }
                    let take = usize::try_from(left).map_or(avail, |left| left.min(avail));
                    let take64 = take as u64;
                    self.received = self.received.saturating_add(take64);
                    let left = left - take64;
                    self.chunk = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(Decoded {
                        consumed: pos + take,
                        data: pos..pos + take,
                        done: false,
                    });
                }
                ChunkState::DataEnd => {
                    match input.get(pos) {
                        None => return Ok(pending(pos, false)),
                        Some(b'\r') => {}
                        Some(_) => return Err(Error::BadChunk),
                    }
                    match input.get(pos + 1) {
                        None => return Ok(pending(pos, false)),
                        Some(b'\n') => {}
                        Some(_) => return Err(Error::BadChunk),
                    }
                    pos += 2;
                    self.chunk = ChunkState::Size;
                }
                ChunkState::Trailers { size, count } => {
                    let budget = self.max_trailer_size.saturating_sub(size);
                    let cr = match self.scan(input, pos, budget) {
                        Ok(Some(cr)) => cr,
                        Ok(None) => return Ok(pending(pos, false)),
                        Err(Error::ChunkLineTooLong) => return Err(Error::TrailersTooLarge),
                        Err(e) => return Err(e),
                    };
                    let line = &input[pos..cr];
                    pos = cr + 2;
                    if line.is_empty() {
                        self.chunk = ChunkState::Done;
                        return Ok(pending(pos, true));
                    }
                    let count = count + 1;
                    if count > self.max_header_count {
                        return Err(Error::TrailersTooLarge);
                    }
                    check_trailer(line)?;
                    self.chunk = ChunkState::Trailers {
                        size: size.saturating_add(line.len()),
                        count,
                    };
                }
                ChunkState::Done => return Ok(pending(pos, true)),
            }
        }
    }

    /// Scans for the end of the framing line starting at `pos`, resuming where the last call
    /// stopped. `Ok(None)`: not complete yet (the scan position is saved).
    fn scan(&mut self, input: &[u8], pos: usize, max_line: usize) -> Result<Option<usize>, Error> {
        let from = pos.saturating_add(self.scanned);
        match scan_line(input, pos, from, max_line, usize::MAX) {
            Ok(Scan::Line(cr)) => {
                self.scanned = 0;
                Ok(Some(cr))
            }
            Ok(Scan::Partial(at)) => {
                self.scanned = at.saturating_sub(pos);
                Ok(None)
            }
            Err(ScanError::LineEnding) => Err(Error::BadLineEnding),
            Err(ScanError::LineTooLong | ScanError::TotalTooLarge) => Err(Error::ChunkLineTooLong),
        }
    }

    /// True once the whole body (and its trailers) has been decoded.
    pub fn is_done(&self) -> bool {
        match self.framing {
            Framing::Empty => true,
            Framing::Length(n) => self.received >= n,
            Framing::Chunked => self.chunk == ChunkState::Done,
        }
    }

    /// Body bytes delivered so far.
    pub fn received(&self) -> u64 {
        self.received
    }
}
