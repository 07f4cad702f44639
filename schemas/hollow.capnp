@0xaf1c1644f785a3af;
# Annotations that users put on their own schema to tell hollow about identity and indexes.
#
#   using Hollow = import "hollow.capnp";
#   struct Movie $Hollow.primaryKey("id") { id @0 :UInt64; ... }
#
# A field path names a field of the struct; a dot walks into a nested struct, group or union
# member ("details.isbn"), or into the elements of a list of structs ("authors.name"). Several
# fields are separated by commas: $primaryKey("country,code").

annotation primaryKey @0xa4a4c9d196fa09a5 (struct) :Text;
# The record's identity. A cycle that omits a key deletes its record; a changed record with the
# same key is an update that keeps its ordinal. Types without a primary key are identified by
# their whole content.

annotation uniqueKey @0xd171d86f73b596cd (struct) :Text;
# A secondary unique index: one or more indexes separated by ';', each a comma-separated list
# of field paths. A duplicate value fails the cycle. Shipped in every snapshot and maintained
# through deltas (docs/FORMAT.md §13a).

annotation hashIndex @0x972d83890786c74b (struct) :Text;
# Non-unique hash indexes: one or more indexes separated by ';', each a comma-separated list of
# field paths; a path ending on a list takes every element. Shipped in every snapshot and
# maintained through deltas (docs/FORMAT.md §13a).
