@0xf6d28b1d8d82fd44;
# Version 1 of a small dataset, for the schema evolution tests. Every file in this directory is
# a version of the same schema: they share the file id, so their structs share ids.
using Hollow = import "../hollow.capnp";

enum Genre {
  drama @0;
  comedy @1;
}

struct Movie $Hollow.primaryKey("id") {
  id @0 :UInt64;
  title @1 :Text;
  genre @2 :Genre;
}
