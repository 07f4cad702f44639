//! Scratch: repeated scans (not committed).
use hollow::ReadState;
use hollow_movies::movies_capnp::movie;
use std::time::Instant;
fn main() {
    let state = ReadState::open("/tmp/hd1m/snapshot-00000001.blob").unwrap();
    let t = state.table::<movie::Owned>().unwrap();
    for _ in 0..5 {
        let s = Instant::now();
        let mut sum = 0u64;
        for (_, m) in t.iter() {
            sum += u64::from(m.get_year());
        }
        let it = s.elapsed();
        let s = Instant::now();
        let mut sum2 = 0u64;
        for o in 0..t.ordinal_capacity() {
            if let Some(m) = t.get(o) {
                sum2 += u64::from(m.get_year());
            }
        }
        let get = s.elapsed();
        let s = Instant::now();
        let mut found = 0u64;
        let mut x = 12345u64;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = 100_000 + x % 1_000_000;
            found += t.get_by_key(id).unwrap().map_or(0, |m| m.get_id() & 1);
        }
        let pk = s.elapsed();
        let s = Instant::now();
        let mut tl = 0usize;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let o = (x % 1_000_000) as u32;
            if let Some(m) = t.get(o) {
                tl += m.get_title().unwrap().to_str().unwrap().len();
            }
        }
        let title = s.elapsed();
        println!(
            "iter {:.2} ns  get-loop {:.2} ns  pk {:.1} ns  title {:.1} ns  ({sum} {sum2} {found} {tl})",
            it.as_nanos() as f64 / 1e6,
            get.as_nanos() as f64 / 1e6,
            pk.as_nanos() as f64 / 1e6,
            title.as_nanos() as f64 / 1e6
        );
    }
}
