@0xb1c4a3f5e2d90817;
# Version 2 of the benchmark schema (../movies.capnp), for the schema evolution tests: the same
# file id, so Movie and Actor keep their ids; Movie gains a field and the schema a type.

using Hollow = import "../hollow.capnp";

struct Movie $Hollow.primaryKey("id") {
  id @0 :UInt64;
  title @1 :Text;
  year @2 :UInt16;
  runtimeMin @3 :UInt16;
  rating @4 :Float32;
  genres @5 :List(Text);
  castIds @6 :List(UInt64);
  countryCode @7 :Text;
  tagline @8 :Text;           # new in v2
}

struct Actor $Hollow.primaryKey("id") {
  id @0 :UInt64;
  name @1 :Text;
  birthYear @2 :UInt16;
}

struct Studio $Hollow.primaryKey("id") {   # new in v2
  id @0 :UInt32;
  name @1 :Text;
}
