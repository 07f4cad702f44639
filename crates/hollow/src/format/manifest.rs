//! The manifest section (docs/FORMAT.md §9): a canonical one-segment `BlobManifest` message.
//! [`Manifest::to_bytes`] writes it and [`Manifest::from_bytes`] reads it back, with the checks
//! that need nothing but the manifest itself; the checks against the schema and the table are
//! the reader's (`read/open.rs`).

use crate::error::{OpenError, Result};
use crate::generated::hollow_format_capnp::blob_manifest;

/// Largest `shardBits` a manifest may give a type.
pub(crate) const MAX_SHARD_BITS: u8 = 28;

/// The content of a manifest section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Name of the dataset.
    pub(crate) dataset: String,
    /// User tags, sorted by key, keys unique.
    pub(crate) header_tags: Vec<(String, String)>,
    /// One entry per type; sections name a type by its index here.
    pub(crate) types: Vec<TypeManifest>,
}

/// One type's entry of the manifest: the state the blob produces for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeManifest {
    /// Short struct name as in the schema.
    pub(crate) name: String,
    /// Cap'n Proto node id of the struct.
    pub(crate) type_id: u64,
    /// Every ordinal of the type is below this bound.
    pub(crate) ordinal_capacity: u32,
    /// Number of populated ordinals.
    pub(crate) record_count: u32,
    /// A shard holds `2^shard_bits` ordinals.
    pub(crate) shard_bits: u8,
    /// Key field paths in key order; empty for a keyless type.
    pub(crate) primary_key: Vec<String>,
    /// State checksum (§15).
    pub(crate) state_checksum: u64,
    /// Number of records sections (shards of a snapshot, parts of a delta).
    pub(crate) shard_count: u32,
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(0)
}

/// The canonical single segment of `message` (root pointer at word 0, no framing).
fn canonical_bytes<A: capnp::message::Allocator>(
    message: &capnp::message::Builder<A>,
) -> capnp::Result<Vec<u8>> {
    let reader = message.get_root_as_reader::<capnp::any_pointer::Reader<'_>>()?;
    let size = reader.target_size()?.word_count;
    let words = crate::capnp_raw::canonical_words::<capnp::any_pointer::Owned, _>(reader, size)?;
    Ok(capnp::Word::words_to_bytes(&words).to_vec())
}

fn text(
    r: capnp::Result<capnp::text::Reader<'_>>,
    blob: &str,
    section: &str,
    what: &str,
) -> Result<String, OpenError> {
    let t = r.map_err(|e| OpenError::corrupt(blob, section, format!("{what}: {e}")))?;
    t.to_str()
        .map(str::to_string)
        .map_err(|e| OpenError::corrupt(blob, section, format!("{what} is not UTF-8: {e}")))
}

impl Manifest {
    /// The section bytes: the canonical message's one segment.
    pub(crate) fn to_bytes(&self) -> capnp::Result<Vec<u8>> {
        let mut message = capnp::message::Builder::new_default();
        {
            let mut root = message.init_root::<blob_manifest::Builder<'_>>();
            root.set_dataset(&self.dataset);
            let mut tags = root
                .reborrow()
                .init_header_tags(len_u32(self.header_tags.len()));
            for (i, (k, v)) in (0u32..).zip(&self.header_tags) {
                let mut t = tags.reborrow().get(i);
                t.set_key(k);
                t.set_value(v);
            }
            let mut types = root.init_types(len_u32(self.types.len()));
            for (i, ty) in (0u32..).zip(&self.types) {
                let mut t = types.reborrow().get(i);
                t.set_name(&ty.name);
                t.set_type_id(ty.type_id);
                t.set_ordinal_capacity(ty.ordinal_capacity);
                t.set_record_count(ty.record_count);
                t.set_shard_bits(ty.shard_bits);
                t.set_shard_count(ty.shard_count);
                t.set_state_checksum(ty.state_checksum);
                if !ty.primary_key.is_empty() {
                    let mut paths = t.init_primary_key(len_u32(ty.primary_key.len()));
                    for (j, p) in (0u32..).zip(&ty.primary_key) {
                        paths.set(j, &p[..]);
                    }
                }
            }
        }
        canonical_bytes(&message)
    }

