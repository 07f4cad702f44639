//! The deterministic simulation's machinery, shared by `tests/simulation.rs` (proptest drives
//! it, shrinking failures) and the `operations` fuzz target (`fuzz/`, libFuzzer drives it from
//! raw bytes through [`ops_from_bytes`]): the operations, the model, the simulated system (a
//! producer, three consumers, a `FaultyStore`) and the invariants checked after every step
//! (see `tests/simulation.rs`).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hollow::testing::{Fault, FaultyStore, Operation};
use hollow::{BlobStore, Consumer, CycleError, CycleOutcome, Producer, RetryBackoff, StateId};
use hollow_movies::movies_capnp::movie;

use crate::movies_v2_capnp;
use crate::test_types_capnp::{label, place};

/// Movies (keyed by `id`): id → (title, year, genres).
pub type Movies = BTreeMap<u64, (String, u16, Vec<String>)>;

/// What a version holds, across a keyed type with a hash index (`Movie`), a composite-keyed
/// type (`Place`, key `country, code`) and a keyless type (`Label`: identical records are one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    pub movies: Movies,
    pub places: BTreeMap<(String, u32), String>,
    pub labels: BTreeSet<(String, i8)>,
}

const COUNTRIES: [&str; 3] = ["FR", "US", "JP"];

const GENRES: [&str; 4] = ["Drama", "Comedy", "War", "Sci-Fi"];

#[derive(Debug, Clone)]
pub enum Change {
    Put {
        id: u64,
        title: u8,
        year: u16,
        genres: u8,
    },
    Remove {
        id: u64,
    },
    /// Adds or replaces the place `(COUNTRIES[country], code)`.
    PutPlace {
        country: u8,
        code: u32,
        name: u8,
    },
    /// Removes a place by its composite key.
    RemovePlace {
        country: u8,
        code: u32,
    },
    /// Adds a label (keyless: adding an identical one changes nothing).
    AddLabel {
        text: u8,
        weight: i8,
    },
    /// Removes a label (full cycles only: a keyless record has no key to delete by).
    RemoveLabel {
        text: u8,
        weight: i8,
    },
}

impl Change {
    /// Whether an incremental cycle can carry it (keyless records cannot be deleted by key).
    pub fn incremental(&self) -> bool {
        !matches!(self, Change::RemoveLabel { .. })
    }
}

#[derive(Debug, Clone)]
pub enum Op {
    /// A full cycle: the current records with these changes.
    Full(Vec<Change>),
    /// An incremental cycle with these upserts and deletes.
    Incremental(Vec<Change>),
    /// The next store call of `kind` (any kind when `None`) among the following `nth` fails,
    /// before it takes effect or after (a lost response).
    Fault {
        nth: usize,
        kind: Option<usize>,
        after: bool,
    },
    /// Consumer `c` refreshes to the pinned/announced version, or to the `k`-th known version.
    Refresh { c: usize, to: Option<usize> },
    /// Consumer `c` is replaced by a new one (a restarted process), with or without a cache.
    Restart { c: usize, cache: bool },
    /// Pin the `k`-th known version, or unpin.
    Pin(Option<usize>),
    /// The producer process restarts (restores from the store).
    RestartProducer,
    /// The producer restarts with the next version of the schema (`Movie` gains a field,
    /// `Studio` is added, the same indexes declared by the producer): later cycles and restarts
    /// use it; consumers keep reading with the old generated code. Once per sequence.
    UpgradeSchema,
}

pub fn apply(records: &mut Records, changes: &[Change]) {
    for change in changes {
        match change {
            Change::Put {
                id,
                title,
                year,
                genres,
            } => {
                let genres = (0..4)
                    .filter(|g| genres & (1 << g) != 0)
                    .map(|g| GENRES[g].to_string())
                    .collect();
                records
                    .movies
                    .insert(*id, (format!("title {title}"), *year, genres));
            }
            Change::Remove { id } => {
                records.movies.remove(id);
            }
            Change::PutPlace {
                country,
                code,
                name,
            } => {
                let key = (COUNTRIES[usize::from(*country) % 3].to_string(), *code);
                records.places.insert(key, format!("place {name}"));
            }
            Change::RemovePlace { country, code } => {
                let key = (COUNTRIES[usize::from(*country) % 3].to_string(), *code);
                records.places.remove(&key);
            }
            Change::AddLabel { text, weight } => {
                records.labels.insert((format!("label {text}"), *weight));
            }
            Change::RemoveLabel { text, weight } => {
                records.labels.remove(&(format!("label {text}"), *weight));
            }
        }
    }
}

