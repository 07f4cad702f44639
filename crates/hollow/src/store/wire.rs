//! The wire container: how a blob travels to and rests in a remote store (docs/FORMAT.md, "The
//! wire container").
//!
//! A blob in a store is either the raw blob (it starts with the blob magic `\x89HOLLOW\n`, and a
//! local directory store maps it in place) or a 32-byte envelope followed by an encoded payload:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `\x89HOLWIRE` |
//! | 8 | encoding: 0 none (the payload is the blob), 1 zstd (one zstd frame) |
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

/// First bytes of an encoded (wire) blob.
pub const WIRE_MAGIC: [u8; 8] = *b"\x89HOLWIRE";
/// Length of the envelope before the payload.
pub const WIRE_HEADER_LEN: usize = 32;
/// Encoding tag: the payload is the blob itself.
const TAG_NONE: u8 = 0;
/// Encoding tag: the payload is one zstd frame with its content size.
const TAG_ZSTD: u8 = 1;
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
}

impl std::fmt::Display for WireEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireEncoding::Raw => f.write_str("raw"),
            WireEncoding::Zstd { level } => write!(f, "zstd:{level}"),
        }
    }
}

impl std::str::FromStr for WireEncoding {
    type Err = String;

    /// `raw`, `zstd` (level 3) or `zstd:LEVEL`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "raw" => Ok(WireEncoding::Raw),
            None if s == "zstd" => Ok(WireEncoding::Zstd {
                level: DEFAULT_ZSTD_LEVEL,
            }),
            Some(("zstd", level)) => level
                .parse::<i32>()
                .ok()
                .filter(|l| zstd::compression_level_range().contains(l))
                .map(|level| WireEncoding::Zstd { level })
                .ok_or_else(|| {
                    let range = zstd::compression_level_range();
                    format!(
                        "zstd level {level:?} is not an integer in {}..={}",
                        range.start(),
                        range.end()
                    )
                }),
            _ => Err(format!(
                "unknown wire encoding {s:?}: expected raw, zstd or zstd:LEVEL"
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
    let level = match encoding {
        WireEncoding::Raw => return Ok(None),
        WireEncoding::Zstd { level } => level,
    };
    let mut compressor = zstd::bulk::Compressor::new(level).map_err(WireError::Zstd)?;
    compressor
        .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .and_then(|()| compressor.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true)))
        .map_err(WireError::Zstd)?;
    let payload = compressor.compress(blob).map_err(WireError::Zstd)?;
    let mut out = Vec::with_capacity(WIRE_HEADER_LEN + payload.len());
    out.extend_from_slice(&header(TAG_ZSTD, blob));
    out.extend_from_slice(&payload);
    Ok(Some(out))
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
    /// Bytes held until the kind is known (the magic) or the envelope is complete.
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
    /// An envelope with a zstd frame; the frame header is gathered in `head` first.
    Zstd {
        payload: Payload,
        decoder: Option<Box<zstd::stream::raw::Decoder<'static>>>,
        done: bool,
        out: Vec<u8>,
    },
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
                Mode::Zstd {
                    payload,
                    decoder,
                    done,
                    out,
                } => {
                    if decoder.is_none() {
                        // Gather the frame header to read its content size first.
                        let take = (ZSTD_FRAME_HEADER_MAX - self.head.len()).min(chunk.len());
                        self.head.extend_from_slice(&chunk[..take]);
                        chunk = &chunk[take..];
                        if self.head.len() == ZSTD_FRAME_HEADER_MAX {
                            let head = std::mem::take(&mut self.head);
                            *decoder = Some(start_frame(payload, &head)?);
                            run_frame(decoder, payload, done, out, &mut self.sink, &head)?;
                        }
                    } else {
                        run_frame(decoder, payload, done, out, &mut self.sink, chunk)?;
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
                        decoder: None,
                        done: false,
                        out: vec![0; zstd::zstd_safe::DCtx::out_size()],
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
            Mode::Zstd {
                payload,
                decoder,
                done,
                out,
            } => {
                if decoder.is_none() {
                    // A frame shorter than the longest frame header (a tiny blob).
                    let head = std::mem::take(&mut self.head);
                    *decoder = Some(start_frame(payload, &head)?);
                    run_frame(decoder, payload, done, out, &mut self.sink, &head)?;
                }
                if !*done {
                    return Err(WireError::Truncated);
                }
                payload.finish()?;
                true
            }
        };
        self.sink.flush().map_err(WireError::Sink)?;
        let bytes = match &self.mode {
            Mode::Plain(p) | Mode::Zstd { payload: p, .. } => p.written,
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

/// Checks the frame's content size against the envelope and starts a decoder.
fn start_frame(
    payload: &Payload,
    head: &[u8],
) -> Result<Box<zstd::stream::raw::Decoder<'static>>, WireError> {
    let frame = zstd::zstd_safe::get_frame_content_size(head).ok().flatten();
    if frame != Some(payload.declared) {
        return Err(WireError::FrameContentSize {
            frame,
            declared: payload.declared,
        });
    }
    zstd::stream::raw::Decoder::new()
        .map(Box::new)
        .map_err(WireError::Zstd)
}

/// Decodes `input` (more of the frame), writing what comes out.
fn run_frame(
    decoder: &mut Option<Box<zstd::stream::raw::Decoder<'static>>>,
    payload: &mut Payload,
    done: &mut bool,
    out: &mut [u8],
    sink: &mut impl Write,
    input: &[u8],
) -> Result<(), WireError> {
    use zstd::stream::raw::Operation;
    let Some(decoder) = decoder else {
        return Ok(());
    };
    let mut consumed = 0;
    loop {
        if *done {
            if consumed < input.len() {
                return Err(WireError::TrailingBytes {
                    extra: input.len() - consumed,
                });
            }
            return Ok(());
        }
        let status = decoder
            .run_on_buffers(&input[consumed..], out)
            .map_err(WireError::Zstd)?;
        consumed += status.bytes_read;
        payload.write(sink, &out[..status.bytes_written])?;
        if status.remaining == 0 {
            *done = true;
            continue;
        }
        if consumed == input.len() && status.bytes_written < out.len() {
            return Ok(());
        }
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

    #[test]
    fn encodings_parse() {
        assert_eq!("raw".parse(), Ok(WireEncoding::Raw));
        assert_eq!("zstd".parse(), Ok(WireEncoding::Zstd { level: 3 }));
        assert_eq!("zstd:19".parse(), Ok(WireEncoding::Zstd { level: 19 }));
        assert!("zstd:99".parse::<WireEncoding>().is_err());
        assert!("gzip".parse::<WireEncoding>().is_err());
        assert_eq!(WireEncoding::Zstd { level: 7 }.to_string(), "zstd:7");
    }
}
