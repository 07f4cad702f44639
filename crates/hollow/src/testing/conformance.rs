//! The store conformance suite: what every `BlobStore` backend must do, one public function per
//! behaviour (the shape of `object_store`'s `integration` module).
//!
//! Each function takes a store on a fresh, empty location (no blobs, no announcement, no pin)
//! and panics on the first broken rule. [`run_all`] calls every one of them, each on its own
//! location, so a backend is checked by one call:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use hollow::BlobStore;
//! use hollow::testing::conformance;
//!
//! let memory: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
//! // A location per name, under one prefix of one object store; the same name opens the same
//! // location again through a new handle.
//! conformance::run_all(|name| BlobStore::new(memory.clone(), &format!("conformance/{name}"))).await;
//! # }
//! ```
//!
//! A backend that needs the suite's object-level preconditions checked first (an S3-compatible
//! server: conditional create, update and get) can call [`conditional_requests`] on its
//! `Arc<dyn ObjectStore>` and prefix. [`failed_calls`] checks what callers see when the object
//! store fails, through a [`FaultyStore`].

use std::sync::Arc;

use futures_util::future::join_all;
use object_store::path::Path;
use object_store::{
    GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

use super::{Fault, FaultyStore, Operation};
use crate::StateId;
use crate::bytes::BlobBytes;
use crate::error::StoreError;
use crate::store::{
    Announcement, AnnouncementVersion, BlobKey, BlobStore, WIRE_MAGIC, WireEncoding,
};

/// Every function of the suite, each on the location `open(name)` (a distinct `name` per
/// function). `open` must give a handle onto an empty location for a name it has not seen, and
/// a new handle (not a clone) onto the same location when called again with the same name.
pub async fn run_all(mut open: impl FnMut(&str) -> BlobStore) {
    empty_location(&open("empty_location")).await;
    blob_round_trip(&open("blob_round_trip")).await;
    blob_create_conflict(&open("blob_create_conflict")).await;
    missing_blob(&open("missing_blob")).await;
    listing(&open("listing")).await;
    announce_create_conflict(&open("announce_create_conflict")).await;
    announce_compare_and_swap(&open("announce_compare_and_swap")).await;
    announce_race(&open("announce_race")).await;
    announcement_changed(&open("announcement_changed")).await;
    announcement_document(&open("announcement_document")).await;
    corrupt_documents(&open("corrupt_documents")).await;
    wire_encodings(&open("wire_encodings")).await;
    multipart_blobs(&open("multipart_blobs")).await;
    pin_unpin(&open("pin_unpin")).await;
    subscribers_wake(&open("subscribers_wake")).await;
    handles_share_a_location(&open("handles_share"), &open("handles_share")).await;
    locations_are_isolated(&open("isolated_a"), &open("isolated_b")).await;
}

/// An announcement of `version` (tag `version * 0x11`) whose previous version is `version - 1`.
pub fn announcement(version: u64) -> Announcement {
    let tag = version.wrapping_mul(0x11);
    let previous = version.checked_sub(1).filter(|&p| p > 0);
    Announcement {
        dataset: "conformance".into(),
        version,
        tag,
        schema_fingerprint: 0xfeed_f00d,
        published_at_millis: 1_700_000_000_000 + version,
        previous: previous.map(|p| StateId::new(p, p.wrapping_mul(0x11))),
        snapshot: Some(BlobKey::Snapshot {
            state: StateId::new(version, tag),
        }),
        delta: previous.map(|p| BlobKey::Delta {
            from: StateId::new(p, p.wrapping_mul(0x11)),
            to: StateId::new(version, tag),
        }),
        reverse_delta: previous.map(|p| BlobKey::ReverseDelta {
            from: StateId::new(version, tag),
            to: StateId::new(p, p.wrapping_mul(0x11)),
        }),
        latest_snapshot: Some(BlobKey::Snapshot {
            state: StateId::new(version, tag),
        }),
    }
}

/// Bytes of length `len` that differ with `seed`.
fn blob(len: usize, seed: u8) -> BlobBytes {
    BlobBytes::from_vec(
        (0..len)
            .map(|i| i.to_le_bytes()[0].wrapping_mul(31).wrapping_add(seed))
            .collect(),
    )
}

async fn announced(store: &BlobStore) -> Option<(Announcement, AnnouncementVersion)> {
    store.announcement().await.expect("read the announcement")
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict { .. }))
}

