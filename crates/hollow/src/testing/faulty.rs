//! `FaultyStore`: an `ObjectStore` wrapper that counts and logs every call and fails the calls
//! its [`Fault`] rules choose (the N-th call, every call of one kind, calls on some keys), either
//! before the call reaches the inner store or after it took effect (a lost response).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// The kinds of `ObjectStore` call, for counting and for choosing which calls fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// `put_opts` (also `put`).
    Put,
    /// `put_multipart_opts` (the upload's parts are not counted).
    PutMultipart,
    /// `get_opts` (also `get`, `get_range`, `head`; `get_ranges` once per range it fetches).
    Get,
    /// One location of `delete_stream` (also `delete`).
    Delete,
    /// `list` (also `list_with_offset`).
    List,
    /// `list_with_delimiter`.
    ListWithDelimiter,
    /// `copy_opts` (also `copy`, `copy_if_not_exists`).
    Copy,
    /// `rename_opts` (also `rename`, `rename_if_not_exists`).
    Rename,
}

impl Operation {
    /// Every kind, in declaration order.
    pub const ALL: [Operation; 8] = [
        Operation::Put,
        Operation::PutMultipart,
        Operation::Get,
        Operation::Delete,
        Operation::List,
        Operation::ListWithDelimiter,
        Operation::Copy,
        Operation::Rename,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// When an injected failure happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The call fails without reaching the inner store (nothing changes).
    Before,
    /// The call reaches the inner store and takes effect, then its answer is replaced by the
    /// error (a response lost on the way back: the caller cannot tell whether it happened). A
    /// list yields its entries, then the error.
    After,
    /// The process is killed (SIGKILL) before the call reaches the inner store: a crash at
    /// this point of the program (for tests that run the code under test in a child process).
    KillBefore,
    /// The call reaches the inner store and takes effect, then the process is killed (SIGKILL).
    KillAfter,
}

/// A rule choosing calls to fail: which kind, which keys, which of the matching calls, how
/// many times, and when. Rules see only the calls made after [`FaultyStore::inject`].
///
/// ```
/// use hollow::testing::{Fault, Operation};
/// // The third `put` from now fails, once, before it reaches the store.
/// let f = Fault::nth(3).on(Operation::Put);
/// // Every call touching the announcement fails after taking effect, twice.
/// let g = Fault::always().on_path("announced.json").after().times(2);
/// # let _ = (f, g);
/// ```
#[derive(Debug, Clone)]
pub struct Fault {
    operation: Option<Operation>,
    path_contains: Option<String>,
    /// Matching calls let through before the first failure.
    skip: usize,
    /// Failures left.
    remaining: usize,
    timing: Timing,
}

impl Fault {
    /// Fails the `n`-th matching call from now (`1`: the next one), once. `n = 0` is taken as 1.
    pub fn nth(n: usize) -> Self {
        Self {
            operation: None,
            path_contains: None,
            skip: n.saturating_sub(1),
            remaining: 1,
            timing: Timing::Before,
        }
    }

    /// Fails every matching call (until [`FaultyStore::clear`]).
    pub fn always() -> Self {
        Self {
            remaining: usize::MAX,
            ..Self::nth(1)
        }
    }

    /// Only calls of kind `operation` match.
    pub fn on(mut self, operation: Operation) -> Self {
        self.operation = Some(operation);
        self
    }

    /// Only calls whose location (or list prefix) contains `text` match.
    pub fn on_path(mut self, text: &str) -> Self {
        self.path_contains = Some(text.to_string());
        self
    }

    /// Fails `count` matching calls in a row (from the first chosen one) instead of one.
    pub fn times(mut self, count: usize) -> Self {
        self.remaining = count;
        self
    }

    /// The call takes effect, then fails ([`Timing::After`]).
    pub fn after(mut self) -> Self {
        self.timing = match self.timing {
            Timing::KillBefore | Timing::KillAfter => Timing::KillAfter,
            Timing::Before | Timing::After => Timing::After,
        };
        self
    }

    /// Instead of failing the call, kill the process with SIGKILL: before the call, or after it
    /// took effect when combined with [`Fault::after`] (in either order).
    pub fn kill(mut self) -> Self {
        self.timing = match self.timing {
            Timing::After | Timing::KillAfter => Timing::KillAfter,
            Timing::Before | Timing::KillBefore => Timing::KillBefore,
        };
        self
    }

    fn matches(&self, operation: Operation, location: &str) -> bool {
        self.operation.is_none_or(|o| o == operation)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|t| location.contains(t))
    }
}

/// One call seen by a [`FaultyStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Its kind.
    pub operation: Operation,
    /// The location (for a list, its prefix; for a copy or rename, `from -> to`).
    pub location: String,
    /// The failure injected into it, if any.
    pub failed: Option<Timing>,
}

#[derive(Debug, Default)]
struct Shared {
    calls: AtomicUsize,
    per_operation: [AtomicUsize; 8],
    failures: AtomicUsize,
    rules: Mutex<Vec<Fault>>,
    log: Mutex<Vec<Call>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not hide the counts from the next one.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Counts and logs a call; says whether and when it fails.
    fn decide(&self, operation: Operation, location: &str) -> Option<Timing> {
        let mut rules = lock(&self.rules);
        let mut log = lock(&self.log);
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.per_operation[operation.index()].fetch_add(1, Ordering::SeqCst);
        let mut failed = None;
        for rule in rules.iter_mut() {
            if !rule.matches(operation, location) {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
            } else if failed.is_none() && rule.remaining > 0 {
                rule.remaining -= 1;
                failed = Some(rule.timing);
            }
        }
        rules.retain(|r| r.remaining > 0);
        if failed.is_some() {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        log.push(Call {
            operation,
            location: location.to_string(),
            failed,
        });
        failed
    }
}

fn injected(operation: Operation, location: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected failure of {operation:?} {location}").into(),
    }
}

