//! Wire encoding 2, "columnar" (docs/FORMAT.md §19b): a blob re-expressed section by section
//! before zstd. Index sections a snapshot's records determine are left out and rebuilt by the
//! consumer ([`super::wire_rebuild`]); records shards travel column by column
//! ([`crate::format::to_columns`]); every other section travels as it is.
//!
//! The payload is `stream_len: u64` and one zstd frame of exactly `stream_len` bytes, the
//! *stream*: the blob's header and table of sections, then for each section in table order a
//! code byte and its body (code 0: the section's bytes; 1: nothing, the section is rebuilt;
//! 2: the column-wise form of a records shard; 3: byte planes of fixed-width entries; 4: a
//! delta's index additions as a selection over its upserted records' keys).

use xxhash_rust::xxh3::xxh3_64;

use super::wire::WireError;
use super::wire_rebuild::{
    RebuildError, Rebuilder, candidate_bound, rebuildable, select, selectable, selected,
};
use crate::bytes::BlobBytes;
use crate::format::{
    BlobLayout, HEADER_LEN, SECTION_ENTRY_LEN, SectionEntry, SectionKind, columns_len,
    from_columns, from_planes, to_columns, to_planes,
};

/// Section code: the section's bytes follow.
const CODE_BYTES: u8 = 0;
/// Section code: nothing follows; the decoder rebuilds the section from the records.
const CODE_REBUILT: u8 = 1;
/// Section code: the column-wise form of a records shard follows.
const CODE_COLUMNS: u8 = 2;
/// Section code: an entry width byte, a flags byte (bit 0: the entries' first `u32` is
/// delta-coded), then the section's byte planes.
const CODE_PLANES: u8 = 3;
/// Section code: a delta's index additions as `count: u64` and a selection bitmap over the
/// `count` candidate keys of the delta's upserted records.
const CODE_SELECTED: u8 = 4;

/// How a section the decoder computes travels.
enum Left {
    /// Not at all: rebuilt from the records.
    Rebuilt,
    /// As a selection over `count` candidates.
    Selected { count: u64, bits: Vec<u8> },
}

/// The byte-plane form a section of `kind` travels in: entry width and delta flag.
fn planes_of(kind: SectionKind) -> Option<(u8, bool)> {
    match kind {
        // `u32` count and ascending ordinals.
        SectionKind::DeltaRemoved | SectionKind::DeltaUpserted => Some((4, true)),
        // `(tag: u32, ordinal: u32)` sorted by tag.
        SectionKind::IndexAdditions => Some((8, true)),
        // `(hash: u64, inline key: u64, ordinal: u32, op: u32)`.
        SectionKind::KeyChanges => Some((24, false)),
        _ => None,
    }
}

/// The longest stream a blob of `declared` bytes can have: the head, and per section at most
/// 3 bytes of code and parameters and 9/8 of its bytes (a column-wise shard adds one mode byte
/// per element word, and an element takes at least 8 bytes); a section takes at least 40 bytes
/// of table, so that is below `declared · 5/4`.
pub(crate) fn max_stream_len(declared: u64) -> u64 {
    declared.saturating_add(declared / 4).saturating_add(64)
}

/// Bytes of a section and of its transformed form that [`pays`] compresses to decide.
const TRIAL_BYTES: usize = 1 << 20;

/// Whether `transformed` compresses smaller than `raw`, judged by zstd level 1 on their first
/// [`TRIAL_BYTES`]: a transform that does not pay is not used.
fn pays(raw: &[u8], transformed: &[u8]) -> bool {
    let size = |b: &[u8]| {
        zstd::bulk::compress(&b[..b.len().min(TRIAL_BYTES)], 1).map_or(usize::MAX, |c| c.len())
    };
    size(transformed) < size(raw)
}

