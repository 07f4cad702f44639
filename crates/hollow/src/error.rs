//! Errors, one type per operation (the shape of redb's `error.rs`).
//!
//! Each public operation returns the error of what it does, so that a caller matches only the
//! variants that operation can produce:
//!
//! | type | returned by |
//! |---|---|
//! | [`OpenError`] | opening, verifying and applying blobs: `ReadState::open` / `from_bytes` / `verify_all` / `apply_delta`, `ReadDelta::open` / `from_bytes`, `WriteState::load_snapshot` / `apply_delta` |
//! | [`SchemaError`] | building and checking schemas: `Schema::*`, `check_compatible`, `WriteState::builder(..).build()` |
//! | [`LookupError`] | reading through a state: `ReadState::table` / `dyn_table`, `Table` and `DynTable` lookups, indexes, queries |
//! | [`StoreError`] | `BlobStore` operations: blobs, listing, announcement, pin |
//! | [`CycleError`] | writing a state: `Producer::run_cycle` / `run_incremental` / `builder(..).build()` (restore), `Cycle` and `Incremental` calls, `WriteState::add` / `write_snapshot` |
//! | [`RefreshError`] | `Consumer::refresh` / `refresh_to` / `builder(..).build()` |
//!
//! The umbrella [`Error`] converts from each of them (`?` works), for callers who do not care
//! which operation failed; [`Result`] defaults to it. Every type is `#[non_exhaustive]`.
//!
//! **Retrying.** Each type has `is_retryable()` (and [`Error::is_retryable`] asks the inner
//! error): `true` when trying again may succeed without anyone fixing data or code (a store
//! call that failed, another producer announcing first — the same producer follows the winner
//! and runs the cycle again, see [`CycleError`] — a file system error, a refresh that can plan around a blob that
//! failed); `false` for corrupt blobs, schema problems, bad keys, records a cycle refuses,
//! validators, integrity failures and aborts the caller asked for.
//!
//! **Messages.** A variant that keeps an underlying error as its [`source`](std::error::Error::source)
//! does not repeat it in its own message: reporters that walk the chain (anyhow's `{:#}`,
//! `tracing`'s error fields) print every cause once. Wrapping variants that add nothing
//! (`Error::Open`, `CycleError::Schema`…) are `transparent`.
//!
//! Bad input from outside (blobs, schemas, records, keys) is always one of these errors, never
//! a panic.

use std::path::PathBuf;

use crate::{BlobKey, StateId};