fn build(id: u64, record: &(String, u16, Vec<String>), m: &mut movie::Builder<'_>) {
    m.set_id(id);
    m.set_title(record.0.as_str());
    m.set_year(record.1);
    let mut genres = m
        .reborrow()
        .init_genres(u32::try_from(record.2.len()).unwrap_or(0));
    for (i, g) in (0u32..).zip(&record.2) {
        genres.set(i, g.as_str());
    }
}

/// A full cycle publishing exactly `records`.
async fn full_cycle(producer: &Producer, records: &Records) -> Result<CycleOutcome, CycleError> {
    producer
        .run_cycle(|cycle| {
            let mut message = capnp::message::Builder::new_default();
            for (id, r) in &records.movies {
                let mut m = message.init_root::<movie::Builder>();
                build(*id, r, &mut m);
                cycle.add::<movie::Owned>(m.into_reader())?;
            }
            for ((country, code), name) in &records.places {
                let mut p = message.init_root::<place::Builder>();
                build_place(country, *code, name, &mut p);
                cycle.add::<place::Owned>(p.into_reader())?;
            }
            for (text, weight) in &records.labels {
                let mut l = message.init_root::<label::Builder>();
                l.set_text(text.as_str());
                l.set_weight(*weight);
                cycle.add::<label::Owned>(l.into_reader())?;
            }
            Ok(())
        })
        .await
}

fn build_place(country: &str, code: u32, name: &str, p: &mut place::Builder<'_>) {
    p.set_country(country);
    p.set_code(code);
    p.set_name(name);
}

/// Every record a state serves, read three ways that must agree: a scan, primary-key lookups,
/// and the genres index (each record is found under each of its genres).
fn served(state: &hollow::ReadState) -> Records {
    Records {
        movies: served_movies(state),
        places: served_places(state),
        labels: served_labels(state),
    }
}

/// Places by scan, each found again by its composite key.
fn served_places(state: &hollow::ReadState) -> BTreeMap<(String, u32), String> {
    let table = state.table::<place::Owned>().expect("places");
    let mut out = BTreeMap::new();
    for (_, p) in table.iter() {
        let country = p
            .get_country()
            .expect("c")
            .to_str()
            .expect("utf-8")
            .to_string();
        let name = p
            .get_name()
            .expect("n")
            .to_str()
            .expect("utf-8")
            .to_string();
        out.insert((country, p.get_code()), name);
    }
    for ((country, code), name) in &out {
        let found = table
            .get_by_key_values(&[country.as_str().into(), (*code).into()])
            .expect("lookup")
            .expect("found by its composite key");
        assert_eq!(found.get_name().expect("n").to_str().expect("s"), name);
    }
    out
}

/// Labels by scan: a keyless type holds each distinct record once.
fn served_labels(state: &hollow::ReadState) -> BTreeSet<(String, i8)> {
    let table = state.table::<label::Owned>().expect("labels");
    let mut out = BTreeSet::new();
    for (_, l) in table.iter() {
        let text = l
            .get_text()
            .expect("t")
            .to_str()
            .expect("utf-8")
            .to_string();
        assert!(out.insert((text, l.get_weight())), "a keyless record twice");
    }
    out
}

fn served_movies(state: &hollow::ReadState) -> Movies {
    let table = state.table::<movie::Owned>().expect("movies");
    let mut out = Movies::new();
    for (_, m) in table.iter() {
        let genres: Vec<String> = m
            .get_genres()
            .expect("genres")
            .iter()
            .map(|g| g.expect("g").to_str().expect("utf-8").to_string())
            .collect();
        let title = m
            .get_title()
            .expect("t")
            .to_str()
            .expect("utf-8")
            .to_string();
        out.insert(m.get_id(), (title, m.get_year(), genres));
    }
    for (id, record) in &out {
        let found = table
            .get_by_key(*id)
            .expect("lookup")
            .expect("found by key");
        assert_eq!(found.get_title().expect("t").to_str().expect("s"), record.0);
        for g in &record.2 {
            assert!(
                table
                    .matching("genres", g.as_str())
                    .expect("index")
                    .any(|m| m.get_id() == *id),
                "movie {id} not found under genre {g}"
            );
        }
    }
    for g in GENRES {
        for m in table.matching("genres", g).expect("index") {
            assert!(
                out[&m.get_id()].2.iter().any(|x| x == g),
                "genre {g} answers a movie without it"
            );
        }
    }
    out
}

