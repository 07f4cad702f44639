@0xb1c4a3f5e2d90817;
# Schema of the benchmark dataset (`hollow demo --export DIR` writes it as JSON Lines).
# Movie.id and Actor.id are the primary keys; movies are indexed by genre and by cast member
# (each element of the lists), so "all movies with genre X" and "all movies with actor Y" are
# one lookup each.

using Hollow = import "hollow.capnp";

struct Movie $Hollow.primaryKey("id") $Hollow.hashIndex("genres; castIds") {
  id @0 :UInt64;
  title @1 :Text;
  year @2 :UInt16;
  runtimeMin @3 :UInt16;
  rating @4 :Float32;
  genres @5 :List(Text);
  castIds @6 :List(UInt64);   # Actor.id of each cast member
  countryCode @7 :Text;
}

struct Actor $Hollow.primaryKey("id") {
  id @0 :UInt64;
  name @1 :Text;
  birthYear @2 :UInt16;
}