/// The stream of `blob` (see the module documentation), or `None` when `blob` is not a hollow
/// blob (then it travels as plain zstd).
pub(crate) fn stream(blob: &[u8]) -> Option<Vec<u8>> {
    let layout = BlobLayout::parse(blob, "<wire>").ok()?;
    let kind = layout.header.kind;
    let head = HEADER_LEN + layout.sections.len() * SECTION_ENTRY_LEN;
    let mut left = left_out(blob, &layout);
    let mut out = Vec::with_capacity(blob.len() + blob.len() / 64);
    out.extend_from_slice(&blob[..head]);
    for (i, s) in layout.sections.iter().enumerate() {
        let bytes = &blob[s.range()];
        match left.get_mut(i).and_then(Option::take) {
            Some(Left::Rebuilt) => {
                debug_assert!(rebuildable(kind, s));
                out.push(CODE_REBUILT);
                continue;
            }
            Some(Left::Selected { count, bits }) => {
                debug_assert!(selectable(kind, s));
                out.push(CODE_SELECTED);
                out.extend_from_slice(&count.to_le_bytes());
                out.extend_from_slice(&bits);
                continue;
            }
            None => {}
        }
        if s.kind == SectionKind::Records
            && let Some(c) = to_columns(bytes)
            && pays(bytes, &c)
        {
            out.push(CODE_COLUMNS);
            out.extend_from_slice(&c);
        } else if let Some((width, delta)) = planes_of(s.kind)
            && let Some(p) = to_planes(bytes, usize::from(width), delta)
            && pays(bytes, &p)
        {
            out.extend_from_slice(&[CODE_PLANES, width, u8::from(delta)]);
            out.extend_from_slice(&p);
        } else {
            out.push(CODE_BYTES);
            out.extend_from_slice(bytes);
        }
    }
    Some(out)
}

/// Which sections of `blob` the decoder can compute exactly: the snapshot index sections whose
/// rebuilt bytes equal the blob's, and the delta index additions that are a selection of the
/// upserted records' keys. A section that does not reproduce (a writer that builds it
/// differently) is shipped.
fn left_out(blob: &[u8], layout: &BlobLayout) -> Vec<Option<Left>> {
    let kind = layout.header.kind;
    let mut out: Vec<Option<Left>> = layout.sections.iter().map(|_| None).collect();
    if !layout
        .sections
        .iter()
        .any(|s| rebuildable(kind, s) || selectable(kind, s))
    {
        return out;
    }
    let rebuilder = match Rebuilder::new(BlobBytes::from_vec(blob.to_vec())) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "indexes travel as they are: the blob cannot be reopened");
            return out;
        }
    };
    let rebuilt = par_map(
        &layout.sections.iter().enumerate().collect::<Vec<_>>(),
        |(i, s)| rebuildable(kind, s).then(|| rebuilder.rebuild(*i)),
    );
    for ((i, s), rebuilt) in layout.sections.iter().enumerate().zip(rebuilt) {
        let bytes = &blob[s.range()];
        if let Some(rebuilt) = rebuilt {
            match rebuilt {
                Ok(rebuilt) if rebuilt == bytes => out[i] = Some(Left::Rebuilt),
                Ok(_) => tracing::warn!(
                    section = i,
                    "a rebuilt index differs from the blob's: it travels as it is"
                ),
                Err(e) => {
                    tracing::warn!(section = i, error = %e, "an index cannot be rebuilt: it travels as it is")
                }
            }
        } else if selectable(kind, s) {
            // The decoder bounds its work by the count it is given: check it stays within.
            let bound = |c: &Vec<(u32, u32)>| candidate_bound(c.len() as u64, blob.len() as u64);
            let selection = rebuilder
                .addition_candidates(i, u64::MAX)
                .ok()
                .filter(|c| rebuilder.addition_candidates(i, bound(c)).is_ok())
                .and_then(|c| Some((c.len() as u64, select(&c, bytes)?)));
            match selection {
                // Only when it is smaller than the section (which also keeps the stream within
                // `max_stream_len`).
                Some((count, bits)) if 8 + bits.len() < bytes.len() => {
                    out[i] = Some(Left::Selected { count, bits });
                }
                Some(_) => {}
                None => tracing::warn!(
                    section = i,
                    "index additions are not a selection of the upserts' keys: they travel as they are"
                ),
            }
        }
    }
    out
}