/// The newest version checked, and the (version, tag) each consumer was last checked at.
type Checked = (Option<u64>, Vec<Option<(u64, u64)>>);

pub static CYCLES: AtomicU64 = AtomicU64::new(0);
pub static FAULTS: AtomicU64 = AtomicU64::new(0);

struct Sim {
    faulty: FaultyStore,
    store: BlobStore,
    /// The store without faults: what a healthy reader sees.
    clean: BlobStore,
    producer: Producer,
    consumers: Vec<(Consumer, Option<tempfile::TempDir>)>,
    /// The records of every announced version.
    versions: BTreeMap<u64, Records>,
    /// The tag of every announced version.
    tags: BTreeMap<u64, u64>,
    /// The producer's current records (the announced version's).
    current: Records,
    /// What `check` verified last: the newest version, and each consumer's state.
    checked: std::cell::RefCell<Checked>,
    /// A consumer with `RefreshPolicy::OnAnnouncement` (an hourly poll) on the store without
    /// faults, woken after every operation as a push announcement would wake it; it must
    /// converge to the pinned or announced version each time (no lost wake-ups).
    watcher: Consumer,
    /// The versions the watcher started serving.
    watched: tokio::sync::mpsc::UnboundedReceiver<u64>,
    /// The watcher's state (version, tag) checked last.
    watcher_checked: Option<(u64, u64)>,
    /// The producer runs the upgraded schema (`Op::UpgradeSchema`).
    upgraded: bool,
}

impl Sim {
    async fn new() -> Sim {
        let faulty = FaultyStore::memory();
        let store = BlobStore::new(Arc::new(faulty.clone()), "sim");
        let clean = BlobStore::new(Arc::clone(faulty.inner()), "sim");
        let producer = Self::producer(&store, false).await;
        let mut consumers = Vec::new();
        for _ in 0..3 {
            consumers.push((Self::consumer(&store, None).await, None));
        }
        let (tx, watched) = tokio::sync::mpsc::unbounded_channel();
        let watcher = Consumer::builder(clean.clone())
            .refresh_policy(hollow::RefreshPolicy::OnAnnouncement {
                poll_interval: std::time::Duration::from_secs(3600),
            })
            .listener(move |e: &hollow::RefreshEvent| {
                if let hollow::RefreshEvent::Succeeded { version, .. } = e {
                    let _ = tx.send(*version);
                }
            })
            .build()
            .await
            .expect("watcher");
        Sim {
            watcher,
            watched,
            watcher_checked: None,
            upgraded: false,
            faulty,
            store,
            clean,
            producer,
            consumers,
            versions: BTreeMap::new(),
            tags: BTreeMap::new(),
            current: Records::default(),
            checked: std::cell::RefCell::new((None, vec![None; 3])),
        }
    }

    async fn producer(store: &BlobStore, upgraded: bool) -> Producer {
        let builder = if upgraded {
            // Version 2 of the schema: Movie gains `tagline`, Studio is new; the indexes the
            // first version declares in annotations are declared by the producer.
            Producer::builder(store.clone(), "sim")
                .register::<movies_v2_capnp::movie::Owned>()
                .register::<movies_v2_capnp::studio::Owned>()
                .hash_index("Movie", "genres")
                .hash_index("Movie", "castIds")
        } else {
            Producer::builder(store.clone(), "sim").register::<movie::Owned>()
        };
        builder
            .register::<place::Owned>()
            .register::<label::Owned>()
            .snapshot_every(3)
            .build()
            .await
            .expect("a producer can always start on the store")
    }

