@0xf6d28b1d8d82fd44;
# Refused: the primary key changed.
using Hollow = import "../hollow.capnp";

enum Genre {
  drama @0;
  comedy @1;
}

struct Movie $Hollow.primaryKey("title") {
  id @0 :UInt64;
  title @1 :Text;
  genre @2 :Genre;
}