/// A fresh location has no announcement, no pin and no blobs, and its announcement has not
/// changed from "none".
pub async fn empty_location(store: &BlobStore) {
    assert!(announced(store).await.is_none(), "no announcement");
    assert_eq!(store.pinned().await.expect("pinned"), None, "no pin");
    assert_eq!(store.list_blobs().await.expect("list"), vec![], "no blobs");
    assert!(
        !store.announcement_changed(None).await.expect("changed"),
        "nothing announced is not a change from nothing"
    );
}

/// Blobs read back byte for byte through `get_blob` and `open_blob`, 8-byte aligned, at every
/// length (empty, shorter than a word, not a whole number of words, several pages).
pub async fn blob_round_trip(store: &BlobStore) {
    for (seed, len) in (1u8..).zip([0usize, 1, 13, 4096 * 3 + 5]) {
        let key = BlobKey::Snapshot {
            state: StateId::new(u64::from(seed), 0xabc),
        };
        let bytes = blob(len, seed);
        store.put_blob(&key, &bytes).await.expect("put");
        let got = store.get_blob(&key).await.expect("get");
        assert_eq!(got.as_slice(), bytes.as_slice(), "get_blob, {len} bytes");
        let opened = store.open_blob(&key).await.expect("open");
        assert_eq!(
            opened.as_slice(),
            bytes.as_slice(),
            "open_blob, {len} bytes"
        );
        for b in [&got, &opened] {
            assert_eq!(b.as_slice().as_ptr().align_offset(8), 0, "8-byte aligned");
        }
    }
}

/// A blob key is written once: a second put of the key, even with other bytes, is
/// `StoreError::Conflict` and leaves the first bytes in place.
pub async fn blob_create_conflict(store: &BlobStore) {
    let key = BlobKey::Delta {
        from: StateId::new(1, 2),
        to: StateId::new(3, 4),
    };
    store.put_blob(&key, &blob(100, 1)).await.expect("put");
    let again = store.put_blob(&key, &blob(100, 1)).await;
    assert!(is_conflict(&again), "same bytes again: {again:?}");
    let other = store.put_blob(&key, &blob(7, 2)).await;
    assert!(is_conflict(&other), "other bytes: {other:?}");
    assert_eq!(
        store.get_blob(&key).await.expect("get").as_slice(),
        blob(100, 1).as_slice(),
        "the first bytes stay"
    );
    assert_eq!(store.list_blobs().await.expect("list"), vec![key]);
}

fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>, key: &BlobKey, call: &str) {
    match r {
        Err(StoreError::Failed {
            operation,
            key: k,
            source: object_store::Error::NotFound { .. },
        }) => {
            assert_eq!(operation, crate::error::StoreOperation::Get, "{call}");
            assert_eq!(k, crate::error::StoreKey::from(*key), "{call}");
        }
        other => panic!("{call} of a missing blob: {other:?}, not a store NotFound"),
    }
}

/// A missing blob is `StoreError::Failed` of operation `get` on its relative key with an
/// `object_store::Error::NotFound` source, from `get_blob` and `open_blob` alike (mapped local
/// directories included).
pub async fn missing_blob(store: &BlobStore) {
    let key = BlobKey::Snapshot {
        state: StateId::new(9, 9),
    };
    assert_not_found(store.get_blob(&key).await, &key, "get_blob");
    assert_not_found(store.open_blob(&key).await, &key, "open_blob");
    // Another blob present does not change that.
    store
        .put_blob(
            &BlobKey::Snapshot {
                state: StateId::new(9, 8),
            },
            &blob(8, 0),
        )
        .await
        .expect("put");
    assert_not_found(store.get_blob(&key).await, &key, "get_blob");
    assert_not_found(store.open_blob(&key).await, &key, "open_blob");
}

