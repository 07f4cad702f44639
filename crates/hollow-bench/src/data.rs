//! The dataset, parsed once into plain records, and the random access patterns every engine is
//! read with.

use hollow_movies::{Actor, Dataset, Movie};

/// Cycle 0 of the movies dataset as plain records, with precomputed random access patterns.
#[derive(Debug, Clone)]
pub struct Records {
    /// Movies in id order (ordinal `i` of a fresh hollow state is `movies[i]`).
    pub movies: Vec<Movie>,
    /// Actors in id order.
    pub actors: Vec<Actor>,
    /// Random movie ordinals (uniform over `0..movies.len()`).
    pub ordinals: Vec<u32>,
    /// Random existing movie ids (uniform over the movies).
    pub ids: Vec<u64>,
}

impl Records {
    /// Generates cycle 0 with `movies` movies, `ops` random ordinals and `lookups` random ids.
    pub fn generate(movies: u64, ops: usize, lookups: usize) -> Self {
        let data = Dataset::new(movies);
        let actors: Vec<Actor> = data.actors(0).collect();
        let movies: Vec<Movie> = data.movies(0).collect();
        let n = u32::try_from(movies.len()).unwrap_or(u32::MAX);
        let mut rng = XorShift::new(0x5eed_1234_abcd_0001);
        let ordinals: Vec<u32> = (0..ops).map(|_| rng.below(n)).collect();
        let ids = (0..lookups)
            .map(|_| movies.get(rng.below(n) as usize).map_or(0, |m| m.id))
            .collect();
        Self {
            movies,
            actors,
            ordinals,
            ids,
        }
    }

    /// The id of the movie in the middle of the catalogue (used for open → first lookup).
    pub fn middle_id(&self) -> u64 {
        self.movies.get(self.movies.len() / 2).map_or(0, |m| m.id)
    }

    /// Sum of every movie's `year`: what a correct full scan must return.
    pub fn year_sum(&self) -> u64 {
        self.movies.iter().map(|m| u64::from(m.year)).sum()
    }
}

/// xorshift64*: a small, fast, deterministic generator for access patterns.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (zero is replaced by a fixed constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value uniform in `0..n` (`0` when `n` is zero), by multiply-shift.
    pub fn below(&mut self, n: u32) -> u32 {
        let wide = (self.next_u64() >> 32) * u64::from(n);
        u32::try_from(wide >> 32).unwrap_or(0)
    }
}
