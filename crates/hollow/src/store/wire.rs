//! The wire container: how a blob travels to and rests in a remote store (docs/FORMAT.md, "The
//! wire container").
//!
//! A blob in a store is either the raw blob (it starts with the blob magic `\x89HOLLOW\n`, and a
//! local directory store maps it in place) or a 32-byte envelope followed by an encoded payload:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `\x89HOLWIRE` |
//! | 8 | encoding: 0 none (the payload is the blob), 1 zstd (one zstd frame), 2 columnar (§19b) |
//! | 9..16 | reserved, zero |
//! | 16..24 | decoded length, u64 little-endian |
//! | 24..32 | xxh3-64 of the decoded bytes, u64 little-endian |
//!
//! The consumer tells them apart by the first eight bytes, so stores holding either kind (or
//! both) read the same, and a new encoding is a new tag: the store path does not change. A
//! payload is decoded as it streams in (never held whole), its decoded length bounded first by
//! the declared length and that by the reader's limit, and the result checked against the
//! declared length and checksum before anyone maps it.

use std::io::Write;

use xxhash_rust::xxh3::Xxh3;

use super::wire_columnar::StreamParser;

/// First bytes of an encoded (wire) blob.
pub const WIRE_MAGIC: [u8; 8] = *b"\x89HOLWIRE";
/// Length of the envelope before the payload.
pub const WIRE_HEADER_LEN: usize = 32;
/// Encoding tag: the payload is the blob itself.
const TAG_NONE: u8 = 0;
/// Encoding tag: the payload is one zstd frame with its content size.
const TAG_ZSTD: u8 = 1;
/// Encoding tag: the payload is a stream length and one zstd frame of the blob's columnar
/// stream (`wire_columnar`).
const TAG_COLUMNAR: u8 = 2;
/// The longest zstd frame header (`ZSTD_FRAMEHEADERSIZE_MAX`): enough to read the content size.
const ZSTD_FRAME_HEADER_MAX: usize = 18;

/// The zstd level remote stores use unless told otherwise.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// The largest decoded blob a store accepts unless told otherwise (16 GiB).
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 16 << 30;

/// How a [`BlobStore`](crate::BlobStore) writes blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireEncoding {
    /// The blob as it is: mappable in place (local directories and in-memory stores).
    Raw,
    /// An envelope and one zstd frame at this level (remote stores, level
    /// [`DEFAULT_ZSTD_LEVEL`] by default).
    Zstd {
        /// zstd's compression level (1..=22; negative levels are faster still).
        level: i32,
    },
    /// An envelope and the blob re-expressed for compression, then zstd at this level: index
    /// sections a snapshot's records determine are left out (the consumer rebuilds them),
    /// records shards travel column by column (docs/FORMAT.md §19b). The consumer decodes it
    /// into the same bytes as the other encodings.
    Columnar {
        /// zstd's compression level, as for [`WireEncoding::Zstd`].
        level: i32,
    },
}

impl std::fmt::Display for WireEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireEncoding::Raw => f.write_str("raw"),
            WireEncoding::Zstd { level } => write!(f, "zstd:{level}"),
            WireEncoding::Columnar { level } => write!(f, "columnar:{level}"),
        }
    }
}

impl std::str::FromStr for WireEncoding {
    type Err = String;

    /// `raw`, `zstd` / `columnar` (level 3) or `zstd:LEVEL` / `columnar:LEVEL`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let with_level = |name: &str, level: i32| {
            if name == "zstd" {
                WireEncoding::Zstd { level }
            } else {
                WireEncoding::Columnar { level }
            }
        };
        match s.split_once(':') {
            None if s == "raw" => Ok(WireEncoding::Raw),
            None if s == "zstd" || s == "columnar" => Ok(with_level(s, DEFAULT_ZSTD_LEVEL)),
            Some((name @ ("zstd" | "columnar"), level)) => level
                .parse::<i32>()
                .ok()
                .filter(|l| zstd::compression_level_range().contains(l))
                .map(|level| with_level(name, level))
                .ok_or_else(|| {
                    let range = zstd::compression_level_range();
                    format!(
                        "zstd level {level:?} is not an integer in {}..={}",
                        range.start(),
                        range.end()
                    )
                }),
            _ => Err(format!(
                "unknown wire encoding {s:?}: expected raw, zstd, zstd:LEVEL, columnar or columnar:LEVEL"
            )),
        }
    }
}