/// `list_blobs` returns every blob of the three kinds once, sorted (versions compare as
/// numbers), and ignores everything else under the prefix: the announcement, the pin, files
/// that are not blob keys (nor other spellings of one), and objects nested below the key
/// directories.
pub async fn listing(store: &BlobStore) {
    let mut keys = vec![
        BlobKey::Snapshot {
            state: StateId::new(10, 1),
        },
        BlobKey::Snapshot {
            state: StateId::new(9, 2),
        },
        BlobKey::Snapshot {
            state: StateId::new(10, 0),
        },
        BlobKey::Delta {
            from: StateId::new(9, 2),
            to: StateId::new(10, 1),
        },
        BlobKey::ReverseDelta {
            from: StateId::new(10, 1),
            to: StateId::new(9, 2),
        },
        BlobKey::Delta {
            from: StateId::new(u64::MAX - 1, u64::MAX),
            to: StateId::new(u64::MAX, 0),
        },
    ];
    for (seed, key) in (0u8..).zip(&keys) {
        store.put_blob(key, &blob(8, seed)).await.expect("put");
    }
    store
        .announce(None, &announcement(10))
        .await
        .expect("announce");
    store.pin(StateId::new(9, 2)).await.expect("pin");
    let snapshot = BlobKey::Snapshot {
        state: StateId::new(1, 1),
    }
    .relative();
    for foreign in [
        "snapshots/notes.txt".to_string(),
        "snapshots/1-1.blob".to_string(),
        "deltas/00000000000000000001.blob".to_string(),
        // Another spelling of a key's numbers names another object.
        snapshot.replace("0000000000000001.blob", "000000000000000A.blob"),
        snapshot.replace("/00000000000000000001-", "/+0000000000000000001-"),
        "other/x.blob".to_string(),
        format!("nested/{snapshot}"),
        format!(
            "snapshots/nested/{}",
            snapshot.trim_start_matches("snapshots/")
        ),
        format!("deltas/{snapshot}"),
    ] {
        store
            .put_raw(&foreign, b"foreign".to_vec())
            .await
            .expect("put a foreign object");
    }
    keys.sort();
    assert_eq!(store.list_blobs().await.expect("list"), keys);
}

/// Announcing with no expected token creates the announcement once; a second create is
/// `StoreError::Conflict` and leaves the first.
pub async fn announce_create_conflict(store: &BlobStore) {
    let token = store
        .announce(None, &announcement(1))
        .await
        .expect("create");
    let mut other = announcement(1);
    other.tag = 0x999;
    let again = store.announce(None, &other).await;
    assert!(is_conflict(&again), "second create: {again:?}");
    let (read, read_token) = announced(store).await.expect("announced");
    assert_eq!(read, announcement(1));
    assert_eq!(
        read_token, token,
        "the token announce returned is the one read"
    );
}

/// The announcement moves by compare-and-swap: the current token swaps it (and the returned
/// token is the one a read gives), a stale token or none is `StoreError::Conflict` and changes
/// nothing.
pub async fn announce_compare_and_swap(store: &BlobStore) {
    let first = store
        .announce(None, &announcement(1))
        .await
        .expect("create");
    let mut tokens = vec![first];
    for v in 2..=5 {
        let current = tokens.last().expect("a token");
        let next = store
            .announce(Some(current), &announcement(v))
            .await
            .expect("swap");
        let (read, read_token) = announced(store).await.expect("announced");
        assert_eq!(read, announcement(v));
        assert_eq!(read_token, next, "version {v}");
        tokens.push(next);
    }
    for (i, stale) in tokens[..tokens.len() - 1].iter().enumerate() {
        let r = store.announce(Some(stale), &announcement(6)).await;
        assert!(is_conflict(&r), "token of version {}: {r:?}", i + 1);
    }
    let r = store.announce(None, &announcement(6)).await;
    assert!(is_conflict(&r), "create over an announcement: {r:?}");
    let (read, read_token) = announced(store).await.expect("announced");
    assert_eq!(read, announcement(5), "conflicts change nothing");
    assert_eq!(Some(&read_token), tokens.last());
    // Re-announcing identical content still needs the current token, and moves it on.
    let same = store
        .announce(Some(&read_token), &announcement(5))
        .await
        .expect("same content");
    let r = store.announce(Some(&same), &announcement(6)).await;
    assert!(r.is_ok(), "swap from the re-announcement: {r:?}");
}

/// Producers racing from one token (clones of the handle, concurrently): exactly one wins, the
/// others get `StoreError::Conflict`, and the store holds the winner.
pub async fn announce_race(store: &BlobStore) {
    let base = store
        .announce(None, &announcement(1))
        .await
        .expect("create");
    let racers = 8u64;
    let results = join_all((0..racers).map(|i| {
        let store = store.clone();
        let base = base.clone();
        async move {
            let mut next = announcement(2);
            next.tag = 0x100 + i;
            (next.clone(), store.announce(Some(&base), &next).await)
        }
    }))
    .await;
    let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    for (_, r) in &results {
        assert!(r.is_ok() || is_conflict(r), "{r:?}");
    }
    let (read, token) = announced(store).await.expect("announced");
    assert_eq!(read, winners[0].0);
    assert_eq!(Some(&token), winners[0].1.as_ref().ok());
}