/// Result alias used across the library; the error defaults to the umbrella [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The caller's own error kept by [`CycleError::Aborted`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Opening, verifying or applying a blob failed.
///
/// Retrying helps only for [`OpenError::Io`]: a corrupt or unreadable blob stays so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A blob failed a checksum, a bounds check or a structural check.
    #[error("blob {blob} is corrupt in {section}: {reason}")]
    Corrupt {
        /// The blob (a path, a store key, or `<memory>`).
        blob: String,
        /// The part of the blob that is wrong (`header`, `section table`, `Movie records shard 3`…).
        section: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The blob was written in a format this build cannot read (or is not a hollow blob).
    #[error("blob {blob} is not readable by this build: {reason}")]
    UnsupportedFormat {
        /// The blob.
        blob: String,
        /// Why: wrong magic, or a format version outside the supported range.
        reason: String,
    },
    /// A delta was applied to a state other than the one it starts from.
    #[error("blob {blob} applies to {expected} but the state is at {}", match actual { Some(a) => a.to_string(), None => "no state".to_string() })]
    WrongState {
        /// The delta blob.
        blob: String,
        /// The state the blob starts from.
        expected: StateId,
        /// The state it was applied to, if that has one.
        actual: Option<StateId>,
    },
    /// A state already carries the most deltas an overlay can hold: rebuild it from a snapshot
    /// (consumers do this on their own, see `ConsumerBuilder::max_deltas`).
    #[error("the state already carries {limit} overlaid deltas; load a snapshot")]
    TooManyDeltas {
        /// The limit.
        limit: usize,
    },
    /// The blob's schema is unusable, or does not fit the state or the code it is used with.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Cap'n Proto refused a message of the blob (manifest, schema).
    #[error("Cap'n Proto error while {context}")]
    Capnp {
        /// What hollow was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: capnp::Error,
    },
    /// The blob goes past one of the consumer's [`Limits`](crate::Limits) (its size, a type's
    /// ordinal capacity): it is not opened, and the consumer keeps its current state.
    #[error("blob {blob} refused")]
    LimitExceeded {
        /// The blob.
        blob: String,
        /// The cap and the value.
        #[source]
        source: crate::LimitExceeded,
    },
    /// A file system operation failed (mapping a blob, the consumer's cache).
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl OpenError {
    pub(crate) fn corrupt(
        blob: impl Into<String>,
        section: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        OpenError::Corrupt {
            blob: blob.into(),
            section: section.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn capnp(context: impl Into<String>, source: capnp::Error) -> Self {
        OpenError::Capnp {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        OpenError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether the same call may succeed later: only file system errors. A corrupt blob, an
    /// unsupported format, a wrong state or a schema problem stays so.
    pub fn is_retryable(&self) -> bool {
        matches!(self, OpenError::Io { .. })
    }
}

/// A schema is invalid, cannot continue a dataset, or does not fit what it is used with.
///
/// Never retryable: the schema (or the code generated from it) must change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A schema that hollow cannot use (bad annotation, unsupported field type as a key…).
    #[error("invalid schema: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// A schema that cannot continue a dataset written with an earlier one.
    #[error("incompatible schema change in {type_name}{}: {rule}", if field.is_empty() { String::new() } else { format!(" field {field}") })]
    Incompatible {
        /// The type.
        type_name: String,
        /// The field, or empty for a type-level rule.
        field: String,
        /// The rule the change breaks.
        rule: String,
    },
    /// The schema of a record, blob or annotation does not fit what it is used with.
    #[error("schema mismatch for {type_name}: {reason}")]
    Mismatch {
        /// The type concerned.
        type_name: String,
        /// What does not fit.
        reason: String,
    },
    /// A type name or type id that the schema does not contain.
    #[error("unknown type {name}")]
    UnknownType {
        /// The name (or `id 0x…`) that was asked for.
        name: String,
    },
    /// A field path that the type does not have.
    #[error("type {type_name} has no field {field}")]
    UnknownField {
        /// The type.
        type_name: String,
        /// The field path that was asked for.
        field: String,
    },
    /// Cap'n Proto refused a schema message.
    #[error("Cap'n Proto error while {context}")]
    Capnp {
        /// What hollow was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: capnp::Error,
    },
}

impl SchemaError {
    pub(crate) fn capnp(context: impl Into<String>, source: capnp::Error) -> Self {
        SchemaError::Capnp {
            context: context.into(),
            source,
        }
    }

    /// Always `false`: the schema or the generated code must change.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// A read through a state failed: a table, a record, a key, an index, a query.
///
/// Retryable only when loading a type met a file system error ([`LookupError::Open`] with an
/// I/O source); bad keys and names, and corrupt sections, stay so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// A type name or type id that the state does not contain.
    #[error("unknown type {name}")]
    UnknownType {
        /// The name (or `id 0x…`) that was asked for.
        name: String,
    },
    /// A field, or an index's field path, that the type does not have.
    #[error("type {type_name} has no field {field}")]
    UnknownField {
        /// The type.
        type_name: String,
        /// The field path that was asked for.
        field: String,
    },
    /// An index name that the type's schema does not declare.
    #[error("type {type_name} has no index named \"{index}\"; its indexes are: {known}")]
    UnknownIndex {
        /// The type.
        type_name: String,
        /// The name asked for.
        index: String,
        /// The indexes the type has (`name (kind)`, comma-separated, or `none`).
        known: String,
    },
    /// A key value given for a lookup does not fit the key's fields.
    #[error("invalid key for type {type_name}: {reason}")]
    InvalidKey {
        /// The type.
        type_name: String,
        /// Why the key does not fit.
        reason: String,
    },
    /// The generated code does not fit the state's schema, or a schema path is unusable.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A type's sections failed verification when first used (types load lazily).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Cap'n Proto refused a record while reading it.
    #[error("Cap'n Proto error while {context}")]
    Capnp {
        /// What hollow was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: capnp::Error,
    },
}

impl LookupError {
    pub(crate) fn capnp(context: impl Into<String>, source: capnp::Error) -> Self {
        LookupError::Capnp {
            context: context.into(),
            source,
        }
    }

    /// Whether the same call may succeed later: only when loading the type met a file system
    /// error.
    pub fn is_retryable(&self) -> bool {
        match self {
            LookupError::Open(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// A store operation, as [`StoreError::Failed`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreOperation {
    /// Opening the store (a local directory).
    Open,
    /// Reading an object.
    Get,
    /// Writing an object.
    Put,
    /// Listing a directory.
    List,
    /// Deleting an object.
    Delete,
    /// Compare-and-swap of the announcement.
    Announce,
}

impl std::fmt::Display for StoreOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreOperation::Open => "open",
            StoreOperation::Get => "get",
            StoreOperation::Put => "put",
            StoreOperation::List => "list",
            StoreOperation::Delete => "delete",
            StoreOperation::Announce => "announce",
        })
    }
}

/// What a failed store operation was about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKey {
    /// A blob (boxed: keeps every error small).
    Blob(Box<BlobKey>),
    /// The announcement (`announced.json`).
    Announcement,
    /// The pin (`pinned.json`).
    Pin,
    /// Anything else: a directory listed, the store's root, a raw key (relative to the
    /// dataset prefix).
    Other(String),
}

impl From<BlobKey> for StoreKey {
    fn from(key: BlobKey) -> Self {
        StoreKey::Blob(Box::new(key))
    }
}

impl std::fmt::Display for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreKey::Blob(k) => f.write_str(&k.relative()),
            StoreKey::Announcement => f.write_str("announced.json"),
            StoreKey::Pin => f.write_str("pinned.json"),
            StoreKey::Other(k) => f.write_str(k),
        }
    }
}