/// A blob's stored form is not a valid wire container, or decoding it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The object ends inside the 32-byte envelope.
    #[error("the wire envelope is truncated ({len} of 32 bytes)")]
    TruncatedHeader {
        /// Bytes present.
        len: usize,
    },
    /// An encoding tag this build does not know.
    #[error("unknown wire encoding tag {tag}")]
    UnknownEncoding {
        /// The tag (byte 8).
        tag: u8,
    },
    /// Reserved envelope bytes are not zero.
    #[error("reserved wire envelope bytes are not zero")]
    Reserved,
    /// The declared decoded length is beyond the reader's limit (a decompression bomb, or a limit
    /// set too low).
    #[error("the blob decodes to {declared} bytes, beyond the limit of {limit}")]
    TooLarge {
        /// Declared decoded length.
        declared: u64,
        /// The reader's limit ([`BlobStore::with_max_blob_bytes`](crate::BlobStore::with_max_blob_bytes)).
        limit: u64,
    },
    /// The zstd frame does not state the declared length as its content size.
    #[error("the zstd frame's content size {frame:?} is not the declared {declared} bytes")]
    FrameContentSize {
        /// What the frame header says (`None`: absent or unreadable).
        frame: Option<u64>,
        /// The envelope's decoded length.
        declared: u64,
    },
    /// The payload decodes to more or fewer bytes than declared, or ends early.
    #[error("the payload decodes to {decoded} bytes, not the declared {declared}")]
    Length {
        /// Bytes decoded (up to the point decoding stopped).
        decoded: u64,
        /// The envelope's decoded length.
        declared: u64,
    },
    /// The zstd frame ended before the object did.
    #[error("{extra} bytes follow the zstd frame")]
    TrailingBytes {
        /// At least this many.
        extra: usize,
    },
    /// The object ended before the zstd frame did.
    #[error("the zstd frame is truncated")]
    Truncated,
    /// The decoded bytes are not the ones encoded.
    #[error("the decoded bytes' checksum {actual:#018x} is not the declared {declared:#018x}")]
    Checksum {
        /// xxh3-64 of what was decoded.
        actual: u64,
        /// The envelope's checksum.
        declared: u64,
    },
    /// zstd refused the payload (corrupt frame) or could not run.
    #[error("zstd failed")]
    Zstd(#[source] std::io::Error),
    /// A columnar stream declares more bytes than its blob can take (§19b).
    #[error("the columnar stream declares {stream} bytes, beyond the {limit} its blob allows")]
    StreamTooLong {
        /// The declared stream length.
        stream: u64,
        /// The most the declared blob length allows.
        limit: u64,
    },
    /// A columnar stream's header, table or framing is malformed.
    #[error("the columnar stream is malformed: {reason}")]
    Stream {
        /// What is wrong.
        reason: String,
    },
    /// A columnar stream gives a section a code this build does not know.
    #[error("section {section} has the unknown columnar code {code}")]
    SectionCode {
        /// Position of the section in the table.
        section: usize,
        /// The code byte.
        code: u8,
    },
    /// A columnar stream leaves out a section that is not a rebuildable index.
    #[error("section {section} is left out but is not an index of a snapshot")]
    NotRebuildable {
        /// Position of the section in the table.
        section: usize,
    },
    /// A column-wise records section does not decode.
    #[error("the column-wise records section {section} does not decode")]
    Columns {
        /// Position of the section in the table.
        section: usize,
        /// Why.
        #[source]
        source: crate::format::ColumnsError,
    },
    /// A left-out index section could not be rebuilt, or rebuilt into other bytes.
    #[error("index section {section} could not be rebuilt")]
    Rebuild {
        /// Position of the section in the table.
        section: usize,
        /// Why.
        #[source]
        source: super::wire_rebuild::RebuildError,
    },
    /// Writing the decoded bytes failed (the consumer's cache file, say).
    #[error("writing the decoded blob failed")]
    Sink(#[source] std::io::Error),
}

/// What an encoded blob decoded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes read from the store.
    pub wire_bytes: u64,
    /// Bytes of the blob.
    pub bytes: u64,
    /// Whether the object was an envelope (else a raw blob).
    pub enveloped: bool,
}

/// The stored form of `blob` under `encoding`: `None` when it is stored as it is.
pub(crate) fn encode(blob: &[u8], encoding: WireEncoding) -> Result<Option<Vec<u8>>, WireError> {
    let (level, columnar) = match encoding {
        WireEncoding::Raw => return Ok(None),
        WireEncoding::Zstd { level } => (level, false),
        WireEncoding::Columnar { level } => (level, true),
    };
    if columnar && let Some(stream) = super::wire_columnar::stream(blob) {
        let payload = compress(&stream, level)?;
        let mut out = Vec::with_capacity(WIRE_HEADER_LEN + 8 + payload.len());
        out.extend_from_slice(&header(TAG_COLUMNAR, blob));
        out.extend_from_slice(&(stream.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        return Ok(Some(out));
    }
    let payload = compress(blob, level)?;
    let mut out = Vec::with_capacity(WIRE_HEADER_LEN + payload.len());
    out.extend_from_slice(&header(TAG_ZSTD, blob));
    out.extend_from_slice(&payload);
    Ok(Some(out))
}

/// One zstd frame of `bytes` with its content size and checksum.
fn compress(bytes: &[u8], level: i32) -> Result<Vec<u8>, WireError> {
    let mut compressor = zstd::bulk::Compressor::new(level).map_err(WireError::Zstd)?;
    compressor
        .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .and_then(|()| compressor.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true)))
        .map_err(WireError::Zstd)?;
    compressor.compress(bytes).map_err(WireError::Zstd)
}

