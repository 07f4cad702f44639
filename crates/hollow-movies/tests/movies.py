#!/usr/bin/env python3
"""Deterministic movie-catalog dataset for benchmarks and end-to-end tests.

Every cycle is the *full* dataset as a producer would see it (deletion by
omission). Cycle 0 is the initial state; each later cycle updates ~1% of the
movies, removes ~0.5%, adds ~0.5% new ones, and touches ~0.2% of the actors.

Output: one JSON object per line, `{"type": "Movie"|"Actor", ...fields}`,
actors first, then movies, both in ascending id order.

    movies.py --movies 1000000 --cycles 3 --out DIR
        writes DIR/cycle-0000.jsonl ... DIR/cycle-0002.jsonl
    movies.py --movies 1000 --cycle 0          # one cycle to stdout

The generator is pure integer arithmetic (splitmix64), so any language can
reproduce it record for record; the schema is schemas/movies.capnp in this repository.
Kept as the reference for the Rust port (crates/hollow-movies/src/generator.rs), which
tests/matches_python.rs compares with it byte for byte; `hollow demo --export DIR` writes
the same files without Python.
"""
import argparse
import json
import os
import sys

MASK = (1 << 64) - 1

GENRES = ["Action", "Adventure", "Animation", "Biography", "Comedy", "Crime",
          "Documentary", "Drama", "Family", "Fantasy", "History", "Horror",
          "Music", "Mystery", "Romance", "Sci-Fi", "Sport", "Thriller", "War",
          "Western"]
COUNTRIES = ["US", "GB", "FR", "DE", "IN", "JP", "KR", "ES", "IT", "BR", "MX",
             "CA", "AU", "SE", "NG", "AR", "PL", "TR", "EG", "NZ"]
ADJ = ["Silent", "Broken", "Golden", "Hidden", "Last", "Crimson", "Endless",
       "Frozen", "Wild", "Lonely", "Electric", "Velvet", "Burning", "Distant",
       "Secret", "Hollow", "Iron", "Paper", "Midnight", "Shattered"]
NOUN = ["River", "Empire", "Garden", "Signal", "Harbor", "Kingdom", "Mirror",
        "Voyage", "Horizon", "Machine", "Letter", "Island", "Forest", "Winter",
        "Promise", "Shadow", "Station", "Orchard", "Lantern", "Circuit"]
FIRST = ["Ada", "Bruno", "Chen", "Dara", "Elif", "Femi", "Greta", "Hiro",
         "Ines", "Jonas", "Kira", "Luca", "Maya", "Nils", "Omar", "Priya",
         "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Yara", "Zoe"]
LAST = ["Abara", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia",
        "Haddad", "Ito", "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura",
        "Okafor", "Petrov", "Quiroga", "Rossi", "Silva", "Tanaka", "Usman",
        "Varga", "Weber", "Xu", "Yilmaz", "Zhang"]


def mix(*words):
    """splitmix64 finaliser folded over the words: a stateless hash."""
    z = 0x9E3779B97F4A7C15
    for w in words:
        z = (z ^ (w & MASK)) & MASK
        z = (z + 0x9E3779B97F4A7C15) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z = z ^ (z >> 31)
    return z


def movie_born(i, movies):
    """Cycle in which movie slot i first appears (0 for the initial catalog)."""
    return 0 if i < movies else 1 + (i - movies) * 200 // movies


def movie_alive(i, c, movies):
    """Slot i is present in cycle c: born by then and not yet removed."""
    if movie_born(i, movies) > c:
        return False
    for k in range(movie_born(i, movies) + 1, c + 1):
        if mix(1, i, k) % 200 == 0:          # ~0.5% removed per cycle
            return False
    return True


def movie_version(i, c):
    """Last cycle <= c at which movie i's content changed."""
    v = 0
    for k in range(1, c + 1):
        if mix(2, i, k) % 100 == 0:          # ~1% updated per cycle
            v = k
    return v


def movie(i, c, movies, actors):
    v = movie_version(i, c)
    h = mix(3, i, v)
    title = "The %s %s %d" % (ADJ[h % 20], NOUN[(h >> 8) % 20], i % 997)
    if v:
        title += " (rev %d)" % v
    genres = sorted({GENRES[(h >> (16 + 5 * g)) % 20] for g in range(1 + (h >> 40) % 3)})
    cast = [1 + mix(4, i, n) % actors for n in range(2 + (h >> 44) % 5)]
    return {
        "type": "Movie",
        "id": 100000 + i,
        "title": title,
        "year": 1920 + (h >> 12) % 105,
        "runtimeMin": 70 + (h >> 20) % 120,
        "rating": round(1.0 + ((h >> 28) % 900) / 100.0, 2),
        "genres": genres,
        "castIds": cast,
        "countryCode": COUNTRIES[(h >> 48) % 20],
    }


def actor(a, c):
    v = 0
    for k in range(1, c + 1):
        if mix(5, a, k) % 500 == 0:          # ~0.2% renamed per cycle
            v = k
    h = mix(6, a, v)
    name = "%s %s" % (FIRST[h % 25], LAST[(h >> 8) % 26])
    if v:
        name += " Jr." * (1 + v % 2)
    return {"type": "Actor", "id": a, "name": name, "birthYear": 1900 + (h >> 16) % 105}


def cycle(c, movies):
    actors = max(1, movies // 4)
    for a in range(1, actors + 1):
        yield actor(a, c)
    slots = movies + (c * movies) // 200     # new movies added ~0.5% per cycle
    for i in range(slots):
        if movie_alive(i, c, movies):
            yield movie(i, c, movies, actors)


def write(c, movies, out):
    for rec in cycle(c, movies):
        out.write(json.dumps(rec, separators=(",", ":")))
        out.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--movies", type=int, default=10000)
    ap.add_argument("--cycles", type=int, default=1, help="write cycles 0..N-1 into --out")
    ap.add_argument("--cycle", type=int, help="write this one cycle to stdout")
    ap.add_argument("--out", help="directory for cycle-NNNN.jsonl files")
    a = ap.parse_args()
    if a.cycle is not None:
        write(a.cycle, a.movies, sys.stdout)
        return
    if not a.out:
        ap.error("--out is required unless --cycle is given")
    os.makedirs(a.out, exist_ok=True)
    for c in range(a.cycles):
        path = os.path.join(a.out, "cycle-%04d.jsonl" % c)
        with open(path + ".tmp", "w") as f:
            write(c, a.movies, f)
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