/// A [`BlobStore`](crate::BlobStore) operation failed.
///
/// Retryable: a failed store call (except those that say the object, the permission or the
/// feature is missing), a conflict (re-read the announcement, then try again), a file system
/// error.
/// Not retryable: an unusable location, a corrupt announcement or pin document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A call to the object store failed.
    #[error("store {operation} of {key} failed")]
    Failed {
        /// What was attempted.
        operation: StoreOperation,
        /// What the operation was about.
        key: StoreKey,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Another producer announced first, or a blob key is already taken by other bytes.
    #[error("conflict: {reason}")]
    Conflict {
        /// What collided.
        reason: String,
    },
    /// A store location that cannot be used.
    #[error("cannot use store location {location}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// Why.
        reason: String,
    },
    /// The announcement or the pin document is not one.
    #[error("{key} is corrupt: {reason}")]
    Corrupt {
        /// [`StoreKey::Announcement`] or [`StoreKey::Pin`].
        key: StoreKey,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored blob is not a valid wire container (corrupt, truncated, beyond the size limit),
    /// or encoding one failed.
    #[error("stored blob {key} does not decode")]
    Wire {
        /// The blob.
        key: StoreKey,
        /// What is wrong.
        #[source]
        source: crate::store::WireError,
    },
    /// A file system operation of a local store failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn failed(
        operation: StoreOperation,
        key: StoreKey,
        source: object_store::Error,
    ) -> Self {
        StoreError::Failed {
            operation,
            key,
            source,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether the same call may succeed later (see the type's documentation).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Failed { source, .. } => !matches!(
                source,
                object_store::Error::NotFound { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
                    | object_store::Error::UnknownConfigurationKey { .. }
            ),
            StoreError::Conflict { .. } | StoreError::Io { .. } => true,
            StoreError::Wire { source, .. } => {
                matches!(source, crate::store::WireError::Sink(_))
            }
            StoreError::InvalidLocation { .. } | StoreError::Corrupt { .. } => false,
        }
    }
}