/// Where the stream parser is.
enum Phase {
    /// Gathering the fixed header (to read the section count).
    Header,
    /// Gathering the header and table (`len` bytes).
    Table { len: usize },
    /// Expecting section `index`'s code byte.
    Code { index: usize },
    /// Copying section `index`'s bytes (`left` to go).
    Bytes { index: usize, left: usize },
    /// Gathering section `index`'s column-wise form.
    Columns { index: usize },
    /// Gathering section `index`'s byte planes (after their width and flags).
    Planes { index: usize },
    /// Gathering section `index`'s selection (count and bitmap).
    Selection { index: usize },
    /// Every section is in.
    Done,
}

/// Rebuilds the blob from its stream as the stream is decompressed.
pub(crate) struct StreamParser {
    declared: u64,
    stream_len: u64,
    seen: u64,
    pending: Vec<u8>,
    start: usize,
    blob: Vec<u8>,
    layout: Option<BlobLayout>,
    rebuild: Vec<usize>,
    /// Delta index additions to compute: section, candidate count, selection bitmap.
    selections: Vec<(usize, u64, Vec<u8>)>,
    phase: Phase,
}

impl StreamParser {
    /// A parser for the stream of `stream_len` bytes of a blob of `declared` bytes.
    pub(crate) fn new(declared: u64, stream_len: u64) -> Result<Self, WireError> {
        let limit = max_stream_len(declared);
        if stream_len > limit {
            return Err(WireError::StreamTooLong {
                stream: stream_len,
                limit,
            });
        }
        Ok(Self {
            declared,
            stream_len,
            seen: 0,
            pending: Vec::new(),
            start: 0,
            blob: Vec::new(),
            layout: None,
            rebuild: Vec::new(),
            selections: Vec::new(),
            phase: Phase::Header,
        })
    }

    fn sections(&self) -> &[SectionEntry] {
        self.layout.as_ref().map_or(&[], |l| &l.sections)
    }

    fn section_len(&self, index: usize) -> usize {
        self.sections()
            .get(index)
            .and_then(|s| usize::try_from(s.len).ok())
            .unwrap_or(0)
    }

    /// The next decompressed bytes of the stream.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.seen = self.seen.saturating_add(bytes.len() as u64);
        if self.seen > self.stream_len {
            return Err(WireError::Stream {
                reason: format!("more than the declared {} stream bytes", self.stream_len),
            });
        }
        if self.start > 0 && self.start * 2 >= self.pending.len() {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(bytes);
        while self.step()? {}
        Ok(())
    }

    fn available(&self) -> &[u8] {
        &self.pending[self.start..]
    }

