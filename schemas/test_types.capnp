@0x998797ad16bb71b1;
# Types used by the library's own tests: composite, float, byte and nested keys, keyless
# types, empty types, every primitive width, defaults, unions, groups, nested lists and enums.

using Hollow = import "hollow.capnp";

enum Color {
  red @0;
  green @1;
  blue @2;
}

struct Place $Hollow.primaryKey("country, code") {
  country @0 :Text;
  code @1 :UInt32;
  name @2 :Text;
}

struct Label {
  # No primary key: identical labels are one record.
  text @0 :Text;
  weight @1 :Int8;
}

struct Nothing $Hollow.primaryKey("id") {
  id @0 :UInt64;
}

struct Inner {
  a @0 :Int32;
  s @1 :Text;
}

struct Extremes $Hollow.primaryKey("id") {
  id @0 :Int64;
  i8 @1 :Int8;
  i16 @2 :Int16;
  i32 @3 :Int32;
  i64 @4 :Int64;
  u8 @5 :UInt8;
  u16 @6 :UInt16;
  u32 @7 :UInt32;
  u64 @8 :UInt64;
  f32 @9 :Float32;
  f64 @10 :Float64;
  flag @11 :Bool;
  blob @12 :Data;
  color @13 :Color;
  withDefault @14 :Int32 = 42;
  inner @15 :Inner;
  inners @16 :List(Inner);
  matrix @17 :List(List(Int32));
  colors @18 :List(Color);
  choice :union {
    none @19 :Void;
    count @20 :UInt32;
    word @21 :Text;
  }
  extra :group {
    note @22 :Text;
    level @23 :UInt8;
  }
}

struct FloatKey $Hollow.primaryKey("f") {
  f @0 :Float64;
  v @1 :Text;
}

struct BytesKey $Hollow.primaryKey("key") {
  key @0 :Data;
  v @1 :UInt32;
}

struct NestedKey $Hollow.primaryKey("inner.s") {
  inner @0 :Inner;
  v @1 :UInt32;
}

struct Unit {
  # A struct with no fields: pointers to it must not read as null.
}

struct WithUnit $Hollow.primaryKey("id") {
  id @0 :UInt32;
  unit @1 :Unit;
  units @2 :List(Unit);
  after @3 :Text;
}

struct Chain {
  # A self-referential type, to test nesting limits.
  next @0 :Chain;
  depth @1 :UInt8;
}