/// `announcement_changed(seen)` is true exactly when the store holds another announcement than
/// the one `seen` names (`None`: no announcement).
pub async fn announcement_changed(store: &BlobStore) {
    assert!(!store.announcement_changed(None).await.expect("changed"));
    let v1 = store
        .announce(None, &announcement(1))
        .await
        .expect("create");
    assert!(store.announcement_changed(None).await.expect("changed"));
    assert!(
        !store
            .announcement_changed(Some(&v1))
            .await
            .expect("changed")
    );
    let (_, read) = announced(store).await.expect("announced");
    assert!(
        !store
            .announcement_changed(Some(&read))
            .await
            .expect("changed")
    );
    let v2 = store
        .announce(Some(&v1), &announcement(2))
        .await
        .expect("swap");
    assert!(
        store
            .announcement_changed(Some(&v1))
            .await
            .expect("changed")
    );
    assert!(
        !store
            .announcement_changed(Some(&v2))
            .await
            .expect("changed")
    );
    // A failed swap is not a change.
    let stale = store.announce(Some(&v1), &announcement(3)).await;
    assert!(is_conflict(&stale), "{stale:?}");
    assert!(
        !store
            .announcement_changed(Some(&v2))
            .await
            .expect("changed")
    );
}

/// The key layout (docs/FORMAT.md): the announcement is the JSON of
/// [`Announcement::to_json`] at `announced.json`, the pin `{"version", "tag"}` at `pinned.json`,
/// blobs at [`BlobKey::relative`], all under the prefix.
pub async fn announcement_document(store: &BlobStore) {
    let a = announcement(3);
    store.announce(None, &a).await.expect("announce");
    let raw = store
        .get_raw("announced.json")
        .await
        .expect("get")
        .expect("announced.json exists");
    let json: serde_json::Value = serde_json::from_slice(&raw).expect("JSON");
    assert_eq!(json, a.to_json());
    assert_eq!(json["tag"], "0x0000000000000033");
    assert_eq!(
        json["delta"],
        "deltas/00000000000000000002-0000000000000022-00000000000000000003-0000000000000033.blob"
    );
    store.pin(StateId::new(2, 0x22)).await.expect("pin");
    let raw = store
        .get_raw("pinned.json")
        .await
        .expect("get")
        .expect("pinned.json exists");
    let json: serde_json::Value = serde_json::from_slice(&raw).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({"version": 2, "tag": "0x0000000000000022"})
    );
    let key = BlobKey::Snapshot {
        state: StateId::new(3, 3),
    };
    store.put_blob(&key, &blob(3, 3)).await.expect("put");
    let stored = store
        .get_raw("snapshots/00000000000000000003-0000000000000003.blob")
        .await
        .expect("get")
        .expect("the blob is at its documented key");
    match store.wire_encoding() {
        WireEncoding::Raw => assert_eq!(stored, blob(3, 3).as_slice()),
        _ => {
            assert!(stored.starts_with(&WIRE_MAGIC), "an envelope");
            let (decoded, _) =
                crate::store::wire::decode_slice(&stored, u64::MAX).expect("decodes");
            assert_eq!(decoded, blob(3, 3).as_slice());
        }
    }
}

/// Blobs uploaded in parts (every blob, with a threshold of 1 byte) read back whole, a key is
/// still written once (a second upload to it is a `Conflict` and changes nothing), and no
/// temporary upload shows up as a blob.
pub async fn multipart_blobs(store: &BlobStore) {
    let parts = store.clone().with_multipart_threshold(Some(1));
    let key = BlobKey::Snapshot {
        state: StateId::new(7, 7),
    };
    let first = blob(100_000, 1);
    parts.put_blob(&key, &first).await.expect("put in parts");
    let again = parts.put_blob(&key, &blob(100_000, 2)).await;
    assert!(is_conflict(&again), "a second upload: {again:?}");
    let single = store.put_blob(&key, &blob(10, 3)).await;
    assert!(is_conflict(&single), "then one PUT: {single:?}");
    for reader in [store, &parts] {
        assert_eq!(
            reader.get_blob(&key).await.expect("get").as_slice(),
            first.as_slice()
        );
    }
    assert_eq!(store.list_blobs().await.expect("list"), vec![key]);
}

