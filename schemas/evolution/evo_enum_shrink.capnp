@0xf6d28b1d8d82fd44;
# Refused: an enumerant removed.
using Hollow = import "../hollow.capnp";

enum Genre {
  drama @0;
}

struct Movie $Hollow.primaryKey("id") {
  id @0 :UInt64;
  title @1 :Text;
  genre @2 :Genre;
}
