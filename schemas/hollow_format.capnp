@0xf403e5cf1b308a3a;
# Internal structures of the hollow blob format (see docs/FORMAT.md). Users never import this.

struct BlobManifest {
  # The manifest section of a blob: what the fixed header has no room for.
  dataset @0 :Text;
  # Name of the dataset the blob belongs to.
  headerTags @1 :List(HeaderTag);
  # User key/value tags set on the producer (sorted by key, keys unique).
  types @2 :List(TypeManifest);
  # The types present in this blob; sections refer to a type by its index in this list.
}

struct HeaderTag {
  key @0 :Text;
  value @1 :Text;
}

struct TypeManifest {
  name @0 :Text;
  # Short name of the struct as written in its schema ("Movie", "Outer.Inner").
  typeId @1 :UInt64;
  # The Cap'n Proto id of the struct (its node in the schema section).
  ordinalCapacity @2 :UInt32;
  # Every ordinal of the type is below this bound.
  recordCount @3 :UInt32;
  # Number of populated ordinals.
  shardBits @4 :UInt8;
  # A shard holds 2^shardBits ordinals: ordinal o lives in shard o >> shardBits.
  primaryKey @5 :List(Text);
  # Field paths of the primary key, empty for a keyless type.
  stateChecksum @6 :UInt64;
  # Order-independent combination of the content hashes of every record (see FORMAT.md).
  shardCount @7 :UInt32;
  # Number of record shards (and of index parts) of this type.
}