/// Blobs written raw and compressed (docs/FORMAT.md, "The wire container") read back the same
/// through `get_blob`, `open_blob` and `download_blob`, whatever the reading handle writes; a
/// stored envelope that is corrupt, truncated or declares more than the reader's limit is
/// `StoreError::Wire`, never bytes.
pub async fn wire_encodings(store: &BlobStore) {
    let raw = store.clone().with_wire_encoding(WireEncoding::Raw);
    let zstd = store
        .clone()
        .with_wire_encoding(WireEncoding::Zstd { level: 3 });
    // Compressible: a blob magic, then runs.
    let mut body = crate::format::header::MAGIC.to_vec();
    body.extend((0..50_000u32).map(|i| u8::try_from(i / 100 % 256).unwrap_or(0)));
    let body = BlobBytes::from_vec(body);
    let raw_key = BlobKey::Snapshot {
        state: StateId::new(1, 1),
    };
    let zstd_key = BlobKey::Snapshot {
        state: StateId::new(2, 2),
    };
    let stored_raw = raw.put_blob(&raw_key, &body).await.expect("put raw");
    let stored_zstd = zstd.put_blob(&zstd_key, &body).await.expect("put zstd");
    assert_eq!(stored_raw, body.len() as u64);
    assert!(
        stored_zstd < stored_raw / 4,
        "{stored_zstd} of {stored_raw}"
    );
    let sizes = store.list_blob_sizes().await.expect("list");
    assert_eq!(sizes, vec![(raw_key, stored_raw), (zstd_key, stored_zstd)]);
    for reader in [store, &raw, &zstd] {
        for key in [raw_key, zstd_key] {
            let got = reader.get_blob(&key).await.expect("get");
            assert_eq!(got.as_slice(), body.as_slice(), "get_blob {key}");
            let opened = reader.open_blob(&key).await.expect("open");
            assert_eq!(opened.as_slice(), body.as_slice(), "open_blob {key}");
            let (decoded, sink) = reader
                .download_blob(&key, Vec::new())
                .await
                .expect("download");
            assert_eq!(sink, body.as_slice(), "download_blob {key}");
            assert_eq!(decoded.bytes, body.len() as u64);
            assert_eq!(decoded.enveloped, key == zstd_key);
        }
    }
    let enveloped = store
        .get_raw(&zstd_key.relative())
        .await
        .expect("get")
        .expect("present");
    let bad: [(&str, Vec<u8>); 3] = [
        ("truncated", enveloped[..enveloped.len() - 7].to_vec()),
        ("header only", enveloped[..20].to_vec()),
        ("flipped", {
            let mut b = enveloped.clone();
            let at = b.len() / 2;
            b[at] ^= 0x55;
            b
        }),
    ];
    for (seed, (what, bytes)) in (3u64..).zip(bad) {
        let key = BlobKey::Snapshot {
            state: StateId::new(seed, seed),
        };
        store.put_raw(&key.relative(), bytes).await.expect("put");
        for r in [store.get_blob(&key).await, store.open_blob(&key).await] {
            assert!(matches!(r, Err(StoreError::Wire { .. })), "{what}: {r:?}");
        }
    }
    let small = store.clone().with_max_blob_bytes(1000);
    for r in [
        small.get_blob(&zstd_key).await,
        small.open_blob(&zstd_key).await,
    ] {
        assert!(
            matches!(
                r,
                Err(StoreError::Wire {
                    source: crate::store::WireError::TooLarge { limit: 1000, .. },
                    ..
                })
            ),
            "beyond the limit: {r:?}"
        );
    }
    // The columnar encoding (§19b) of a real snapshot: its indexes are rebuilt by the reader,
    // and every reading path gives the blob back byte for byte.
    let snapshot =
        BlobBytes::from_vec(include_bytes!("../../tests/golden/v1-movies-snapshot.blob").to_vec());
    let columnar_key = BlobKey::Snapshot {
        state: StateId::new(10, 10),
    };
    let columnar = store
        .clone()
        .with_wire_encoding(WireEncoding::Columnar { level: 3 });
    let stored = columnar
        .put_blob(&columnar_key, &snapshot)
        .await
        .expect("put columnar");
    assert!(stored < snapshot.len() as u64 / 2, "{stored}");
    for reader in [store, &raw, &zstd] {
        let got = reader.get_blob(&columnar_key).await.expect("get columnar");
        assert_eq!(got.as_slice(), snapshot.as_slice());
        let opened = reader
            .open_blob(&columnar_key)
            .await
            .expect("open columnar");
        assert_eq!(opened.as_slice(), snapshot.as_slice());
        let (decoded, sink) = reader
            .download_blob(&columnar_key, Vec::new())
            .await
            .expect("download columnar");
        assert_eq!(sink, snapshot.as_slice());
        assert!(decoded.enveloped);
        assert_eq!(decoded.wire_bytes, stored);
    }
}