/// A columnar envelope around `stream` for a blob of `declared` bytes with checksum
/// `checksum`, whatever the stream holds: how a hostile store could hand one out (fuzzing).
pub(crate) fn columnar_envelope(stream: &[u8], declared: u64, checksum: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(WIRE_HEADER_LEN + 8 + stream.len() / 2);
    out.extend_from_slice(&WIRE_MAGIC);
    out.push(TAG_COLUMNAR);
    out.extend_from_slice(&[0; 7]);
    out.extend_from_slice(&declared.to_le_bytes());
    out.extend_from_slice(&checksum.to_le_bytes());
    out.extend_from_slice(&(stream.len() as u64).to_le_bytes());
    // Level 1 cannot fail on bytes in memory; an empty frame if it did (then a typed error).
    out.extend_from_slice(&compress(stream, 1).unwrap_or_default());
    out
}

fn header(tag: u8, blob: &[u8]) -> [u8; WIRE_HEADER_LEN] {
    let mut h = [0u8; WIRE_HEADER_LEN];
    h[..8].copy_from_slice(&WIRE_MAGIC);
    h[8] = tag;
    h[16..24].copy_from_slice(&(blob.len() as u64).to_le_bytes());
    h[24..32].copy_from_slice(&xxhash_rust::xxh3::xxh3_64(blob).to_le_bytes());
    h
}

/// Whether stored bytes are an envelope (to be decoded), not a raw blob.
pub(crate) fn is_enveloped(stored: &[u8]) -> bool {
    stored.starts_with(&WIRE_MAGIC)
}

/// Decodes a stored object fed in chunks, writing the blob to a sink: raw objects pass through,
/// envelopes are checked and decoded (see the module documentation).
pub(crate) struct WireDecoder<W: Write> {
    sink: W,
    limit: u64,
    wire_bytes: u64,
    /// Bytes held until the kind is known (the magic), the envelope is complete, or a frame
    /// header (and a columnar stream length) can be read.
    head: Vec<u8>,
    mode: Mode,
}

enum Mode {
    /// Fewer than 8 bytes seen.
    Undecided,
    /// The envelope is not complete yet.
    Header,
    /// A raw blob: bytes pass through.
    Raw,
    /// An envelope with the payload as it is.
    Plain(Payload),
    /// An envelope with a zstd frame of the blob; the frame header is gathered in `head` first.
    Zstd { payload: Payload, frame: Frame },
    /// An envelope with a columnar stream: its length and frame header are gathered in `head`
    /// first; the parser rebuilds the blob as the stream is decompressed.
    Columnar {
        payload: Payload,
        frame: Frame,
        parser: Option<Box<StreamParser>>,
    },
}

/// One zstd frame being decoded.
struct Frame {
    decoder: Option<Box<zstd::stream::raw::Decoder<'static>>>,
    done: bool,
    out: Vec<u8>,
}

impl Frame {
    fn new() -> Self {
        Frame {
            decoder: None,
            done: false,
            out: vec![0; zstd::zstd_safe::DCtx::out_size()],
        }
    }

    /// Checks the frame header in `head` against `content_size` and starts decoding.
    fn start(&mut self, content_size: u64, head: &[u8]) -> Result<(), WireError> {
        let frame = zstd::zstd_safe::get_frame_content_size(head).ok().flatten();
        if frame != Some(content_size) {
            return Err(WireError::FrameContentSize {
                frame,
                declared: content_size,
            });
        }
        self.decoder = Some(Box::new(
            zstd::stream::raw::Decoder::new().map_err(WireError::Zstd)?,
        ));
        Ok(())
    }

