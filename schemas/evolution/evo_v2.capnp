@0xf6d28b1d8d82fd44;
# Version 2: grows compatibly — new fields, a renamed field, a new enumerant, a new type.
using Hollow = import "../hollow.capnp";

enum Genre {
  drama @0;
  comedy @1;
  horror @2;
}

struct Movie $Hollow.primaryKey("id") {
  id @0 :UInt64;
  name @1 :Text;        # renamed from title: same number, same type
  genre @2 :Genre;
  rating @3 :Float32;
  tags @4 :List(Text);
}

struct Studio $Hollow.primaryKey("id") {
  id @0 :UInt32;
  name @1 :Text;
}
