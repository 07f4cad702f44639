//! Column-wise forms of sections on the wire (docs/FORMAT.md §19b): the element area of a
//! records shard (§11) stored column by column instead of record by record, each column in the
//! mode that compresses best and split into byte planes, and fixed-width entry sections (delta
//! ordinals, key changes, index additions) split into byte planes, so that a general-purpose
//! compressor sees runs of like bytes. Bijections on any bytes: each form and its inverse
//! invert each other for every input, valid section or not.

/// Bits 2..32 of a pointer word: its signed 30-bit offset.
const OFFSET_MASK: u64 = 0xffff_fffc;
/// Offsets are 30 bits: pointer arithmetic on the wire is modulo 2^30.
const OFFSET_MODULUS: u64 = 1 << 30;

/// How one column of words is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// The words as they are.
    Raw = 0,
    /// Each word minus the previous one in the column (wrapping), zigzag-coded.
    Delta = 1,
    /// Pointers: the offset field holds the target's distance from the previous pointer's
    /// target in the column (modulo 2^30); all other bits as they are.
    Pointer = 2,
}

impl Mode {
    fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Mode::Raw),
            1 => Some(Mode::Delta),
            2 => Some(Mode::Pointer),
            _ => None,
        }
    }
}

/// Why a column-wise shard cannot be turned back into a shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ColumnsError {
    /// The section is shorter than its two leading words, or not whole words.
    #[error("a {len}-byte records section has no element area")]
    Short {
        /// Bytes of the section.
        len: usize,
    },
    /// The tag word declares more element words than the section holds.
    #[error("the tag declares {slots} elements of {stride} words, beyond the {len}-byte section")]
    Elements {
        /// Element count of the tag.
        slots: u64,
        /// Words per element (data words plus pointers).
        stride: u64,
        /// Bytes of the section.
        len: usize,
    },
    /// A byte-plane form whose entry width does not divide it.
    #[error("{len} bytes are not whole {width}-byte entries")]
    Width {
        /// Entry width.
        width: usize,
        /// Bytes of the form.
        len: usize,
    },
    /// A column mode byte this build does not know.
    #[error("unknown column mode {mode}")]
    Mode {
        /// The byte.
        mode: u8,
    },
    /// The column-wise bytes are not as long as the section they encode.
    #[error("the column-wise form holds {actual} bytes, expected {expected}")]
    Length {
        /// Bytes present.
        actual: usize,
        /// Bytes the section's table entry calls for.
        expected: usize,
    },
}

fn word(bytes: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
    u64::from_le_bytes(w)
}

/// The element area of a shard of `len` bytes whose second word is `tag`: `(slots, stride)`.
fn elements(tag: u64, len: usize) -> Result<(usize, usize), ColumnsError> {
    let slots = (tag >> 2) & 0x3fff_ffff;
    let stride = ((tag >> 32) & 0xffff) + (tag >> 48);
    let fits = slots
        .checked_mul(stride)
        .and_then(|w| w.checked_mul(8))
        .and_then(|b| b.checked_add(16))
        .is_some_and(|b| b <= len as u64);
    if !fits || slots == 0 || stride == 0 {
        return Err(ColumnsError::Elements { slots, stride, len });
    }
    // Both fit in the section's length, a usize.
    Ok((
        usize::try_from(slots).unwrap_or(0),
        usize::try_from(stride).unwrap_or(0),
    ))
}

fn zigzag(d: u64) -> u64 {
    (d << 1) ^ (d.cast_signed() >> 63).cast_unsigned()
}

fn unzigzag(z: u64) -> u64 {
    (z >> 1) ^ (z & 1).wrapping_neg()
}

/// Whether the transform leaves a word of a pointer column alone: all its bits outside the
/// offset are zero (a null pointer, or a pointer to a zero-sized struct). The transform keeps
/// those bits, so the decoder decides on the same words.
fn untouched(w: u64) -> bool {
    w & !OFFSET_MASK == 0
}