    async fn consumer(store: &BlobStore, cache: Option<&std::path::Path>) -> Consumer {
        let mut b = Consumer::builder(store.clone())
            .max_deltas(4)
            .retry_backoff(RetryBackoff {
                initial: std::time::Duration::ZERO,
                max: std::time::Duration::ZERO,
            });
        if let Some(dir) = cache {
            b = b.local_cache(dir);
        }
        b.build().await.expect("consumer")
    }

    fn known(&self, k: usize) -> Option<u64> {
        let n = self.versions.len();
        (n > 0).then(|| *self.versions.keys().nth(k % n).expect("in range"))
    }

    /// After a cycle returned `result` for `candidate`: what the store now announces decides
    /// what happened (a failed cycle whose announcement took effect did publish).
    async fn settle(&mut self, candidate: Records, result: Result<CycleOutcome, CycleError>) {
        CYCLES.fetch_add(1, Ordering::Relaxed);
        let head = self
            .clean
            .announcement()
            .await
            .expect("the announcement reads")
            .map(|(a, _)| (a.version, a.tag));
        let announced = head.map(|h| h.0);
        if let Some((v, tag)) = head {
            self.tags.insert(v, tag);
        }
        match &result {
            Ok(CycleOutcome::Published(r)) => {
                assert_eq!(announced, Some(r.version), "published means announced");
                self.versions.insert(r.version, candidate.clone());
                self.current = candidate;
            }
            Ok(CycleOutcome::Unchanged { version }) => {
                assert_eq!(candidate, self.current, "unchanged means unchanged");
                assert_eq!(announced, Some(*version));
            }
            Err(_) => {
                let last = self.versions.keys().next_back().copied();
                if announced != last {
                    // The announcement took effect although the cycle reported a failure.
                    let v = announced.expect("a version");
                    assert_eq!(Some(v), last.map_or(Some(1), |l| Some(l + 1)));
                    self.versions.insert(v, candidate.clone());
                    self.current = candidate;
                }
            }
        }
        if result.is_err() {
            self.faulty.clear();
            // The producer can always continue, without a restart: after a failed
            // announcement it resyncs with the store on its own (at once, or — when the
            // resync itself met a fault — before its next cycle, as `resync` does here).
            if announced != self.producer.version().await {
                self.producer
                    .resync()
                    .await
                    .expect("resync with faults cleared");
            }
            assert_eq!(self.producer.version().await, announced);
        }
    }