/// A producer's cycle (or a write state's change) failed. Nothing was announced; a producer's
/// state is rolled back to the last announced version.
///
/// Retryable: [`CycleError::Conflict`] (another producer announced first; the producer has
/// already restored the winner's version — or does so before its next cycle — so the same
/// producer runs the cycle again on top of it; see `Producer::resync`), [`CycleError::Store`] and
/// [`CycleError::Restore`] when their source is (the same producer can run the cycle again). Not retryable: records the cycle refuses
/// (duplicate, missing or invalid keys, unique violations), validators, integrity failures,
/// schema problems, and [`CycleError::Aborted`] (the caller's own decision: look at its
/// source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CycleError {
    /// Two records of one type share a primary key in one cycle.
    #[error("duplicate primary key {key} in type {type_name}")]
    DuplicateKey {
        /// The type.
        type_name: String,
        /// The key, rendered as text.
        key: String,
    },
    /// Two records of one type would share a key of a unique index.
    #[error("unique index {index} of type {type_name}: two records have the key {key}")]
    UniqueViolation {
        /// The type.
        type_name: String,
        /// The index (its field paths).
        index: String,
        /// The key, rendered as text.
        key: String,
    },
    /// A record has no value for a primary-key field (a null pointer field).
    #[error("record of type {type_name} has no value for primary-key field {field}")]
    MissingKey {
        /// The type.
        type_name: String,
        /// The missing field path.
        field: String,
    },
    /// A key given to delete a record does not fit the type's primary key.
    #[error("invalid key for type {type_name}: {reason}")]
    InvalidKey {
        /// The type.
        type_name: String,
        /// Why the key does not fit.
        reason: String,
    },
    /// The caller's populate closure gave up; its error is the source. The cycle was rolled
    /// back and nothing was published.
    #[error("cycle aborted")]
    Aborted {
        /// The caller's error.
        #[source]
        source: BoxError,
    },
    /// A validator refused the cycle. Nothing was announced.
    #[error("validator {validator} refused the cycle: {reason}")]
    Validation {
        /// The validator's name.
        validator: String,
        /// Its reason.
        reason: String,
    },
    /// The integrity check before announcement failed: a written blob does not turn one state
    /// into the other. Nothing was announced.
    #[error("integrity check failed for {type_name}: {reason}")]
    Integrity {
        /// The type whose checksums disagree.
        type_name: String,
        /// What disagrees.
        reason: String,
    },
    /// Another producer announced first (or a blob key is already taken): nothing was
    /// announced.
    #[error("conflict: {reason}")]
    Conflict {
        /// What collided.
        reason: String,
    },
    /// The cycle would go past one of the producer's [`Limits`](crate::Limits) (a type's
    /// ordinal capacity, a blob's size). It was rolled back and nothing was published.
    #[error(transparent)]
    LimitExceeded(#[from] crate::LimitExceeded),
    /// Publishing or announcing failed in the store.
    #[error(transparent)]
    Store(StoreError),
    /// Restoring the announced state (the latest snapshot and the deltas after it) failed.
    #[error("restoring the announced state failed")]
    Restore {
        /// Why.
        #[source]
        source: OpenError,
    },
    /// A record's type is not registered, or the schema does not fit (a record, the dataset).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Cap'n Proto refused a record while building or reading it.
    #[error("Cap'n Proto error while {context}")]
    Capnp {
        /// What hollow was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: capnp::Error,
    },
}

impl CycleError {
    /// Aborts a cycle with the caller's own error, kept as the source.
    pub fn aborted(source: impl Into<BoxError>) -> Self {
        CycleError::Aborted {
            source: source.into(),
        }
    }

    pub(crate) fn capnp(context: impl Into<String>, source: capnp::Error) -> Self {
        CycleError::Capnp {
            context: context.into(),
            source,
        }
    }

    /// Whether running the cycle again may succeed (see the type's documentation).
    pub fn is_retryable(&self) -> bool {
        match self {
            CycleError::Conflict { .. } => true,
            CycleError::Store(e) => e.is_retryable(),
            CycleError::Restore { source } => source.is_retryable(),
            _ => false,
        }
    }
}

/// A conflict in the store is the cycle's conflict; any other store error is kept whole.
impl From<StoreError> for CycleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { reason } => CycleError::Conflict { reason },
            e => CycleError::Store(e),
        }
    }
}