/// Bytes needed to write `v` without its leading zero bytes: a cheap size estimate.
fn significant_bytes(v: u64) -> u64 {
    u64::from(64 - v.leading_zeros()).div_ceil(8)
}

/// Turns pointer column `column` (words `col`) of a shard with `stride` words per element into
/// target distances, in place.
fn pointers_out(col: &mut [u64], column: usize, stride: usize) {
    let mut prev = 0u64;
    for (i, w) in col.iter_mut().enumerate() {
        if untouched(*w) {
            continue;
        }
        let pos = (2 + i * stride + column) as u64;
        let offset = (*w & OFFSET_MASK) >> 2;
        let target = (offset + pos + 1) % OFFSET_MODULUS;
        let distance = (target + OFFSET_MODULUS - prev) % OFFSET_MODULUS;
        prev = target;
        *w = (*w & !OFFSET_MASK) | (distance << 2);
    }
}

fn pointers_in(col: &mut [u64], column: usize, stride: usize) {
    let mut prev = 0u64;
    for (i, w) in col.iter_mut().enumerate() {
        if untouched(*w) {
            continue;
        }
        let pos = (2 + i * stride + column) as u64;
        let distance = (*w & OFFSET_MASK) >> 2;
        let target = (prev + distance) % OFFSET_MODULUS;
        prev = target;
        let offset = (target + 2 * OFFSET_MODULUS - pos % OFFSET_MODULUS - 1) % OFFSET_MODULUS;
        *w = (*w & !OFFSET_MASK) | (offset << 2);
    }
}

/// The column-wise form of a records section (`section.len() + stride` bytes), or `None` when
/// the section has no element area to transpose (then it travels as it is).
pub(crate) fn to_columns(section: &[u8]) -> Option<Vec<u8>> {
    if section.len() < 16 || !section.len().is_multiple_of(8) {
        return None;
    }
    let tag = word(section, 1);
    let (slots, stride) = elements(tag, section.len()).ok()?;
    let data_words = usize::try_from((tag >> 32) & 0xffff).unwrap_or(0);
    let mut out = Vec::with_capacity(section.len() + stride);
    out.extend_from_slice(&section[..16]);
    let modes_at = out.len();
    out.resize(modes_at + stride, 0);
    let mut col = Vec::with_capacity(slots);
    for j in 0..stride {
        col.clear();
        col.extend((0..slots).map(|i| word(section, 2 + i * stride + j)));
        let mode = if j >= data_words {
            pointers_out(&mut col, j, stride);
            Mode::Pointer
        } else {
            let raw: u64 = col.iter().map(|&w| significant_bytes(w)).sum();
            let mut prev = 0u64;
            let delta: u64 = col
                .iter()
                .map(|&w| {
                    let d = zigzag(w.wrapping_sub(prev));
                    prev = w;
                    significant_bytes(d)
                })
                .sum();
            if delta < raw {
                let mut prev = 0u64;
                for w in &mut col {
                    let d = zigzag(w.wrapping_sub(prev));
                    prev = *w;
                    *w = d;
                }
                Mode::Delta
            } else {
                Mode::Raw
            }
        };
        out[modes_at + j] = mode as u8;
        for plane in 0..8 {
            out.extend(col.iter().map(|w| w.to_le_bytes()[plane]));
        }
    }
    out.extend_from_slice(&section[16 + slots * stride * 8..]);
    Some(out)
}

/// The length of the column-wise form of a records section of `len` bytes, read from the
/// form's first 16 bytes (`head` may hold more).
pub(crate) fn columns_len(head: &[u8], len: usize) -> Result<usize, ColumnsError> {
    if len < 16 || !len.is_multiple_of(8) || head.len() < 16 {
        return Err(ColumnsError::Short { len });
    }
    let (_, stride) = elements(word(head, 1), len)?;
    Ok(len + stride)
}