    async fn run(&mut self, op: &Op) {
        match op {
            Op::Full(changes) => {
                let mut candidate = self.current.clone();
                apply(&mut candidate, changes);
                let result = full_cycle(&self.producer, &candidate).await;
                self.settle(candidate, result).await;
            }
            Op::Incremental(changes) => {
                let changes: Vec<Change> = changes
                    .iter()
                    .filter(|c| c.incremental())
                    .cloned()
                    .collect();
                let mut candidate = self.current.clone();
                apply(&mut candidate, &changes);
                let mut after = self.current.clone();
                let result = self
                    .producer
                    .run_incremental(move |inc| {
                        let mut message = capnp::message::Builder::new_default();
                        for change in &changes {
                            apply(&mut after, std::slice::from_ref(change));
                            match change {
                                Change::Put { id, .. } => {
                                    let mut m = message.init_root::<movie::Builder>();
                                    build(*id, &after.movies[id], &mut m);
                                    inc.upsert::<movie::Owned>(m.into_reader())?;
                                }
                                Change::Remove { id } => {
                                    inc.delete::<movie::Owned>(*id)?;
                                }
                                Change::PutPlace { country, code, .. } => {
                                    let country = COUNTRIES[usize::from(*country) % 3];
                                    let name = &after.places[&(country.to_string(), *code)];
                                    let mut p = message.init_root::<place::Builder>();
                                    build_place(country, *code, name, &mut p);
                                    inc.upsert::<place::Owned>(p.into_reader())?;
                                }
                                Change::RemovePlace { country, code } => {
                                    let country = COUNTRIES[usize::from(*country) % 3];
                                    inc.delete_key("Place", &[country.into(), (*code).into()])?;
                                }
                                Change::AddLabel { text, weight } => {
                                    let mut l = message.init_root::<label::Builder>();
                                    l.set_text(format!("label {text}").as_str());
                                    l.set_weight(*weight);
                                    inc.upsert::<label::Owned>(l.into_reader())?;
                                }
                                Change::RemoveLabel { .. } => unreachable!("filtered out"),
                            }
                        }
                        Ok(())
                    })
                    .await;
                self.settle(candidate, result).await;
            }
            Op::Fault { nth, kind, after } => {
                FAULTS.fetch_add(1, Ordering::Relaxed);
                let mut fault = Fault::nth(*nth);
                if let Some(k) = kind {
                    fault = fault.on([Operation::Put, Operation::Get, Operation::List][*k]);
                }
                if *after {
                    fault = fault.after();
                }
                self.faulty.inject(fault);
            }
            Op::Refresh { c, to } => {
                let (consumer, _) = &self.consumers[*c];
                let before = consumer.version();
                let result = match to.and_then(|k| self.known(k)) {
                    Some(v) => consumer.refresh_to(v).await.map(Some),
                    None => consumer.refresh().await,
                };
                match result {
                    Ok(v) => assert_eq!(consumer.version(), v),
                    Err(_) => {
                        assert_eq!(consumer.version(), before, "a failed refresh keeps serving")
                    }
                }
            }
            Op::Restart { c, cache } => {
                let dir = cache.then(|| tempfile::tempdir().expect("tempdir"));
                let consumer = Self::consumer(&self.store, dir.as_ref().map(|d| d.path())).await;
                self.consumers[*c] = (consumer, dir);
            }
            Op::Pin(k) => {
                let result = match k.and_then(|k| self.known(k)) {
                    Some(v) => {
                        let state = StateId {
                            version: v,
                            tag: self.tags[&v],
                        };
                        self.store.pin(state).await
                    }
                    None => self.store.unpin().await,
                };
                if result.is_err() {
                    self.faulty.clear();
                }
            }
            Op::UpgradeSchema if self.upgraded => {}
            Op::UpgradeSchema => {
                self.faulty.clear();
                self.upgraded = true;
                self.producer = Self::producer(&self.store, true).await;
                let announced = self
                    .clean
                    .announcement()
                    .await
                    .expect("read")
                    .map(|(a, _)| a.version);
                assert_eq!(self.producer.version().await, announced);
            }
            Op::RestartProducer => {
                self.faulty.clear();
                self.producer = Self::producer(&self.store, self.upgraded).await;
                let announced = self
                    .clean
                    .announcement()
                    .await
                    .expect("read")
                    .map(|(a, _)| a.version);
                assert_eq!(self.producer.version().await, announced);
            }
        }
    }

    /// Wakes the watcher (as a pushed announcement does) and waits, on its refresh events,
    /// until it serves the pinned or announced version — then checks what it serves.
    async fn converge(&mut self) {
        let announced = self
            .clean
            .announcement()
            .await
            .expect("read")
            .map(|(a, _)| a.version);
        let pinned = self.clean.pinned().await.expect("read").map(|p| p.version);
        let Some(target) = pinned.or(announced) else {
            return;
        };
        self.clean.wake_watchers();
        let waited = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            while self.watcher.version() != Some(target) {
                if self.watched.recv().await.is_none() {
                    break;
                }
            }
        })
        .await;
        assert!(
            waited.is_ok() && self.watcher.version() == Some(target),
            "the watcher is stuck at {:?}, not at version {target}",
            self.watcher.version()
        );
        let state = self.watcher.state().expect("state");
        let at = Some((state.version(), state.tag()));
        if self.watcher_checked == at {
            return;
        }
        self.watcher_checked = at;
        assert_eq!(
            &served(&state),
            &self.versions[&target],
            "watcher at version {target}"
        );
    }

    /// Checks what changed since the last check (so every state is checked once).
    async fn check(&self) {
        // Every announced version is complete and readable by a healthy consumer: the newest
        // one from nothing (snapshot + deltas), and the one before it by a reverse delta.
        let last = self.versions.keys().next_back().copied();
        if last.is_some() && last != self.checked.borrow().0 {
            let fresh = Self::consumer(&self.clean, None).await;
            for (&v, records) in self.versions.range(..).rev().take(2) {
                fresh
                    .refresh_to(v)
                    .await
                    .expect("an announced version is readable");
                assert_eq!(
                    &served(&fresh.state().expect("state")),
                    records,
                    "version {v}"
                );
            }
            self.checked.borrow_mut().0 = last;
        }
        // Every consumer serves exactly the model of its version.
        for (i, (consumer, _)) in self.consumers.iter().enumerate() {
            if let Some(state) = consumer.state() {
                let at = Some((state.version(), state.tag()));
                if self.checked.borrow().1[i] == at {
                    continue;
                }
                let expected = self
                    .versions
                    .get(&state.version())
                    .expect("a known version");
                assert_eq!(
                    &served(&state),
                    expected,
                    "consumer {i} at version {}",
                    state.version()
                );
                self.checked.borrow_mut().1[i] = at;
            }
        }
    }
}

