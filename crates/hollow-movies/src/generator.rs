//! Record-for-record port of the reference generator `tests/movies.py`.
//!
//! Cycle 0 is the initial catalog; each later cycle updates ~1% of the movies, removes ~0.5%,
//! adds ~0.5% new ones and renames ~0.2% of the actors. Every cycle is the full dataset.

use crate::movies_capnp::{actor, movie};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Genres, indexed by hash bits.
pub const GENRES: [&str; 20] = [
    "Action",
    "Adventure",
    "Animation",
    "Biography",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Family",
    "Fantasy",
    "History",
    "Horror",
    "Music",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Sport",
    "Thriller",
    "War",
    "Western",
];
/// Country codes, indexed by hash bits.
pub const COUNTRIES: [&str; 20] = [
    "US", "GB", "FR", "DE", "IN", "JP", "KR", "ES", "IT", "BR", "MX", "CA", "AU", "SE", "NG", "AR",
    "PL", "TR", "EG", "NZ",
];
const ADJ: [&str; 20] = [
    "Silent",
    "Broken",
    "Golden",
    "Hidden",
    "Last",
    "Crimson",
    "Endless",
    "Frozen",
    "Wild",
    "Lonely",
    "Electric",
    "Velvet",
    "Burning",
    "Distant",
    "Secret",
    "Hollow",
    "Iron",
    "Paper",
    "Midnight",
    "Shattered",
];
const NOUN: [&str; 20] = [
    "River", "Empire", "Garden", "Signal", "Harbor", "Kingdom", "Mirror", "Voyage", "Horizon",
    "Machine", "Letter", "Island", "Forest", "Winter", "Promise", "Shadow", "Station", "Orchard",
    "Lantern", "Circuit",
];
const FIRST: [&str; 25] = [
    "Ada", "Bruno", "Chen", "Dara", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas", "Kira",
    "Luca", "Maya", "Nils", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wen", "Yara", "Zoe",
];
const LAST: [&str; 26] = [
    "Abara", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quiroga", "Rossi", "Silva",
    "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang",
];

/// splitmix64's finaliser folded over the words: a stateless hash.
pub fn mix(words: &[u64]) -> u64 {
    let mut z = GOLDEN;
    for &w in words {
        z ^= w;
        z = z.wrapping_add(GOLDEN);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

fn pick<T: Copy>(items: &[T], h: u64) -> T {
    items[usize::try_from(h % items.len() as u64).unwrap_or(0)]
}

/// One movie.
#[derive(Debug, Clone, PartialEq)]
pub struct Movie {
    /// Primary key.
    pub id: u64,
    /// Title.
    pub title: String,
    /// Release year.
    pub year: u16,
    /// Runtime in minutes.
    pub runtime_min: u16,
    /// Rating, two decimals.
    pub rating: f64,
    /// Sorted, distinct genres.
    pub genres: Vec<&'static str>,
    /// Actor ids of the cast.
    pub cast_ids: Vec<u64>,
    /// Country code.
    pub country_code: &'static str,
}

/// One actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Primary key.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Birth year.
    pub birth_year: u16,
}

impl Movie {
    /// Fills a generated builder.
    pub fn build(&self, mut b: movie::Builder<'_>) {
        b.set_id(self.id);
        b.set_title(self.title.as_str());
        b.set_year(self.year);
        b.set_runtime_min(self.runtime_min);
        #[allow(clippy::cast_possible_truncation)]
        b.set_rating(self.rating as f32);
        let mut genres = b
            .reborrow()
            .init_genres(u32::try_from(self.genres.len()).unwrap_or(0));
        for (i, g) in (0u32..).zip(&self.genres) {
            genres.set(i, *g);
        }
        let mut cast = b
            .reborrow()
            .init_cast_ids(u32::try_from(self.cast_ids.len()).unwrap_or(0));
        for (i, c) in (0u32..).zip(&self.cast_ids) {
            cast.set(i, *c);
        }
        b.set_country_code(self.country_code);
    }
}

impl Actor {
    /// Fills a generated builder.
    pub fn build(&self, mut b: actor::Builder<'_>) {
        b.set_id(self.id);
        b.set_name(self.name.as_str());
        b.set_birth_year(self.birth_year);
    }
}

/// The dataset at a given size: `movies` movies in cycle 0 and `movies / 4` actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// Movies in cycle 0.
    pub movies: u64,
}

impl Dataset {
    /// The dataset with `movies` movies in cycle 0.
    pub fn new(movies: u64) -> Self {
        Self { movies }
    }

    /// Number of actors (every cycle).
    pub fn actor_count(&self) -> u64 {
        (self.movies / 4).max(1)
    }

    fn born(&self, i: u64) -> u64 {
        if i < self.movies {
            0
        } else {
            1 + (i - self.movies) * 200 / self.movies
        }
    }

    fn alive(&self, i: u64, c: u64) -> bool {
        let born = self.born(i);
        born <= c && (born + 1..=c).all(|k| !mix(&[1, i, k]).is_multiple_of(200))
    }

    fn movie(&self, i: u64, c: u64) -> Movie {
        let v = (1..=c)
            .filter(|k| mix(&[2, i, *k]).is_multiple_of(100))
            .max()
            .unwrap_or(0);
        let h = mix(&[3, i, v]);
        let mut title = format!("The {} {} {}", pick(&ADJ, h), pick(&NOUN, h >> 8), i % 997);
        if v != 0 {
            title.push_str(&format!(" (rev {v})"));
        }
        let mut genres: Vec<&'static str> = (0..1 + (h >> 40) % 3)
            .map(|g| pick(&GENRES, h >> (16 + 5 * g)))
            .collect();
        genres.sort_unstable();
        genres.dedup();
        let cast_ids = (0..2 + (h >> 44) % 5)
            .map(|n| 1 + mix(&[4, i, n]) % self.actor_count())
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let rating = (100 + (h >> 28) % 900) as f64 / 100.0;
        Movie {
            id: 100_000 + i,
            title,
            year: u16::try_from(1920 + (h >> 12) % 105).unwrap_or(0),
            runtime_min: u16::try_from(70 + (h >> 20) % 120).unwrap_or(0),
            rating,
            genres,
            cast_ids,
            country_code: pick(&COUNTRIES, h >> 48),
        }
    }

    fn actor(a: u64, c: u64) -> Actor {
        let v = (1..=c)
            .filter(|k| mix(&[5, a, *k]).is_multiple_of(500))
            .max()
            .unwrap_or(0);
        let h = mix(&[6, a, v]);
        let mut name = format!("{} {}", pick(&FIRST, h), pick(&LAST, h >> 8));
        if v != 0 {
            name.push_str(&" Jr.".repeat(usize::try_from(1 + v % 2).unwrap_or(1)));
        }
        Actor {
            id: a,
            name,
            birth_year: u16::try_from(1900 + (h >> 16) % 105).unwrap_or(0),
        }
    }

    /// The actors of cycle `c`, in id order.
    pub fn actors(&self, c: u64) -> impl Iterator<Item = Actor> + '_ {
        (1..=self.actor_count()).map(move |a| Self::actor(a, c))
    }

    /// The movies of cycle `c`, in id order.
    pub fn movies(&self, c: u64) -> impl Iterator<Item = Movie> + '_ {
        let slots = self.movies + c * self.movies / 200;
        (0..slots)
            .filter(move |i| self.alive(*i, c))
            .map(move |i| self.movie(i, c))
    }
}