/// Blobs read back while restoring the announced state.
impl From<OpenError> for CycleError {
    fn from(source: OpenError) -> Self {
        CycleError::Restore { source }
    }
}

/// An invalid key (a delete's, or a lookup inside a cycle's closure) is the cycle's invalid
/// key; a schema error stays one; any other lookup error aborts the cycle with it as the source.
impl From<LookupError> for CycleError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::InvalidKey { type_name, reason } => {
                CycleError::InvalidKey { type_name, reason }
            }
            LookupError::Schema(e) => CycleError::Schema(e),
            e => CycleError::aborted(e),
        }
    }
}

/// Lets cycle closures use `?` on Cap'n Proto builder and reader calls.
impl From<capnp::Error> for CycleError {
    fn from(source: capnp::Error) -> Self {
        CycleError::capnp("building or reading a record", source)
    }
}

/// Lets cycle closures use `?` on any hollow call: a cycle error stays itself, anything else
/// aborts the cycle with it as the source.
impl From<Error> for CycleError {
    fn from(e: Error) -> Self {
        match e {
            Error::Cycle(e) => e,
            Error::Schema(e) => CycleError::Schema(e),
            e => CycleError::aborted(e),
        }
    }
}

/// A consumer's refresh failed; the state it served before keeps serving.
///
/// Retryable: store errors that are, and [`RefreshError::Open`] (the consumer remembers the
/// blob that failed and plans around it next time), [`RefreshError::NoPath`] (a producer may
/// publish the missing blobs). Not retryable: [`RefreshError::NoSuchVersion`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// A version that is not on the announced chain.
    #[error("version {version} is not on the announced chain")]
    NoSuchVersion {
        /// The version asked for.
        version: u64,
    },
    /// No blobs lead from the current state to the target (a snapshot and deltas, or deltas).
    #[error("no blobs lead from {} to version {to}", from.map_or("nothing".to_string(), |v| format!("version {v}")))]
    NoPath {
        /// The current version.
        from: Option<u64>,
        /// The target version.
        to: u64,
    },
    /// Reading the announcement, the pin, the listing or a blob from the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blob failed to open, verify or apply (the consumer remembers it as failed).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Subscribing to push announcements failed (feature `nats`).
    #[cfg(feature = "nats")]
    #[error(transparent)]
    Push(#[from] crate::push::PushError),
}

impl RefreshError {
    /// Whether refreshing again may succeed (see the type's documentation).
    pub fn is_retryable(&self) -> bool {
        match self {
            RefreshError::NoSuchVersion { .. } => false,
            RefreshError::NoPath { .. } | RefreshError::Open(_) => true,
            RefreshError::Store(e) => e.is_retryable(),
            #[cfg(feature = "nats")]
            RefreshError::Push(_) => true,
        }
    }
}

/// Any hollow error: each operation's error converts into it, so `?` works in code that does
/// not care which operation failed. Match the inner error to act on a variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening, verifying or applying a blob.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A schema.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A read through a state.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// A store operation.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A producer's cycle or a write state's change.
    #[error(transparent)]
    Cycle(#[from] CycleError),
    /// A consumer's refresh.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
}

impl Error {
    /// Whether the same call may succeed later: the inner error's `is_retryable`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Open(e) => e.is_retryable(),
            Error::Schema(e) => e.is_retryable(),
            Error::Lookup(e) => e.is_retryable(),
            Error::Store(e) => e.is_retryable(),
            Error::Cycle(e) => e.is_retryable(),
            Error::Refresh(e) => e.is_retryable(),
        }
    }
}

/// Lets code returning [`Result`] use `?` on Cap'n Proto calls (as a cycle error).
impl From<capnp::Error> for Error {
    fn from(source: capnp::Error) -> Self {
        Error::Cycle(CycleError::from(source))
    }
}