/// The records section of `len` bytes whose column-wise form is `columns`.
pub(crate) fn from_columns(columns: &[u8], len: usize) -> Result<Vec<u8>, ColumnsError> {
    if len < 16 || !len.is_multiple_of(8) || columns.len() < 16 {
        return Err(ColumnsError::Short { len });
    }
    let tag = word(columns, 1);
    let (slots, stride) = elements(tag, len)?;
    let expected = len + stride;
    if columns.len() != expected {
        return Err(ColumnsError::Length {
            actual: columns.len(),
            expected,
        });
    }
    let modes = &columns[16..16 + stride];
    let body = &columns[16 + stride..];
    let mut out = vec![0u8; len];
    out[..16].copy_from_slice(&columns[..16]);
    let mut col = Vec::with_capacity(slots);
    for (j, &m) in modes.iter().enumerate() {
        let mode = Mode::from_u8(m).ok_or(ColumnsError::Mode { mode: m })?;
        col.clear();
        let column = &body[j * slots * 8..(j + 1) * slots * 8];
        col.extend((0..slots).map(|i| {
            let mut w = [0u8; 8];
            for (plane, b) in w.iter_mut().enumerate() {
                *b = column[plane * slots + i];
            }
            u64::from_le_bytes(w)
        }));
        match mode {
            Mode::Raw => {}
            Mode::Delta => {
                let mut prev = 0u64;
                for w in &mut col {
                    prev = prev.wrapping_add(unzigzag(*w));
                    *w = prev;
                }
            }
            Mode::Pointer => pointers_in(&mut col, j, stride),
        }
        for (i, w) in col.iter().enumerate() {
            let at = (2 + i * stride + j) * 8;
            out[at..at + 8].copy_from_slice(&w.to_le_bytes());
        }
    }
    let tail = 16 + slots * stride * 8;
    out[tail..].copy_from_slice(&body[slots * stride * 8..]);
    Ok(out)
}

/// Byte planes of `section` in `width`-byte entries: byte `k` of every entry, for `k` in
/// `0..width`. With `delta` (width ≥ 4), the first `u32` of each entry is first replaced by its
/// difference from the previous entry's (wrapping): ascending ordinals or hash tags become
/// small numbers. `None` when the section is not whole entries.
pub(crate) fn to_planes(section: &[u8], width: usize, delta: bool) -> Option<Vec<u8>> {
    if width == 0 || !section.len().is_multiple_of(width) || (delta && width < 4) {
        return None;
    }
    let mut entries = section.to_vec();
    if delta {
        let mut prev = 0u32;
        for e in entries.chunks_exact_mut(width) {
            let v = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            e[..4].copy_from_slice(&v.wrapping_sub(prev).to_le_bytes());
            prev = v;
        }
    }
    let n = section.len() / width;
    let mut out = Vec::with_capacity(section.len());
    for k in 0..width {
        out.extend((0..n).map(|i| entries[i * width + k]));
    }
    Some(out)
}

