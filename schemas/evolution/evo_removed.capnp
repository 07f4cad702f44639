@0xf6d28b1d8d82fd44;
# Refused: genre removed.
using Hollow = import "../hollow.capnp";

enum Genre {
  drama @0;
  comedy @1;
}

struct Movie $Hollow.primaryKey("id") {
  id @0 :UInt64;
  title @1 :Text;
}