/// `error` and its sources, joined with `: ` (the way anyhow's `{:#}` prints): for logs and
/// reports that print an error as one line. An error's own `Display` leaves its source out.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut at = error.source();
    while let Some(source) = at {
        out.push_str(": ");
        out.push_str(&source.to_string());
        at = source.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chain_renders_every_cause_once() {
        let e = Error::from(OpenError::io(
            "/tmp/x",
            std::io::Error::from_raw_os_error(17),
        ));
        let line = error_chain(&e);
        assert!(line.starts_with("I/O error on /tmp/x: "), "{line}");
        assert_eq!(line.matches("os error 17").count(), 1, "{line}");
    }

    /// Every message of `e`'s chain, the way anyhow's `{:#}` and most reporters print it.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut at = e.source();
        while let Some(s) = at {
            out.push(s.to_string());
            at = s.source();
        }
        out
    }

    fn is_hollow(e: &(dyn std::error::Error + 'static)) -> bool {
        e.is::<Error>()
            || e.is::<OpenError>()
            || e.is::<SchemaError>()
            || e.is::<LookupError>()
            || e.is::<StoreError>()
            || e.is::<CycleError>()
            || e.is::<RefreshError>()
    }

    /// No message hollow writes repeats a cause further down the chain (what other crates'
    /// errors print of their own sources is theirs).
    fn assert_each_cause_once(e: &(dyn std::error::Error + 'static)) {
        let messages = chain(e);
        let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut i = 0;
        while let Some(link) = at {
            if is_hollow(link) {
                for later in &messages[i + 1..] {
                    assert!(
                        !messages[i].contains(later.as_str()),
                        "{:?} repeats its cause {later:?} (chain {messages:?})",
                        messages[i]
                    );
                }
            }
            at = link.source();
            i += 1;
        }
    }

    #[test]
    fn no_cause_is_printed_twice() {
        let io = || std::io::Error::from_raw_os_error(17);
        let store_failed = || {
            StoreError::failed(
                StoreOperation::Put,
                StoreKey::Other("snapshots/x.blob".into()),
                object_store::Error::Generic {
                    store: "test",
                    source: Box::new(io()),
                },
            )
        };
        let errors: Vec<Error> = vec![
            OpenError::io("/tmp/x", io()).into(),
            StoreError::io("/tmp/x", io()).into(),
            store_failed().into(),
            CycleError::from(store_failed()).into(),
            CycleError::aborted(io()).into(),
            CycleError::Restore {
                source: OpenError::io("/tmp/x", io()),
            }
            .into(),
            RefreshError::from(OpenError::io("/tmp/x", io())).into(),
            LookupError::from(OpenError::io("/tmp/x", io())).into(),
            CycleError::from(capnp::Error::failed("bad".into())).into(),
            SchemaError::capnp("reading", capnp::Error::failed("bad".into())).into(),
        ];
        for e in &errors {
            assert_each_cause_once(e);
            let messages = chain(e);
            assert!(messages.len() >= 2, "the cause is kept: {messages:?}");
        }
        // The caller's own error is the source of an abort.
        let aborted = CycleError::aborted(io());
        assert!(
            std::error::Error::source(&aborted)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .is_some_and(|e| e.raw_os_error() == Some(17))
        );
    }

    #[test]
    fn retryable_errors() {
        let failed =
            |source| StoreError::failed(StoreOperation::Get, StoreKey::Announcement, source);
        let generic = || object_store::Error::Generic {
            store: "test",
            source: "timeout".into(),
        };
        assert!(failed(generic()).is_retryable());
        assert!(
            !failed(object_store::Error::NotFound {
                path: "x".into(),
                source: "gone".into()
            })
            .is_retryable()
        );
        let conflict = StoreError::Conflict { reason: "x".into() };
        let cycle = CycleError::from(conflict);
        assert!(matches!(cycle, CycleError::Conflict { .. }));
        assert!(cycle.is_retryable());
        assert!(Error::from(CycleError::from(failed(generic()))).is_retryable());
        assert!(!OpenError::corrupt("b", "header", "bad").is_retryable());
        assert!(
            !CycleError::Restore {
                source: OpenError::corrupt("b", "header", "bad")
            }
            .is_retryable()
        );
        assert!(!Error::from(SchemaError::Invalid { reason: "x".into() }).is_retryable());
        assert!(!CycleError::aborted("stop").is_retryable());
        assert!(!RefreshError::NoSuchVersion { version: 3 }.is_retryable());
        assert!(RefreshError::from(OpenError::corrupt("b", "header", "bad")).is_retryable());
    }
}