/// The section whose byte planes ([`to_planes`]) are `planes`.
pub(crate) fn from_planes(
    planes: &[u8],
    width: usize,
    delta: bool,
) -> Result<Vec<u8>, ColumnsError> {
    if width == 0 || !planes.len().is_multiple_of(width) || (delta && width < 4) {
        return Err(ColumnsError::Width {
            width,
            len: planes.len(),
        });
    }
    let n = planes.len() / width;
    let mut out = vec![0u8; planes.len()];
    for k in 0..width {
        for i in 0..n {
            out[i * width + k] = planes[k * n + i];
        }
    }
    if delta {
        let mut prev = 0u32;
        for e in out.chunks_exact_mut(width) {
            let v = prev.wrapping_add(u32::from_le_bytes([e[0], e[1], e[2], e[3]]));
            e[..4].copy_from_slice(&v.to_le_bytes());
            prev = v;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(
        slots: u64,
        data: u64,
        ptrs: u64,
        heap: &[u64],
        f: impl Fn(u64, u64) -> u64,
    ) -> Vec<u8> {
        let stride = data + ptrs;
        let mut w = vec![
            1 | (7 << 32) | ((slots * stride) << 35),
            (slots << 2) | (data << 32) | (ptrs << 48),
        ];
        for i in 0..slots {
            for j in 0..stride {
                w.push(f(i, j));
            }
        }
        w.extend_from_slice(heap);
        w.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn round_trips_and_picks_modes() {
        // Column 0 counts up (delta pays), column 1 is noise (raw), columns 2-3 are pointers to
        // objects after the elements.
        let s = shard(100, 2, 2, &[5, 6, 7], |i, j| match j {
            0 => 1000 + i,
            1 => i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef,
            _ if i % 7 == 3 => 0,
            _ => (((400 - i * 4 + j) << 2) | 1) | (1 << 32),
        });
        let c = to_columns(&s).expect("columns");
        assert_eq!(c.len(), s.len() + 4);
        assert_eq!(&c[16..20], &[1, 0, 2, 2]);
        assert_eq!(from_columns(&c, s.len()).expect("back"), s);
    }

    #[test]
    fn any_bytes_round_trip() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for len in [16usize, 24, 64, 200, 808] {
            for _ in 0..50 {
                let mut s: Vec<u8> = (0..len)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1);
                        (state >> 56) as u8
                    })
                    .collect();
                // A tag that fits: a few elements of a few words.
                let slots = (state >> 3) % 4;
                let stride = (state >> 7) % 3;
                let data = (state >> 9) % 2;
                let tag =
                    (slots << 2) | (data.min(stride) << 32) | ((stride - data.min(stride)) << 48);
                if 16 + slots * stride * 8 <= len as u64 {
                    s[8..16].copy_from_slice(&tag.to_le_bytes());
                }
                if let Some(c) = to_columns(&s) {
                    assert_eq!(from_columns(&c, len).expect("back"), s);
                }
            }
        }
    }

    #[test]
    fn planes_round_trip() {
        let ordinals: Vec<u8> = [3u32, 0, 5, 9, 10, 4_000_000_000, 7, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        for (width, ascending) in [(4, true), (4, false), (8, true), (24, false), (1, false)] {
            let bytes: Vec<u8> = ordinals.iter().copied().cycle().take(96).collect();
            let p = to_planes(&bytes, width, ascending).expect("planes");
            assert_eq!(p.len(), bytes.len());
            assert_eq!(from_planes(&p, width, ascending).expect("back"), bytes);
        }
        let p = to_planes(&ordinals, 4, true).expect("planes");
        assert_eq!(&p[..8], &[3, 253, 5, 4, 1, 246, 7, 249]);
        assert!(to_planes(&ordinals, 5, false).is_none());
        assert!(to_planes(&ordinals, 2, true).is_none());
        assert!(matches!(
            from_planes(&ordinals, 3, false),
            Err(ColumnsError::Width { .. })
        ));
        assert!(matches!(
            from_planes(&ordinals, 0, false),
            Err(ColumnsError::Width { .. })
        ));
    }

    #[test]
    fn hostile_columns_are_typed_errors() {
        let s = shard(3, 1, 1, &[9], |i, _| i + 1);
        let c = to_columns(&s).expect("columns");
        assert!(matches!(
            from_columns(&c[..c.len() - 1], s.len()),
            Err(ColumnsError::Length { .. })
        ));
        assert!(matches!(
            from_columns(&c, 8),
            Err(ColumnsError::Short { .. })
        ));
        let mut bad = c.clone();
        bad[16] = 9;
        assert_eq!(
            from_columns(&bad, s.len()),
            Err(ColumnsError::Mode { mode: 9 })
        );
        let mut big = c.clone();
        big[8..16].copy_from_slice(&((1u64 << 29) << 2 | (1 << 32)).to_le_bytes());
        assert!(matches!(
            from_columns(&big, s.len()),
            Err(ColumnsError::Elements { .. })
        ));
    }
}