/// An `ObjectStore` that passes every call to an inner store, counting and logging it, and fails
/// the calls chosen by the [`Fault`] rules given to [`FaultyStore::inject`]. Failures are
/// `object_store::Error::Generic` (store `"FaultyStore"`), so a `BlobStore` over it reports
/// `StoreError::Failed`.
///
/// Clones share the inner store, the counts, the log and the rules.
#[derive(Debug, Clone)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    shared: Arc<Shared>,
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl FaultyStore {
    /// Wraps `inner`; no rules yet (a counting pass-through).
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            shared: Arc::default(),
        }
    }

    /// Wraps a fresh `object_store::memory::InMemory`.
    pub fn memory() -> Self {
        Self::new(Arc::new(object_store::memory::InMemory::new()))
    }

    /// The wrapped store (calls made on it directly are neither counted nor failed).
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Adds a rule. A call is failed by the first rule that is due; every matching rule counts
    /// it.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.rules).push(fault);
    }

    /// Removes every rule: calls pass through again.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Rules that can still fail a call.
    pub fn pending(&self) -> usize {
        lock(&self.shared.rules).len()
    }

    /// Calls so far, of every kind.
    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// Calls so far of one kind.
    pub fn calls_of(&self, operation: Operation) -> usize {
        self.shared.per_operation[operation.index()].load(Ordering::SeqCst)
    }

    /// Failures injected so far.
    pub fn failures(&self) -> usize {
        self.shared.failures.load(Ordering::SeqCst)
    }

    /// Every call so far, in order.
    pub fn log(&self) -> Vec<Call> {
        lock(&self.shared.log).clone()
    }

    /// Empties the log (the counts keep running).
    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }

    fn decide(&self, operation: Operation, location: &str) -> Option<Timing> {
        self.shared.decide(operation, location)
    }
}

/// Runs `call` unless the decision fails it before; replaces its answer if it fails after.
async fn around<T>(
    decision: Option<Timing>,
    operation: Operation,
    location: &str,
    call: impl Future<Output = object_store::Result<T>>,
) -> object_store::Result<T> {
    match decision {
        Some(Timing::Before) => Err(injected(operation, location)),
        Some(Timing::After) => {
            let _ = call.await;
            Err(injected(operation, location))
        }
        Some(Timing::KillBefore) => kill_this_process(),
        Some(Timing::KillAfter) => {
            let _ = call.await;
            kill_this_process()
        }
        None => call.await,
    }
}

/// Ends this process with SIGKILL: no destructor, no flush, no unwinding.
pub(crate) fn kill_this_process() -> ! {
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status();
    // Without a `kill` program: end as abruptly as the standard library allows.
    std::process::abort()
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let (op, at) = (Operation::Put, location.as_ref());
        let call = self.inner.put_opts(location, payload, opts);
        around(self.decide(op, at), op, at, call).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let (op, at) = (Operation::PutMultipart, location.as_ref());
        let call = self.inner.put_multipart_opts(location, opts);
        around(self.decide(op, at), op, at, call).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let (op, at) = (Operation::Get, location.as_ref());
        let call = self.inner.get_opts(location, options);
        around(self.decide(op, at), op, at, call).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let this = self.clone();
        locations
            .then(move |location| {
                let this = this.clone();
                async move {
                    let location = location?;
                    let (op, at) = (Operation::Delete, location.to_string());
                    let call = this.inner.delete(&location);
                    around(this.decide(op, &at), op, &at, call).await?;
                    Ok(location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let at = prefix.map(ToString::to_string).unwrap_or_default();
        let op = Operation::List;
        match self.decide(op, &at) {
            Some(Timing::Before) => {
                futures_util::stream::once(async move { Err(injected(op, &at)) }).boxed()
            }
            Some(Timing::KillBefore) => kill_this_process(),
            Some(Timing::KillAfter) => self
                .inner
                .list(prefix)
                .chain(futures_util::stream::once(
                    async move { kill_this_process() },
                ))
                .boxed(),
            Some(Timing::After) => self
                .inner
                .list(prefix)
                .chain(futures_util::stream::once(
                    async move { Err(injected(op, &at)) },
                ))
                .boxed(),
            None => self.inner.list(prefix),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let at = prefix.map(ToString::to_string).unwrap_or_default();
        let op = Operation::ListWithDelimiter;
        let call = self.inner.list_with_delimiter(prefix);
        around(self.decide(op, &at), op, &at, call).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let (op, at) = (Operation::Copy, format!("{from} -> {to}"));
        let call = self.inner.copy_opts(from, to, options);
        around(self.decide(op, &at), op, &at, call).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let (op, at) = (Operation::Rename, format!("{from} -> {to}"));
        let call = self.inner.rename_opts(from, to, options);
        around(self.decide(op, &at), op, &at, call).await
    }
}