/// An announcement or a pin that is not the documented JSON is `StoreError::Corrupt`, not a panic
/// and not "absent".
pub async fn corrupt_documents(store: &BlobStore) {
    for body in [&b"not json"[..], b"{}", b"{\"version\": 1}", b""] {
        store
            .put_raw("announced.json", body.to_vec())
            .await
            .expect("put");
        let r = store.announcement().await;
        assert!(
            matches!(r, Err(StoreError::Corrupt { .. })),
            "announcement {body:?}: {r:?}"
        );
        store
            .put_raw("pinned.json", body.to_vec())
            .await
            .expect("put");
        let r = store.pinned().await;
        assert!(
            matches!(r, Err(StoreError::Corrupt { .. })),
            "pin {body:?}: {r:?}"
        );
    }
}

/// Pins: none at first, `pin` sets and overwrites, `unpin` removes (and is idempotent), and
/// neither touches the announcement.
pub async fn pin_unpin(store: &BlobStore) {
    assert_eq!(store.pinned().await.expect("pinned"), None);
    store.unpin().await.expect("unpin with no pin");
    store.pin(StateId::new(3, 0xabc)).await.expect("pin");
    assert_eq!(
        store.pinned().await.expect("pinned"),
        Some(StateId::new(3, 0xabc))
    );
    store
        .pin(StateId::new(2, u64::MAX))
        .await
        .expect("pin again");
    assert_eq!(
        store.pinned().await.expect("pinned"),
        Some(StateId::new(2, u64::MAX))
    );
    let token = store
        .announce(None, &announcement(4))
        .await
        .expect("announce");
    assert_eq!(
        store.pinned().await.expect("pinned"),
        Some(StateId::new(2, u64::MAX))
    );
    store.unpin().await.expect("unpin");
    assert_eq!(store.pinned().await.expect("pinned"), None);
    store.unpin().await.expect("unpin again");
    let (read, read_token) = announced(store).await.expect("announced");
    assert_eq!(read, announcement(4));
    assert_eq!(
        read_token, token,
        "pins leave the announcement's token alone"
    );
}

/// Subscribers of a handle (and of its clones) are told of every announcement and pin change
/// made through it.
pub async fn subscribers_wake(store: &BlobStore) {
    let mut rx = store.subscribe();
    let clone = store.clone();
    let mut rx_clone = clone.subscribe();
    let v1 = clone
        .announce(None, &announcement(1))
        .await
        .expect("announce");
    assert!(rx.has_changed().expect("open"), "announce wakes");
    assert_eq!(*rx.borrow_and_update(), 1);
    assert_eq!(*rx_clone.borrow_and_update(), 1);
    store
        .announce(Some(&v1), &announcement(2))
        .await
        .expect("swap");
    assert_eq!(*rx_clone.borrow_and_update(), 2, "clones share subscribers");
    rx.mark_unchanged();
    store.pin(StateId::new(1, 0x11)).await.expect("pin");
    assert!(rx.has_changed().expect("open"), "pin wakes");
    rx.mark_unchanged();
    store.unpin().await.expect("unpin");
    assert!(rx.has_changed().expect("open"), "unpin wakes");
    rx.mark_unchanged();
    let failed = store.announce(Some(&v1), &announcement(3)).await;
    assert!(is_conflict(&failed), "{failed:?}");
    assert!(!rx.has_changed().expect("open"), "a conflict wakes nobody");
}

