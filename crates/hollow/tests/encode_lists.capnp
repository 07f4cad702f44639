@0xe1b41c4fb1692896;
# Types for tests/encode.rs: every kind of list, an anonymous union, defaults of every kind.

enum Mood {
  calm @0;
  angry @1;
}

struct Item {
  name @0 :Text;
  tags @1 :List(Text);
}

struct Lists {
  texts @0 :List(Text);
  datas @1 :List(Data);
  bools @2 :List(Bool);
  floats @3 :List(Float32);
  doubles @4 :List(Float64);
  nested @5 :List(List(Text));
  moods @6 :List(Mood);
  voids @7 :List(Void);
  deep @8 :List(List(List(UInt8)));
  structs @9 :List(Item);
  union {
    a @10 :Text;
    b @11 :Void;
    c @12 :Item;
  }
  small @13 :Int8 = -3;
  yes @14 :Bool = true;
  ratio @15 :Float32 = 0.5;
  mood @16 :Mood = angry;
  big @17 :UInt64 = 12345678901234;
  wide @18 :Float64 = -2.25;
  ints @19 :List(Int16);
}

struct Node {
  id @0 :UInt64;
  child @1 :Node;
  kids @2 :List(Node);
  label @3 :Text;
}