    /// Decodes `input` (more of the frame), handing what comes out to `emit`.
    fn run(
        &mut self,
        input: &[u8],
        emit: &mut dyn FnMut(&[u8]) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        use zstd::stream::raw::Operation;
        let Some(decoder) = &mut self.decoder else {
            return Ok(());
        };
        let mut consumed = 0;
        loop {
            if self.done {
                if consumed < input.len() {
                    return Err(WireError::TrailingBytes {
                        extra: input.len() - consumed,
                    });
                }
                return Ok(());
            }
            let status = decoder
                .run_on_buffers(&input[consumed..], &mut self.out)
                .map_err(WireError::Zstd)?;
            consumed += status.bytes_read;
            emit(&self.out[..status.bytes_written])?;
            if status.remaining == 0 {
                self.done = true;
                continue;
            }
            if consumed == input.len() && status.bytes_written < self.out.len() {
                return Ok(());
            }
        }
    }
}

/// What the envelope declares, and what has been written so far.
struct Payload {
    declared: u64,
    checksum: u64,
    written: u64,
    hasher: Xxh3,
}

impl Payload {
    fn write(&mut self, sink: &mut impl Write, bytes: &[u8]) -> Result<(), WireError> {
        let written = self.written.saturating_add(bytes.len() as u64);
        if written > self.declared {
            return Err(WireError::Length {
                decoded: written,
                declared: self.declared,
            });
        }
        self.written = written;
        self.hasher.update(bytes);
        sink.write_all(bytes).map_err(WireError::Sink)
    }

    fn finish(&self) -> Result<(), WireError> {
        if self.written != self.declared {
            return Err(WireError::Length {
                decoded: self.written,
                declared: self.declared,
            });
        }
        let actual = self.hasher.digest();
        if actual != self.checksum {
            return Err(WireError::Checksum {
                actual,
                declared: self.checksum,
            });
        }
        Ok(())
    }
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(b)
}

/// Bytes gathered before a columnar frame starts: the stream length and a frame header.
const COLUMNAR_HEAD: usize = 8 + ZSTD_FRAME_HEADER_MAX;

/// Starts a columnar payload from its gathered `head` (stream length, then the frame's first
/// bytes).
fn start_columnar(
    payload: &Payload,
    frame: &mut Frame,
    parser: &mut Option<Box<StreamParser>>,
    head: &[u8],
) -> Result<(), WireError> {
    if head.len() < 8 {
        return Err(WireError::Truncated);
    }
    let stream_len = le_u64(head);
    let mut p = Box::new(StreamParser::new(payload.declared, stream_len)?);
    frame.start(stream_len, &head[8..])?;
    frame.run(&head[8..], &mut |b| p.push(b))?;
    *parser = Some(p);
    Ok(())
}

impl<W: Write> WireDecoder<W> {
    /// A decoder writing to `sink`, refusing blobs that decode beyond `limit` bytes.
    pub(crate) fn new(sink: W, limit: u64) -> Self {
        WireDecoder {
            sink,
            limit,
            wire_bytes: 0,
            head: Vec::new(),
            mode: Mode::Undecided,
        }
    }

