@0xd1e2a3b4c5d6e7f8;
using Hollow = import "hollow.capnp";

enum Format { hardcover @0; paperback @1; ebook @2; }

struct Author { name @0 :Text; born @1 :Int16; }

struct Book $Hollow.primaryKey("isbn") $Hollow.uniqueKey("title, edition") $Hollow.hashIndex("format; authors.name; tags; publisher.country") {
  isbn @0 :Text;
  title @1 :Text;
  edition @2 :UInt8;
  format @3 :Format;
  authors @4 :List(Author);
  tags @5 :List(Text);
  price @6 :Float64;
  cover @7 :Data;
  publisher :group { name @8 :Text; country @9 :Text; }
  status :union { inPrint @10 :Void; outOfPrint @11 :UInt16; }
}
