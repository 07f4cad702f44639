//! Helpers shared by the integration tests.
#![allow(dead_code)]

use hollow::{BlobBytes, StateId, WriteOptions, WriteState};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};

/// Writes cycle `cycle` of the movies dataset with `movies` movies into a snapshot.
pub fn movies_snapshot(movies: u64, cycle: u64, options: WriteOptions) -> BlobBytes {
    let mut state = WriteState::builder("movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .options(options)
        .header_tag("source", "movies.py")
        .build()
        .expect("write state");
    let data = Dataset::new(movies);
    let mut message = capnp::message::Builder::new_default();
    for a in data.actors(cycle) {
        a.build(message.init_root::<actor::Builder>());
        state
            .add::<actor::Owned>(message.get_root_as_reader().expect("reader"))
            .expect("add actor");
    }
    for m in data.movies(cycle) {
        m.build(message.init_root::<movie::Builder>());
        state
            .add::<movie::Owned>(message.get_root_as_reader().expect("reader"))
            .expect("add movie");
    }
    state
        .write_snapshot(&StateId {
            version: cycle + 1,
            tag: 0x5eed + cycle,
        })
        .expect("snapshot")
}