    /// The next bytes of the stored object.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> Result<(), WireError> {
        self.wire_bytes = self.wire_bytes.saturating_add(chunk.len() as u64);
        while !chunk.is_empty() {
            match &mut self.mode {
                Mode::Undecided | Mode::Header => {
                    let want = match self.mode {
                        Mode::Undecided => 8,
                        _ => WIRE_HEADER_LEN,
                    };
                    let take = (want - self.head.len()).min(chunk.len());
                    self.head.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    if self.head.len() == want {
                        self.decide()?;
                    }
                }
                Mode::Raw => {
                    self.sink.write_all(chunk).map_err(WireError::Sink)?;
                    chunk = &[];
                }
                Mode::Plain(payload) => {
                    payload.write(&mut self.sink, chunk)?;
                    chunk = &[];
                }
                Mode::Zstd { payload, frame } => {
                    let sink = &mut self.sink;
                    if frame.decoder.is_none() {
                        // Gather the frame header to read its content size first.
                        let take = (ZSTD_FRAME_HEADER_MAX - self.head.len()).min(chunk.len());
                        self.head.extend_from_slice(&chunk[..take]);
                        chunk = &chunk[take..];
                        if self.head.len() == ZSTD_FRAME_HEADER_MAX {
                            let head = std::mem::take(&mut self.head);
                            frame.start(payload.declared, &head)?;
                            frame.run(&head, &mut |b| payload.write(sink, b))?;
                        }
                    } else {
                        frame.run(chunk, &mut |b| payload.write(sink, b))?;
                        chunk = &[];
                    }
                }
                Mode::Columnar {
                    payload,
                    frame,
                    parser,
                } => {
                    if frame.decoder.is_none() {
                        let take = (COLUMNAR_HEAD - self.head.len()).min(chunk.len());
                        self.head.extend_from_slice(&chunk[..take]);
                        chunk = &chunk[take..];
                        if self.head.len() == COLUMNAR_HEAD {
                            let head = std::mem::take(&mut self.head);
                            start_columnar(payload, frame, parser, &head)?;
                        }
                    } else {
                        let p = parser.as_mut().ok_or(WireError::Truncated)?;
                        frame.run(chunk, &mut |b| p.push(b))?;
                        chunk = &[];
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads the magic (then the envelope) gathered in `head`.
    fn decide(&mut self) -> Result<(), WireError> {
        match self.mode {
            Mode::Undecided if self.head[..] != WIRE_MAGIC => {
                self.sink.write_all(&self.head).map_err(WireError::Sink)?;
                self.head.clear();
                self.mode = Mode::Raw;
            }
            Mode::Undecided => self.mode = Mode::Header,
            _ => {
                let h = std::mem::take(&mut self.head);
                let tag = h[8];
                if h[9..16].iter().any(|&b| b != 0) {
                    return Err(WireError::Reserved);
                }
                let declared = le_u64(&h[16..24]);
                if declared > self.limit {
                    return Err(WireError::TooLarge {
                        declared,
                        limit: self.limit,
                    });
                }
                let payload = Payload {
                    declared,
                    checksum: le_u64(&h[24..32]),
                    written: 0,
                    hasher: Xxh3::new(),
                };
                self.mode = match tag {
                    TAG_NONE => Mode::Plain(payload),
                    TAG_ZSTD => Mode::Zstd {
                        payload,
                        frame: Frame::new(),
                    },
                    TAG_COLUMNAR => Mode::Columnar {
                        payload,
                        frame: Frame::new(),
                        parser: None,
                    },
                    tag => return Err(WireError::UnknownEncoding { tag }),
                };
            }
        }
        Ok(())
    }

    /// The object ended: checks that the blob is whole and returns what was read.
    pub(crate) fn finish(mut self) -> Result<(Decoded, W), WireError> {
        let enveloped = match &mut self.mode {
            Mode::Undecided => {
                // A raw object shorter than the magic.
                self.sink.write_all(&self.head).map_err(WireError::Sink)?;
                false
            }
            Mode::Header => {
                return Err(WireError::TruncatedHeader {
                    len: self.head.len(),
                });
            }
            Mode::Raw => false,
            Mode::Plain(payload) => {
                payload.finish()?;
                true
            }
            Mode::Zstd { payload, frame } => {
                if frame.decoder.is_none() {
                    // A frame shorter than the longest frame header (a tiny blob).
                    let head = std::mem::take(&mut self.head);
                    let sink = &mut self.sink;
                    frame.start(payload.declared, &head)?;
                    frame.run(&head, &mut |b| payload.write(sink, b))?;
                }
                if !frame.done {
                    return Err(WireError::Truncated);
                }
                payload.finish()?;
                true
            }
            Mode::Columnar {
                payload,
                frame,
                parser,
            } => {
                if frame.decoder.is_none() {
                    let head = std::mem::take(&mut self.head);
                    start_columnar(payload, frame, parser, &head)?;
                }
                if !frame.done {
                    return Err(WireError::Truncated);
                }
                let blob = parser.take().ok_or(WireError::Truncated)?.finish()?;
                for piece in blob.pieces() {
                    payload.write(&mut self.sink, piece)?;
                }
                payload.finish()?;
                true
            }
        };
        self.sink.flush().map_err(WireError::Sink)?;
        let bytes = match &self.mode {
            Mode::Plain(p) | Mode::Zstd { payload: p, .. } | Mode::Columnar { payload: p, .. } => {
                p.written
            }
            _ => self.wire_bytes,
        };
        Ok((
            Decoded {
                wire_bytes: self.wire_bytes,
                bytes,
                enveloped,
            },
            self.sink,
        ))
    }
}

/// Decodes a whole stored object held in memory.
pub(crate) fn decode_slice(stored: &[u8], limit: u64) -> Result<(Vec<u8>, Decoded), WireError> {
    let capacity = if is_enveloped(stored) && stored.len() >= WIRE_HEADER_LEN {
        // The declared length, once it is known to be within the limit (else the decoder
        // refuses it before writing anything).
        usize::try_from(le_u64(&stored[16..24]).min(limit)).unwrap_or(0)
    } else {
        stored.len()
    };
    let mut decoder = WireDecoder::new(Vec::with_capacity(capacity.min(1 << 30)), limit);
    decoder.feed(stored)?;
    let (decoded, bytes) = decoder.finish()?;
    Ok((bytes, decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        let mut v: Vec<u8> = crate::format::header::MAGIC.to_vec();
        v.extend((0..len).map(|i| (i % 251).to_le_bytes()[0] ^ (i / 1000).to_le_bytes()[0]));
        v
    }

    fn zstd(blob: &[u8]) -> Vec<u8> {
        encode(blob, WireEncoding::Zstd { level: 3 })
            .expect("encode")
            .expect("enveloped")
    }

    fn decode_chunked(stored: &[u8], chunk: usize, limit: u64) -> Result<Vec<u8>, WireError> {
        let mut d = WireDecoder::new(Vec::new(), limit);
        for c in stored.chunks(chunk.max(1)) {
            d.feed(c)?;
        }
        Ok(d.finish()?.1)
    }

    #[test]
    fn round_trips_in_any_chunking() {
        for len in [0usize, 1, 7, 100, 70_000, 300_000] {
            let blob = sample(len);
            let stored = zstd(&blob);
            assert!(is_enveloped(&stored));
            assert!(stored.len() < blob.len() + 64);
            for chunk in [1, 5, 17, 4096, usize::MAX] {
                assert_eq!(
                    decode_chunked(&stored, chunk, u64::MAX).expect("decode"),
                    blob,
                    "{len} bytes in chunks of {chunk}"
                );
            }
            let (bytes, d) = decode_slice(&stored, u64::MAX).expect("decode");
            assert_eq!(bytes, blob);
            assert_eq!(d.bytes, blob.len() as u64);
            assert_eq!(d.wire_bytes, stored.len() as u64);
            assert!(d.enveloped);
        }
    }

    #[test]
    fn raw_objects_pass_through() {
        for blob in [vec![], vec![1u8, 2, 3], sample(10_000)] {
            assert_eq!(decode_chunked(&blob, 3, 0).expect("raw"), blob);
            assert_eq!(encode(&blob, WireEncoding::Raw).expect("raw"), None);
        }
    }

    #[test]
    fn refuses_a_declared_length_beyond_the_limit() {
        let blob = vec![0u8; 1 << 20];
        let stored = zstd(&blob);
        assert!(stored.len() < 1000, "zeros compress: {}", stored.len());
        assert!(matches!(
            decode_slice(&stored, 1 << 19),
            Err(WireError::TooLarge { declared, limit }) if declared == 1 << 20 && limit == 1 << 19
        ));
        // A lying envelope (declares less than the frame holds) stops at the declared length.
        let mut lying = stored.clone();
        lying[16..24].copy_from_slice(&1000u64.to_le_bytes());
        assert!(matches!(
            decode_slice(&lying, u64::MAX),
            Err(WireError::FrameContentSize { .. })
        ));
    }

    #[test]
    fn corrupt_and_truncated_objects_are_typed_errors() {
        let blob = sample(200_000);
        let stored = zstd(&blob);
        for cut in [9, 31, 32, 40, stored.len() / 2, stored.len() - 1] {
            let r = decode_slice(&stored[..cut], u64::MAX);
            assert!(
                matches!(
                    r,
                    Err(WireError::TruncatedHeader { .. }
                        | WireError::Truncated
                        | WireError::FrameContentSize { .. })
                ),
                "cut at {cut}: {r:?}"
            );
        }
        let mut tag = stored.clone();
        tag[8] = 9;
        assert!(matches!(
            decode_slice(&tag, u64::MAX),
            Err(WireError::UnknownEncoding { tag: 9 })
        ));
        let mut reserved = stored.clone();
        reserved[12] = 1;
        assert!(matches!(
            decode_slice(&reserved, u64::MAX),
            Err(WireError::Reserved)
        ));
        let mut sum = stored.clone();
        sum[24] ^= 1;
        assert!(matches!(
            decode_slice(&sum, u64::MAX),
            Err(WireError::Checksum { .. })
        ));
        let mut trailing = stored.clone();
        trailing.extend_from_slice(b"extra");
        assert!(matches!(
            decode_slice(&trailing, u64::MAX),
            Err(WireError::TrailingBytes { .. })
        ));
        // Every flipped payload byte is an error (zstd's or the checksum's), never a panic or
        // another blob.
        for at in (WIRE_HEADER_LEN..stored.len()).step_by(97) {
            let mut flipped = stored.clone();
            flipped[at] ^= 0x40;
            assert!(decode_slice(&flipped, u64::MAX).is_err(), "flip at {at}");
        }
    }

    const GOLDEN: [&[u8]; 4] = [
        include_bytes!("../../tests/golden/v1-movies-snapshot.blob"),
        include_bytes!("../../tests/golden/v1-movies-chain-snapshot.blob"),
        include_bytes!("../../tests/golden/v1-movies-chain-delta.blob"),
        include_bytes!("../../tests/golden/v1-movies-chain-reverse-delta.blob"),
    ];

    fn columnar(blob: &[u8]) -> Vec<u8> {
        encode(blob, WireEncoding::Columnar { level: 3 })
            .expect("encode")
            .expect("enveloped")
    }

    /// An envelope for `blob` carrying `stream` as its columnar stream, as a hostile store
    /// could hand out.
    fn forged(blob: &[u8], stream: &[u8]) -> Vec<u8> {
        let mut out = header(TAG_COLUMNAR, blob).to_vec();
        out.extend_from_slice(&(stream.len() as u64).to_le_bytes());
        out.extend_from_slice(&compress(stream, 1).expect("compress"));
        out
    }

    #[test]
    fn columnar_round_trips_golden_blobs_in_any_chunking() {
        for blob in GOLDEN {
            let stored = columnar(blob);
            assert_eq!(stored[8], TAG_COLUMNAR);
            for chunk in [usize::MAX, 1000, 64, 3, 1] {
                assert_eq!(
                    decode_chunked(&stored, chunk, u64::MAX)
                        .unwrap_or_else(|e| panic!("chunks of {chunk}: {e:?}")),
                    blob,
                    "chunks of {chunk}"
                );
            }
            let (bytes, d) = decode_slice(&stored, u64::MAX).expect("decode");
            assert_eq!(bytes, blob);
            assert_eq!(d.bytes, blob.len() as u64);
            assert!(d.enveloped);
        }
    }

    #[test]
    fn columnar_leaves_out_snapshot_indexes_and_transposes_records() {
        let blob = GOLDEN[0];
        let layout = crate::format::BlobLayout::parse(blob, "golden").expect("layout");
        let stream = super::super::wire_columnar::stream(blob).expect("a blob");
        let mut at = crate::format::HEADER_LEN + layout.sections.len() * 40;
        let mut codes = Vec::new();
        for s in &layout.sections {
            let code = stream[at];
            codes.push((s.kind, code));
            at += 1 + match code {
                0 => usize::try_from(s.len).expect("len"),
                1 => 0,
                _ => crate::format::columns_len(
                    &stream[at + 1..],
                    usize::try_from(s.len).expect("len"),
                )
                .expect("columns"),
            };
        }
        assert_eq!(at, stream.len());
        use crate::format::SectionKind as K;
        for (kind, code) in codes {
            let expected = match kind {
                K::PrimaryKeyIndex | K::SecondaryIndex => 1,
                K::Records => 2,
                _ => 0,
            };
            assert_eq!(code, expected, "{kind:?}");
        }
        // Not a hollow blob: plain zstd under the same setting.
        let other = sample(5000);
        assert_eq!(columnar(&other)[8], TAG_ZSTD);
        assert_eq!(
            decode_slice(&columnar(&other), u64::MAX).expect("decode").0,
            other
        );
    }

    #[test]
    fn columnar_corruption_is_a_typed_error_never_another_blob() {
        for blob in GOLDEN {
            let stored = columnar(blob);
            // From the tag on: a changed magic is a raw object, passed through as it is.
            for at in 8..stored.len() {
                let mut flipped = stored.clone();
                flipped[at] ^= 0x10;
                // An error, or (a bit zstd ignores) the same blob: never another one.
                if let Ok((bytes, _)) = decode_slice(&flipped, u64::MAX) {
                    assert_eq!(bytes, blob, "flip at {at}");
                }
            }
            for cut in 8..stored.len() {
                assert!(
                    decode_slice(&stored[..cut], u64::MAX).is_err(),
                    "cut at {cut}"
                );
            }
        }
    }

    /// Each section's kind, code and the stream offset of its body.
    fn codes(blob: &[u8], stream: &[u8]) -> Vec<(crate::format::SectionKind, u8, usize)> {
        let layout = crate::format::BlobLayout::parse(blob, "golden").expect("layout");
        let mut at = crate::format::HEADER_LEN + layout.sections.len() * 40;
        let mut out = Vec::new();
        for s in &layout.sections {
            let len = usize::try_from(s.len).expect("len");
            let code = stream[at];
            out.push((s.kind, code, at + 1));
            at += 1 + match code {
                0 => len,
                1 => 0,
                2 => crate::format::columns_len(&stream[at + 1..], len).expect("columns"),
                3 => 2 + len,
                _ => {
                    let count = le_u64(&stream[at + 1..]);
                    8 + usize::try_from(count.div_ceil(8)).expect("count")
                }
            };
        }
        assert_eq!(at, stream.len());
        out
    }

    #[test]
    fn delta_index_additions_travel_as_selections() {
        let blob = GOLDEN[2];
        let stream = super::super::wire_columnar::stream(blob).expect("a blob");
        let sections = codes(blob, &stream);
        let selected: Vec<usize> = sections
            .iter()
            .filter(|(kind, code, _)| {
                *kind == crate::format::SectionKind::IndexAdditions && *code == 4
            })
            .map(|(_, _, body)| *body)
            .collect();
        assert!(!selected.is_empty(), "{sections:?}");
        assert_eq!(
            decode_slice(&forged(blob, &stream), u64::MAX)
                .expect("decode")
                .0,
            blob
        );
        // A flipped selection bit, or a wrong candidate count, gives other additions: refused.
        let body = selected[0];
        let mut flipped = stream.clone();
        flipped[body + 8] ^= 1;
        let r = decode_slice(&forged(blob, &flipped), u64::MAX);
        assert!(matches!(r, Err(WireError::Rebuild { .. })), "{r:?}");
        let mut count = stream.clone();
        let n = le_u64(&stream[body..]);
        count[body..body + 8].copy_from_slice(&(n - 1).to_le_bytes());
        let r = decode_slice(&forged(blob, &count), u64::MAX);
        assert!(r.is_err(), "{r:?}");
        // A selection on a section that is not index additions.
        let mut wrong = stream.clone();
        let (_, _, first) = sections[0];
        wrong[first - 1] = 4;
        let r = decode_slice(&forged(blob, &wrong), u64::MAX);
        assert!(matches!(r, Err(WireError::NotRebuildable { .. })), "{r:?}");
    }

    #[test]
    fn hostile_columnar_streams_are_refused() {
        let blob = GOLDEN[0];
        let stream = super::super::wire_columnar::stream(blob).expect("a blob");
        let layout = crate::format::BlobLayout::parse(blob, "golden").expect("layout");
        let head = crate::format::HEADER_LEN + layout.sections.len() * 40;
        // The first section (the manifest) marked as rebuilt.
        let mut s = stream.clone();
        s[head] = 1;
        assert!(matches!(
            decode_slice(&forged(blob, &s), u64::MAX),
            Err(WireError::NotRebuildable { section: 0 })
        ));
        s[head] = 7;
        assert!(matches!(
            decode_slice(&forged(blob, &s), u64::MAX),
            Err(WireError::SectionCode {
                section: 0,
                code: 7
            })
        ));
        // Bytes after the last section, or a stream that stops early.
        let mut long = stream.clone();
        long.push(0);
        assert!(matches!(
            decode_slice(&forged(blob, &long), u64::MAX),
            Err(WireError::Stream { .. })
        ));
        assert!(matches!(
            decode_slice(&forged(blob, &stream[..stream.len() - 1]), u64::MAX),
            Err(WireError::Stream { .. } | WireError::Columns { .. })
        ));
        // A stream length beyond what the blob allows is refused before decoding.
        let mut huge = forged(blob, &stream);
        huge[32..40].copy_from_slice(&(blob.len() as u64 * 4).to_le_bytes());
        assert!(matches!(
            decode_slice(&huge, u64::MAX),
            Err(WireError::StreamTooLong { .. })
        ));
        // A record changed in the stream: the rebuilt index no longer matches its checksum (or
        // the records section fails its own), whatever the envelope says.
        let records = layout
            .sections
            .iter()
            .position(|s| s.kind == crate::format::SectionKind::Records)
            .expect("records");
        let mut at = head;
        for s in &layout.sections[..records] {
            at += 1 + usize::try_from(s.len).expect("len");
        }
        let mut changed = stream.clone();
        // The first data column of the shard: the first record's first word (its key).
        let tag = at + 1 + 8;
        let stride = usize::from(changed[tag + 4]) + usize::from(changed[tag + 6]);
        let first_word = at + 1 + 16 + stride;
        changed[first_word] ^= 0x40;
        let r = decode_slice(&forged(blob, &changed), u64::MAX);
        assert!(matches!(r, Err(WireError::Rebuild { .. })), "{r:?}");
    }

    #[test]
    fn encodings_parse() {
        assert_eq!("columnar".parse(), Ok(WireEncoding::Columnar { level: 3 }));
        assert_eq!(
            "columnar:9".parse(),
            Ok(WireEncoding::Columnar { level: 9 })
        );
        assert_eq!(
            WireEncoding::Columnar { level: 1 }.to_string(),
            "columnar:1"
        );
        assert_eq!("raw".parse(), Ok(WireEncoding::Raw));
        assert_eq!("zstd".parse(), Ok(WireEncoding::Zstd { level: 3 }));
        assert_eq!("zstd:19".parse(), Ok(WireEncoding::Zstd { level: 19 }));
        assert!("zstd:99".parse::<WireEncoding>().is_err());
        assert!("gzip".parse::<WireEncoding>().is_err());
        assert_eq!(WireEncoding::Zstd { level: 7 }.to_string(), "zstd:7");
    }
}