/// Two handles opened separately onto one location (two processes) see each other's blobs,
/// announcements and pins; a token read through one swaps through the other; a blob key or an
/// announcement taken through one conflicts through the other.
pub async fn handles_share_a_location(a: &BlobStore, b: &BlobStore) {
    let key = BlobKey::Snapshot {
        state: StateId::new(1, 1),
    };
    a.put_blob(&key, &blob(16, 1)).await.expect("put through a");
    assert_eq!(b.list_blobs().await.expect("list"), vec![key]);
    assert_eq!(
        b.open_blob(&key).await.expect("open").as_slice(),
        blob(16, 1).as_slice()
    );
    let r = b.put_blob(&key, &blob(16, 2)).await;
    assert!(is_conflict(&r), "blob taken through a: {r:?}");

    let v1 = a
        .announce(None, &announcement(1))
        .await
        .expect("announce through a");
    let r = b.announce(None, &announcement(1)).await;
    assert!(is_conflict(&r), "create through b: {r:?}");
    let (read, token_b) = announced(b).await.expect("b sees it");
    assert_eq!(read, announcement(1));
    assert!(
        !b.announcement_changed(Some(&token_b))
            .await
            .expect("changed")
    );
    assert!(
        !a.announcement_changed(Some(&token_b))
            .await
            .expect("changed")
    );
    let v2 = b
        .announce(Some(&token_b), &announcement(2))
        .await
        .expect("swap through b with b's token");
    assert!(a.announcement_changed(Some(&v1)).await.expect("changed"));
    let r = a.announce(Some(&v1), &announcement(3)).await;
    assert!(is_conflict(&r), "a's stale token: {r:?}");
    a.announce(Some(&v2), &announcement(3))
        .await
        .expect("swap through a with b's token");
    assert_eq!(announced(b).await.expect("announced").0, announcement(3));

    a.pin(StateId::new(1, 1)).await.expect("pin through a");
    assert_eq!(b.pinned().await.expect("pinned"), Some(StateId::new(1, 1)));
    b.unpin().await.expect("unpin through b");
    assert_eq!(a.pinned().await.expect("pinned"), None);
}

/// Two locations (two datasets side by side, e.g. two prefixes of one bucket) share nothing.
pub async fn locations_are_isolated(a: &BlobStore, b: &BlobStore) {
    let key = BlobKey::Snapshot {
        state: StateId::new(1, 1),
    };
    a.put_blob(&key, &blob(8, 1)).await.expect("put through a");
    a.announce(None, &announcement(1)).await.expect("announce");
    a.pin(StateId::new(1, 1)).await.expect("pin");
    empty_location(b).await;
    b.put_blob(&key, &blob(8, 2))
        .await
        .expect("the same key in b is free");
    b.announce(None, &announcement(7))
        .await
        .expect("b's first announcement");
    assert_eq!(
        a.get_blob(&key).await.expect("get").as_slice(),
        blob(8, 1).as_slice()
    );
    assert_eq!(announced(a).await.expect("announced").0, announcement(1));
    assert_eq!(b.pinned().await.expect("pinned"), None);
}

/// What `BlobStore::new` needs of an object store, checked on the store itself under `prefix`
/// (for a store that is not yet known to have it, e.g. an S3-compatible server): create-only
/// puts (`PutMode::Create` → `AlreadyExists`), conditional updates on the ETag / version
/// (`PutMode::Update` → `Precondition` when stale) and conditional gets (`If-None-Match` →
/// `NotModified`). Writes a few objects under `prefix/conditional/`.
pub async fn conditional_requests(store: Arc<dyn ObjectStore>, prefix: &Path) {
    let path = prefix.clone().join("conditional").join("object.json");
    let create = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let first = store
        .put_opts(&path, PutPayload::from_static(b"1"), create.clone())
        .await
        .expect("create");
    let r = store
        .put_opts(&path, PutPayload::from_static(b"2"), create)
        .await;
    assert!(
        matches!(r, Err(object_store::Error::AlreadyExists { .. })),
        "create over an object: {r:?}"
    );
    let update = |v: &object_store::PutResult| PutOptions {
        mode: PutMode::Update(UpdateVersion {
            e_tag: v.e_tag.clone(),
            version: v.version.clone(),
        }),
        ..PutOptions::default()
    };
    let second = store
        .put_opts(&path, PutPayload::from_static(b"2"), update(&first))
        .await
        .expect("update from the current version");
    let r = store
        .put_opts(&path, PutPayload::from_static(b"3"), update(&first))
        .await;
    assert!(
        matches!(r, Err(object_store::Error::Precondition { .. })),
        "update from a stale version: {r:?}"
    );
    let got = store.get(&path).await.expect("get");
    assert_eq!(
        got.meta.e_tag, second.e_tag,
        "the ETag a put returns is read"
    );
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), b"2");
    let etag = second.e_tag.expect("an ETag");
    let r = store
        .get_opts(
            &path,
            GetOptions {
                if_none_match: Some(etag.clone()),
                ..GetOptions::default()
            },
        )
        .await;
    assert!(
        matches!(r, Err(object_store::Error::NotModified { .. })),
        "If-None-Match on the current ETag: {:?}",
        r.map(|g| g.meta)
    );
    let stale = first.e_tag.expect("an ETag");
    let r = store
        .get_opts(
            &path,
            GetOptions {
                if_none_match: Some(stale),
                ..GetOptions::default()
            },
        )
        .await;
    assert!(r.is_ok(), "If-None-Match on an old ETag: {:?}", r.err());
}

