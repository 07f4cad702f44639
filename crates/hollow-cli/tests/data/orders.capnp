@0xe1f2a3b4c5d6e7f9;
using Hollow = import "hollow.capnp";

# Used only as a field type: a value inside customers, not a dataset type.
struct Address { street @0 :Text; city @1 :Text; }

struct Customer $Hollow.primaryKey("id") {
  id @0 :Int64;
  name @1 :Text;
  rating @2 :Float32;
  address @3 :Address;
  previous @4 :List(Address);
}

# Keyless: identified by content.
struct Order { customerId @0 :Int64; total @1 :Float64; }
