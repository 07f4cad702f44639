//! The library's error type: one enum with variants a caller can act on.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in hollow.
///
/// Variants name the blob, section, type or key involved so that the message alone says what
/// to fix. Bad input from outside (blobs, schemas, records) is always one of these, never a
/// panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// A type name or type id that the schema or the state does not contain.
    #[error("unknown type {name}")]
    UnknownType {
        /// The name (or `id 0x…`) that was asked for.
        name: String,
    },
    /// A field name that the type does not have.
    #[error("type {type_name} has no field {field}")]
    UnknownField {
        /// The type.
        type_name: String,
        /// The field path that was asked for.
        field: String,
    },
    /// Two records of one type share a primary key in one cycle.
    #[error("duplicate primary key {key} in type {type_name}")]
    DuplicateKey {
        /// The type.
        type_name: String,
        /// The key, rendered as text.
        key: String,
    },
    /// The caller's populate closure gave up (for example on bad input it reports itself);
    /// the cycle was rolled back and nothing was published.
    #[error("cycle aborted: {reason}")]
    Aborted {
        /// Why.
        reason: String,
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
    /// A key value given for a lookup does not fit the key's fields.
    #[error("invalid key for type {type_name}: {reason}")]
    InvalidKey {
        /// The type.
        type_name: String,
        /// Why the key does not fit.
        reason: String,
    },
    /// The schema of a record, blob or annotation does not fit what it is used with.
    #[error("schema mismatch for {type_name}: {reason}")]
    SchemaMismatch {
        /// The type concerned.
        type_name: String,
        /// What does not fit.
        reason: String,
    },
    /// A schema that cannot continue a dataset written with an earlier one.
    #[error("incompatible schema change in {type_name}{}: {rule}", if field.is_empty() { String::new() } else { format!(" field {field}") })]
    IncompatibleSchema {
        /// The type.
        type_name: String,
        /// The field, or empty for a type-level rule.
        field: String,
        /// The rule the change breaks.
        rule: String,
    },
    /// A schema that hollow cannot use (bad annotation, unsupported field type as a key…).
    #[error("invalid schema: {reason}")]
    InvalidSchema {
        /// What is wrong.
        reason: String,
    },
    /// A delta was applied to a state other than the one it starts from.
    #[error("blob {blob} applies to {expected} but the state is at {}", match actual { Some(a) => a.to_string(), None => "no version".to_string() })]
    WrongState {
        /// The delta blob.
        blob: String,
        /// The state the blob starts from.
        expected: crate::StateId,
        /// The state it was applied to, if that has one.
        actual: Option<crate::StateId>,
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
    /// A validator refused the cycle. Nothing was announced.
    #[error("validator {validator} refused the cycle: {reason}")]
    Validation {
        /// The validator's name.
        validator: String,
        /// Its reason.
        reason: String,
    },
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
    /// A state already carries the most deltas an overlay can hold: rebuild it from a snapshot
    /// (consumers do this on their own, see `ConsumerBuilder::max_deltas`).
    #[error("the state already carries {limit} overlaid deltas; load a snapshot")]
    TooManyDeltas {
        /// The limit.
        limit: usize,
    },
    /// A store operation failed.
    #[error("store {operation} of {key} failed: {source}")]
    Store {
        /// What was attempted (`put`, `get`, `list`, `announce`).
        operation: String,
        /// The key (relative to the dataset prefix).
        key: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Another producer published first (or a blob key is already taken): nothing was announced.
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
    /// A file system operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Cap'n Proto refused a record or a schema message.
    #[error("Cap'n Proto error while {context}: {source}")]
    Capnp {
        /// What hollow was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: capnp::Error,
    },
}

impl Error {
    pub(crate) fn corrupt(
        blob: impl Into<String>,
        section: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            blob: blob.into(),
            section: section.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn capnp(context: impl Into<String>, source: capnp::Error) -> Self {
        Error::Capnp {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Lets cycle closures use `?` on Cap'n Proto builder and reader calls.
impl From<capnp::Error> for Error {
    fn from(source: capnp::Error) -> Self {
        Error::Capnp {
            context: "building or reading a record".to_string(),
            source,
        }
    }
}