pub fn simulate(ops: &[Op]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut sim = Sim::new().await;
        for op in ops {
            sim.run(op).await;
            sim.check().await;
            sim.converge().await;
        }
        // The producer can always continue: one more cycle without faults publishes.
        sim.faulty.clear();
        let mut candidate = sim.current.clone();
        candidate
            .movies
            .insert(1_000_000, ("last".to_string(), 2000, Vec::new()));
        let result = full_cycle(&sim.producer, &candidate).await;
        assert!(
            matches!(result, Ok(CycleOutcome::Published(_))),
            "{result:?}"
        );
        sim.settle(candidate, result).await;
        sim.check().await;
    });
}

/// Decodes operations from raw bytes (the fuzz target's input): each operation takes a tag byte
/// and the bytes its fields need; a truncated tail ends the sequence. Every byte string decodes
/// to some valid sequence, so a fuzzer explores sequences rather than a parser.
pub fn ops_from_bytes(data: &[u8]) -> Vec<Op> {
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let mut ops = Vec::new();
    while let Some(tag) = next() {
        let op = match tag % 17 {
            0..=8 => {
                let Some(n) = next() else { break };
                let count = if tag % 17 <= 5 { n % 8 } else { 1 + n % 3 };
                let mut changes = Vec::new();
                for _ in 0..count {
                    let (Some(a), Some(b), Some(c)) = (next(), next(), next()) else {
                        break;
                    };
                    let id = u64::from(a % 24);
                    changes.push(match b % 8 {
                        3 => Change::Remove { id },
                        4 => Change::PutPlace {
                            country: c % 3,
                            code: u32::from(a % 6),
                            name: c >> 6,
                        },
                        5 => Change::RemovePlace {
                            country: c % 3,
                            code: u32::from(a % 6),
                        },
                        6 => Change::AddLabel {
                            text: a % 4,
                            weight: (c % 3).cast_signed() - 1,
                        },
                        7 => Change::RemoveLabel {
                            text: a % 4,
                            weight: (c % 3).cast_signed() - 1,
                        },
                        _ => Change::Put {
                            id,
                            title: b % 4,
                            year: 1990 + u16::from(c % 5),
                            genres: c >> 4,
                        },
                    });
                }
                if tag % 17 <= 5 {
                    Op::Full(changes)
                } else if changes.is_empty() {
                    continue;
                } else {
                    Op::Incremental(changes)
                }
            }
            9..=11 => {
                let Some(n) = next() else { break };
                Op::Fault {
                    nth: 1 + usize::from(n % 5),
                    kind: (n & 0x80 != 0).then_some(usize::from((n >> 3) % 3)),
                    after: n & 0x40 != 0,
                }
            }
            12..=14 => {
                let Some(n) = next() else { break };
                Op::Refresh {
                    c: usize::from(n % 3),
                    to: (n & 0x80 != 0).then_some(usize::from((n >> 2) % 16)),
                }
            }
            15 => {
                let Some(n) = next() else { break };
                if n & 0x80 != 0 {
                    Op::Restart {
                        c: usize::from(n % 3),
                        cache: n & 0x40 != 0,
                    }
                } else {
                    Op::Pin((n & 0x40 != 0).then_some(usize::from(n % 16)))
                }
            }
            _ => {
                if tag & 0x80 != 0 {
                    Op::UpgradeSchema
                } else {
                    Op::RestartProducer
                }
            }
        };
        ops.push(op);
    }
    ops
}
