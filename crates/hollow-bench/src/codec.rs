//! A compact byte encoding of movies and actors for the LMDB values, read lazily in place.
//!
//! Movie value: `id u64 LE | year u16 LE | runtime u16 LE | rating f32 LE | title | country |
//! genre count (varint) | genres | cast count (varint) | cast ids u64 LE…`, where every string
//! is a varint length followed by UTF-8 bytes. The fixed fields sit at fixed offsets, so `id`,
//! `year` and `title` are read without decoding the rest (no allocation), which makes this a
//! stronger baseline than a serde/bincode decode of the whole value.
//!
//! Actor value: `birth year u16 LE | name`.

use hollow_movies::{Actor, Movie};

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or(0));
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Reads a varint at `at`; returns the value and the offset after it.
fn get_varint(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = *bytes.get(at)?;
        at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some((v, at));
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Reads a length-prefixed string at `at`; returns it and the offset after it.
fn get_str(bytes: &[u8], at: usize) -> Option<(&str, usize)> {
    let (len, at) = get_varint(bytes, at)?;
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    let s = std::str::from_utf8(bytes.get(at..end)?).ok()?;
    Some((s, end))
}

/// Appends the encoding of `movie` to `out` (cleared first).
pub fn encode_movie(movie: &Movie, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&movie.id.to_le_bytes());
    out.extend_from_slice(&movie.year.to_le_bytes());
    out.extend_from_slice(&movie.runtime_min.to_le_bytes());
    #[allow(clippy::cast_possible_truncation)] // the schema's rating is a Float32
    out.extend_from_slice(&(movie.rating as f32).to_le_bytes());
    put_str(out, &movie.title);
    put_str(out, movie.country_code);
    put_varint(out, movie.genres.len() as u64);
    for g in &movie.genres {
        put_str(out, g);
    }
    put_varint(out, movie.cast_ids.len() as u64);
    for c in &movie.cast_ids {
        out.extend_from_slice(&c.to_le_bytes());
    }
}

/// Appends the encoding of `actor` to `out` (cleared first).
pub fn encode_actor(actor: &Actor, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&actor.birth_year.to_le_bytes());
    put_str(out, &actor.name);
}

/// A movie value read in place.
#[derive(Debug, Clone, Copy)]
pub struct MovieView<'a>(pub &'a [u8]);

impl<'a> MovieView<'a> {
    /// The movie id (0 when the value is too short).
    #[inline]
    pub fn id(self) -> u64 {
        self.0
            .get(0..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }

    /// The release year (0 when the value is too short).
    #[inline]
    pub fn year(self) -> u16 {
        self.0
            .get(8..10)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u16::from_le_bytes)
    }

    /// The title, borrowed from the value (`None` when malformed).
    #[inline]
    pub fn title(self) -> Option<&'a str> {
        get_str(self.0, 16).map(|(s, _)| s)
    }

    /// Decodes every field back into a [`Movie`] (for round-trip checks).
    pub fn decode(self, genres: &[&'static str], countries: &[&'static str]) -> Option<Movie> {
        let b = self.0;
        let runtime_min = u16::from_le_bytes(b.get(10..12)?.try_into().ok()?);
        let rating = f32::from_le_bytes(b.get(12..16)?.try_into().ok()?);
        let (title, at) = get_str(b, 16)?;
        let (country, mut at) = get_str(b, at)?;
        let (n_genres, next) = get_varint(b, at)?;
        at = next;
        let mut gs = Vec::new();
        for _ in 0..n_genres {
            let (g, next) = get_str(b, at)?;
            at = next;
            gs.push(*genres.iter().find(|x| **x == g)?);
        }
        let (n_cast, mut at) = get_varint(b, at)?;
        let mut cast_ids = Vec::new();
        for _ in 0..n_cast {
            cast_ids.push(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?));
            at += 8;
        }
        Some(Movie {
            id: self.id(),
            title: title.to_string(),
            year: self.year(),
            runtime_min,
            rating: f64::from(rating),
            genres: gs,
            cast_ids,
            country_code: countries.iter().find(|c| **c == country)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hollow_movies::Dataset;
    use hollow_movies::generator::{COUNTRIES, GENRES};

    #[test]
    fn movies_round_trip() {
        let mut buf = Vec::new();
        for m in Dataset::new(500).movies(0) {
            encode_movie(&m, &mut buf);
            let view = MovieView(&buf);
            assert_eq!(view.id(), m.id);
            assert_eq!(view.year(), m.year);
            assert_eq!(view.title(), Some(m.title.as_str()));
            let back = view.decode(&GENRES, &COUNTRIES).expect("decodes");
            assert_eq!(back.cast_ids, m.cast_ids);
            assert_eq!(back.genres, m.genres);
            assert_eq!(back.country_code, m.country_code);
            #[allow(clippy::cast_possible_truncation)]
            let rating = f64::from(m.rating as f32);
            assert!((back.rating - rating).abs() < f64::EPSILON);
        }
    }

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(get_varint(&out, 0), Some((v, out.len())));
        }
    }
}