    /// Advances one step if the bytes for it are there.
    fn step(&mut self) -> Result<bool, WireError> {
        let avail = self.pending.len() - self.start;
        match self.phase {
            Phase::Header => {
                if avail < HEADER_LEN {
                    return Ok(false);
                }
                let count = &self.available()[56..60];
                let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]);
                let len = (count as usize)
                    .checked_mul(SECTION_ENTRY_LEN)
                    .and_then(|t| t.checked_add(HEADER_LEN))
                    .filter(|&len| len as u64 <= self.declared)
                    .ok_or_else(|| WireError::Stream {
                        reason: format!("{count} sections do not fit the declared length"),
                    })?;
                self.phase = Phase::Table { len };
            }
            Phase::Table { len } => {
                if avail < len {
                    return Ok(false);
                }
                let layout =
                    BlobLayout::parse_prefix(&self.available()[..len], self.declared, "<wire>")
                        .map_err(|e| WireError::Stream {
                            reason: e.to_string(),
                        })?;
                // Grown as bytes arrive (never beyond the declared length, itself within the
                // reader's limit); reserved up front only up to 1 GiB, as `decode_slice` does.
                self.blob = Vec::with_capacity(
                    usize::try_from(self.declared.min(self.stream_len).min(1 << 30)).unwrap_or(0),
                );
                let head = self.start..self.start + len;
                self.blob.extend_from_slice(&self.pending[head]);
                self.start += len;
                self.layout = Some(layout);
                self.phase = Phase::Code { index: 0 };
            }
            Phase::Code { index } => {
                if index == self.sections().len() {
                    self.phase = Phase::Done;
                    return Ok(true);
                }
                if avail < 1 {
                    return Ok(false);
                }
                let code = self.pending[self.start];
                self.start += 1;
                let len = self.section_len(index);
                self.phase = match code {
                    CODE_BYTES => Phase::Bytes { index, left: len },
                    CODE_COLUMNS => Phase::Columns { index },
                    CODE_PLANES => Phase::Planes { index },
                    CODE_SELECTED => {
                        let entry = self.sections()[index];
                        let kind = self.layout.as_ref().map(|l| l.header.kind);
                        if !kind.is_some_and(|k| selectable(k, &entry)) {
                            return Err(WireError::NotRebuildable { section: index });
                        }
                        Phase::Selection { index }
                    }
                    CODE_REBUILT => {
                        let entry = self.sections()[index];
                        let kind = self.layout.as_ref().map(|l| l.header.kind);
                        if !kind.is_some_and(|k| rebuildable(k, &entry)) {
                            return Err(WireError::NotRebuildable { section: index });
                        }
                        self.rebuild.push(index);
                        self.blob.resize(self.blob.len() + len, 0);
                        Phase::Code { index: index + 1 }
                    }
                    code => {
                        return Err(WireError::SectionCode {
                            section: index,
                            code,
                        });
                    }
                };
            }
            Phase::Bytes { index, left } => {
                if left == 0 {
                    self.phase = Phase::Code { index: index + 1 };
                    return Ok(true);
                }
                if avail == 0 {
                    return Ok(false);
                }
                let take = left.min(avail);
                let range = self.start..self.start + take;
                self.blob.extend_from_slice(&self.pending[range]);
                self.start += take;
                self.phase = Phase::Bytes {
                    index,
                    left: left - take,
                };
            }
            Phase::Columns { index } => {
                let len = self.section_len(index);
                let columns = |e| WireError::Columns {
                    section: index,
                    source: e,
                };
                if avail < 16.min(len) || avail == 0 {
                    return Ok(false);
                }
                let total = columns_len(self.available(), len).map_err(columns)?;
                if avail < total {
                    return Ok(false);
                }
                let section = from_columns(&self.available()[..total], len).map_err(columns)?;
                self.blob.extend_from_slice(&section);
                self.start += total;
                self.phase = Phase::Code { index: index + 1 };
            }
            Phase::Planes { index } => {
                let len = self.section_len(index);
                if avail < 2 + len {
                    return Ok(false);
                }
                let a = self.available();
                let (width, flags) = (a[0], a[1]);
                let planes = |e| WireError::Columns {
                    section: index,
                    source: e,
                };
                if flags > 1 {
                    return Err(WireError::Stream {
                        reason: format!("section {index} has plane flags {flags:#x}"),
                    });
                }
                let section =
                    from_planes(&a[2..2 + len], usize::from(width), flags == 1).map_err(planes)?;
                self.blob.extend_from_slice(&section);
                self.start += 2 + len;
                self.phase = Phase::Code { index: index + 1 };
            }
            Phase::Selection { index } => {
                if avail < 8 {
                    return Ok(false);
                }
                let a = self.available();
                let count = u64::from_le_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
                // The bitmap is in the stream: its length bounds the count.
                let bytes = count.div_ceil(8);
                if bytes > self.stream_len {
                    return Err(WireError::Stream {
                        reason: format!("section {index} selects from {count} candidates"),
                    });
                }
                let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
                if avail < 8 + bytes {
                    return Ok(false);
                }
                let bits = self.available()[8..8 + bytes].to_vec();
                self.selections.push((index, count, bits));
                let len = self.section_len(index);
                self.blob.resize(self.blob.len() + len, 0);
                self.start += 8 + bytes;
                self.phase = Phase::Code { index: index + 1 };
            }
            Phase::Done => {
                if avail > 0 {
                    return Err(WireError::Stream {
                        reason: format!("{avail} bytes follow the last section"),
                    });
                }
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The stream ended: rebuilds the left-out sections. Returns the blob with zeros where
    /// they go, and each rebuilt section with its place.
    pub(crate) fn finish(mut self) -> Result<RebuiltBlob, WireError> {
        while self.step()? {}
        if !matches!(self.phase, Phase::Done) || self.seen != self.stream_len {
            return Err(WireError::Stream {
                reason: "the stream ends before its last section".into(),
            });
        }
        if self.blob.len() as u64 != self.declared {
            return Err(WireError::Length {
                decoded: self.blob.len() as u64,
                declared: self.declared,
            });
        }
        if self.rebuild.is_empty() && self.selections.is_empty() {
            return Ok(RebuiltBlob {
                blob: BlobBytes::from_vec(self.blob),
                rebuilt: Vec::new(),
            });
        }
        let sections: Vec<SectionEntry> = self.sections().to_vec();
        let first = self
            .rebuild
            .first()
            .or(self.selections.first().map(|s| &s.0))
            .copied()
            .unwrap_or(0);
        let blob = BlobBytes::from_vec(std::mem::take(&mut self.blob));
        let rebuilder = Rebuilder::new(blob.clone()).map_err(|source| WireError::Rebuild {
            section: first,
            source,
        })?;
        // Sections are independent: compute them on every core.
        let jobs: Vec<Job<'_>> = self
            .rebuild
            .iter()
            .map(|&i| (i, None))
            .chain(
                self.selections
                    .iter()
                    .map(|(i, count, bits)| (*i, Some((*count, &bits[..])))),
            )
            .collect();
        let declared = self.declared;
        let results = par_map(&jobs, |&(index, selection)| {
            let failed = |source| WireError::Rebuild {
                section: index,
                source,
            };
            let entry = sections[index];
            let bytes = match selection {
                None => rebuilder.rebuild(index).map_err(failed)?,
                Some((count, bits)) => {
                    let candidates = rebuilder
                        .addition_candidates(index, candidate_bound(count, declared))
                        .map_err(failed)?;
                    if candidates.len() as u64 != count {
                        return Err(failed(RebuildError::Mismatch { section: index }));
                    }
                    selected(&candidates, bits)
                }
            };
            if bytes.len() as u64 != entry.len || xxh3_64(&bytes) != entry.checksum {
                return Err(failed(RebuildError::Mismatch { section: index }));
            }
            Ok((entry.range(), bytes))
        });
        let mut rebuilt = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        rebuilt.sort_unstable_by_key(|(range, _)| range.start);
        Ok(RebuiltBlob { blob, rebuilt })
    }
}

/// A section to compute: its index, and for a selection its candidate count and bitmap.
type Job<'a> = (usize, Option<(u64, &'a [u8])>);

/// `f` of every item, in order, computed on up to every core (scoped threads taking items in
/// turn).
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let mut out: Vec<Option<R>> = items.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    (w..items.len())
                        .step_by(workers)
                        .map(|i| (i, f(&items[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            // A panicking worker re-raises its panic here, as a sequential loop would.
            let done = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            for (i, r) in done {
                out[i] = Some(r);
            }
        }
    });
    out.into_iter().flatten().collect()
}

/// A decoded blob: its bytes, with the rebuilt sections to put in place of zeros.
pub(crate) struct RebuiltBlob {
    blob: BlobBytes,
    rebuilt: Vec<(std::ops::Range<usize>, Vec<u8>)>,
}

impl RebuiltBlob {
    /// The blob's bytes in order, in pieces.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        let whole = self.blob.as_slice();
        let mut at = 0;
        let mut out = Vec::with_capacity(self.rebuilt.len() * 2 + 1);
        for (range, bytes) in &self.rebuilt {
            out.push(&whole[at..range.start]);
            out.push(&bytes[..]);
            at = range.end;
        }
        out.push(&whole[at..]);
        out.into_iter()
    }
}