/// What callers see when the object store fails, over a [`FaultyStore`] with no rules (fresh,
/// empty under `prefix`): every `BlobStore` operation whose call fails is `StoreError::Failed` (never
/// a panic, a wrong "absent" or a false `Conflict`) and changes nothing; a blob whose put took
/// effect but whose answer was lost is then a `Conflict`; an announcement whose answer was lost
/// is in place and its swap from the old token is then a `Conflict`. Leaves no rules behind.
pub async fn failed_calls(faulty: &FaultyStore, prefix: &str) {
    let store = BlobStore::new(Arc::new(faulty.clone()), prefix);
    let key = BlobKey::Snapshot {
        state: StateId::new(1, 1),
    };
    let is_store_error = |e: &StoreError| matches!(e, StoreError::Failed { .. });

    // Failed before the store: nothing happens.
    faulty.inject(Fault::nth(1));
    let r = store.put_blob(&key, &blob(8, 1)).await;
    assert!(r.as_ref().is_err_and(is_store_error), "put_blob: {r:?}");
    assert_eq!(store.list_blobs().await.expect("list"), vec![]);
    faulty.inject(Fault::nth(1));
    let r = store.announce(None, &announcement(1)).await;
    assert!(r.as_ref().is_err_and(is_store_error), "announce: {r:?}");
    assert!(announced(&store).await.is_none());
    faulty.inject(Fault::nth(1));
    let r = store.pin(StateId::new(1, 1)).await;
    assert!(r.as_ref().is_err_and(is_store_error), "pin: {r:?}");
    assert_eq!(store.pinned().await.expect("pinned"), None);

    // Reads fail as store errors, whatever they read.
    store.put_blob(&key, &blob(8, 1)).await.expect("put");
    let v1 = store
        .announce(None, &announcement(1))
        .await
        .expect("announce");
    store.pin(StateId::new(1, 1)).await.expect("pin");
    faulty.inject(Fault::always().on(Operation::Get));
    faulty.inject(Fault::always().on(Operation::List));
    assert!(
        store
            .get_blob(&key)
            .await
            .is_err_and(|e| is_store_error(&e))
    );
    assert!(
        store
            .open_blob(&key)
            .await
            .is_err_and(|e| is_store_error(&e))
    );
    assert!(store.list_blobs().await.is_err_and(|e| is_store_error(&e)));
    assert!(
        store
            .announcement()
            .await
            .is_err_and(|e| is_store_error(&e))
    );
    assert!(store.pinned().await.is_err_and(|e| is_store_error(&e)));
    assert!(
        store
            .announcement_changed(Some(&v1))
            .await
            .is_err_and(|e| is_store_error(&e)),
        "announcement_changed"
    );
    faulty.clear();
    faulty.inject(Fault::nth(1).on(Operation::Delete));
    assert!(store.unpin().await.is_err_and(|e| is_store_error(&e)));
    assert_eq!(
        store.pinned().await.expect("pinned"),
        Some(StateId::new(1, 1))
    );
    let r = store.announce(Some(&v1), &announcement(2)).await;
    assert!(r.is_ok(), "the store is usable again: {r:?}");

    // Lost answers: the call took effect.
    let key2 = BlobKey::Snapshot {
        state: StateId::new(2, 2),
    };
    faulty.inject(Fault::nth(1).after());
    let r = store.put_blob(&key2, &blob(8, 2)).await;
    assert!(r.as_ref().is_err_and(is_store_error), "put_blob: {r:?}");
    let r = store.put_blob(&key2, &blob(8, 2)).await;
    assert!(is_conflict(&r), "the lost put took effect: {r:?}");
    let (_, v2) = announced(&store).await.expect("announced");
    faulty.inject(Fault::nth(1).on(Operation::Put).after());
    let r = store.announce(Some(&v2), &announcement(3)).await;
    assert!(r.as_ref().is_err_and(is_store_error), "announce: {r:?}");
    assert_eq!(
        announced(&store).await.expect("announced").0,
        announcement(3)
    );
    let r = store.announce(Some(&v2), &announcement(3)).await;
    assert!(is_conflict(&r), "the lost announcement took effect: {r:?}");
    assert_eq!(faulty.pending(), 0, "every rule fired");
}