    /// Reads a verified manifest section of blob `blob`: text is UTF-8, header tags are sorted
    /// by unique key, and no type's `shardBits` exceeds [`MAX_SHARD_BITS`].
    pub(crate) fn from_bytes(bytes: &[u8], blob: &str) -> Result<Self, OpenError> {
        let section = "manifest";
        if !bytes.len().is_multiple_of(8) {
            return Err(OpenError::corrupt(blob, section, "not whole words"));
        }
        // The manifest is small: copy it into aligned words (the blob may be any byte slice).
        let mut words = capnp::Word::allocate_zeroed_vec(bytes.len() / 8);
        capnp::Word::words_to_bytes_mut(&mut words).copy_from_slice(bytes);
        let segments = [capnp::Word::words_to_bytes(&words)];
        let message = capnp::message::Reader::new(
            capnp::message::SegmentArray::new(&segments),
            capnp::message::ReaderOptions::new(),
        );
        let bad = |e: capnp::Error| OpenError::corrupt(blob, section, e.to_string());
        let root: blob_manifest::Reader<'_> = message.get_root().map_err(bad)?;
        let dataset = text(root.get_dataset(), blob, section, "dataset")?;
        let mut header_tags = Vec::new();
        for t in root.get_header_tags().map_err(bad)?.iter() {
            header_tags.push((
                text(t.get_key(), blob, section, "tag key")?,
                text(t.get_value(), blob, section, "tag value")?,
            ));
        }
        if header_tags.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(OpenError::corrupt(
                blob,
                section,
                "header tags are not sorted by unique key",
            ));
        }
        let list = root.get_types().map_err(bad)?;
        let mut types = Vec::with_capacity(list.len() as usize);
        for t in list.iter() {
            let name = text(t.get_name(), blob, section, "type name")?;
            let entry = format!("manifest entry of {name}");
            let primary_key = t
                .get_primary_key()
                .map_err(|e| OpenError::corrupt(blob, &entry, e.to_string()))?
                .iter()
                .map(|p| text(p, blob, &entry, "key path"))
                .collect::<Result<_, OpenError>>()?;
            let shard_bits = t.get_shard_bits();
            if shard_bits > MAX_SHARD_BITS {
                return Err(OpenError::corrupt(
                    blob,
                    &entry,
                    format!("shard bits {shard_bits} out of range"),
                ));
            }
            types.push(TypeManifest {
                name,
                type_id: t.get_type_id(),
                ordinal_capacity: t.get_ordinal_capacity(),
                record_count: t.get_record_count(),
                shard_bits,
                primary_key,
                state_checksum: t.get_state_checksum(),
                shard_count: t.get_shard_count(),
            });
        }
        Ok(Self {
            dataset,
            header_tags,
            types,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            dataset: "movies".into(),
            header_tags: vec![("a".into(), "1".into()), ("b".into(), "ü".into())],
            types: vec![
                TypeManifest {
                    name: "Movie".into(),
                    type_id: 0xdead_beef,
                    ordinal_capacity: 70_000,
                    record_count: 3,
                    shard_bits: 16,
                    primary_key: vec!["country".into(), "code".into()],
                    state_checksum: u64::MAX,
                    shard_count: 2,
                },
                TypeManifest {
                    name: "Tag".into(),
                    type_id: 1,
                    ordinal_capacity: 0,
                    record_count: 0,
                    shard_bits: 0,
                    primary_key: Vec::new(),
                    state_checksum: 0,
                    shard_count: 0,
                },
            ],
        }
    }

    fn corrupt(r: Result<Manifest, OpenError>) -> (String, String) {
        match r {
            Err(OpenError::Corrupt {
                section, reason, ..
            }) => (section, reason),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn manifest_round_trips_canonically() {
        let bytes = sample().to_bytes().expect("encodes");
        assert!(bytes.len().is_multiple_of(8));
        let back = Manifest::from_bytes(&bytes, "b").expect("decodes");
        assert_eq!(back, sample());
        assert_eq!(back.to_bytes().expect("encodes"), bytes, "canonical");
    }

    #[test]
    fn truncated_or_bad_manifests_are_corrupt() {
        let bytes = sample().to_bytes().expect("encodes");
        for len in 0..bytes.len() {
            if let Err(e) = Manifest::from_bytes(&bytes[..len], "b") {
                assert!(matches!(e, OpenError::Corrupt { .. }), "{len}: {e:?}");
            }
        }
        // A truncated segment that the root pointer still reaches into fails.
        corrupt(Manifest::from_bytes(&bytes[..bytes.len() - 8], "b"));
        corrupt(Manifest::from_bytes(&bytes[..bytes.len() - 1], "b"));

        let mut unsorted = sample();
        unsorted.header_tags.reverse();
        let (_, reason) = corrupt(Manifest::from_bytes(
            &unsorted.to_bytes().expect("encodes"),
            "b",
        ));
        assert!(reason.contains("not sorted"), "{reason}");

        let mut wide = sample();
        wide.types[1].shard_bits = MAX_SHARD_BITS + 1;
        let (section, reason) = corrupt(Manifest::from_bytes(
            &wide.to_bytes().expect("encodes"),
            "b",
        ));
        assert_eq!(section, "manifest entry of Tag");
        assert!(reason.contains("shard bits"), "{reason}");

        let mut not_utf8 = sample().to_bytes().expect("encodes");
        let at = not_utf8
            .windows(6)
            .position(|w| w == b"movies")
            .expect("dataset bytes");
        not_utf8[at] = 0xff;
        let (_, reason) = corrupt(Manifest::from_bytes(&not_utf8, "b"));
        assert!(reason.contains("UTF-8"), "{reason}");
    }
}
