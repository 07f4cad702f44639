//! A fault-injecting TCP proxy for HTTP/1.1 in front of the S3 server: the network between
//! hollow and its store, made to fail on purpose. It understands just enough HTTP to see each
//! request line and body length (object_store sends `Content-Length` bodies and never
//! pipelines), so a fault can be tied to a request: stop the server in the middle of a blob's
//! upload or download, answer a burst of requests with `503 SlowDown`, or throttle responses.
//! Faults take effect the moment a rule fires, inside the proxy, so tests need no sleeps.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What a rule does when a request matches it.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The server stops after `n` bytes of this request's body reached it.
    DownAfterRequestBytes(u64),
    /// The server stops after `n` bytes of this request's response reached the client.
    DownAfterResponseBytes(u64),
}

#[derive(Debug)]
struct Rule {
    method: &'static str,
    path_contains: String,
    fault: Fault,
}

#[derive(Debug, Default)]
struct State {
    down: bool,
    fail_next: usize,
    served_5xx: usize,
    throttle_bytes_per_sec: Option<u64>,
    rules: Vec<Rule>,
    requests: Vec<String>,
}

struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
    /// Bumped to drop every open connection.
    generation: watch::Sender<u64>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn go_down(&self) {
        self.state().down = true;
        self.generation.send_modify(|g| *g += 1);
    }
}

/// The proxy; it runs until dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.generation.send_modify(|g| *g += 1);
    }
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State::default()),
            generation: watch::Sender::new(0),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = accepting.clone();
                tokio::spawn(async move {
                    let _ = connection(client, shared).await;
                });
            }
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT`, for `aws_endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Arms a one-shot fault for the next request whose method is `method` and whose path
    /// contains `path_contains`.
    pub fn on(&self, method: &'static str, path_contains: &str, fault: Fault) {
        self.shared.state().rules.push(Rule {
            method,
            path_contains: path_contains.to_string(),
            fault,
        });
    }

    /// Stops the "server": open connections drop, new ones are closed at once.
    pub fn down(&self) {
        self.shared.go_down();
    }

    /// The "server" is back.
    pub fn up(&self) {
        let mut state = self.shared.state();
        state.down = false;
        state.rules.clear();
    }

    /// Whether a fault stopped the "server".
    pub fn is_down(&self) -> bool {
        self.shared.state().down
    }

    /// Answers the next `n` requests with `503 SlowDown` (open connections are dropped, so
    /// every request from now on comes on a fresh one).
    pub fn fail_next(&self, n: usize) {
        self.shared.state().fail_next = n;
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// How many 503s were served.
    pub fn served_5xx(&self) -> usize {
        self.shared.state().served_5xx
    }

    /// Throttles responses to about `bytes_per_sec` (None: full speed).
    pub fn throttle(&self, bytes_per_sec: Option<u64>) {
        self.shared.state().throttle_bytes_per_sec = bytes_per_sec;
    }

    /// Every request forwarded, as `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.state().requests.clone()
    }
}

const MAX_HEADER: usize = 64 << 10;
const SLOW_DOWN: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n\
Content-Length: 95\r\nConnection: close\r\n\r\n\
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>\n\n\n\n\n\n\n";

/// One parsed request head.
struct Head {
    method: String,
    path: String,
    body: u64,
    /// The body framing is not understood (chunked): pass the rest of the connection through.
    opaque: bool,
}

fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let mut body = 0;
    let mut opaque = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            body = value.parse().ok()?;
        } else if name == "transfer-encoding" {
            opaque = true;
        }
    }
    Some(Head {
        method,
        path,
        body,
        opaque,
    })
}

fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads until a whole request head is in `buf`; `None` at EOF or past the size limit.
async fn read_head(client: &mut (impl AsyncReadExt + Unpin), buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = header_end(buf) {
            return Some(end);
        }
        if buf.len() > MAX_HEADER {
            return None;
        }
        let mut chunk = [0u8; 16 << 10];
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn throttled_write(
    out: &mut (impl AsyncWriteExt + Unpin),
    bytes: &[u8],
    shared: &Shared,
) -> std::io::Result<()> {
    let rate = shared.state().throttle_bytes_per_sec;
    match rate {
        None => out.write_all(bytes).await,
        Some(rate) => {
            for piece in bytes.chunks(4096) {
                out.write_all(piece).await?;
                out.flush().await?;
                let nanos = (piece.len() as u64).saturating_mul(1_000_000_000) / rate.max(1);
                tokio::time::sleep(Duration::from_nanos(nanos)).await;
            }
            Ok(())
        }
    }
}

async fn connection(mut client: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut killed = shared.generation.subscribe();
    if shared.state().down {
        return Ok(());
    }
    let mut buf = Vec::new();
    let Some(_) = read_head(&mut client, &mut buf).await else {
        return Ok(());
    };
    let slow_down = {
        let mut state = shared.state();
        if state.down {
            return Ok(());
        }
        let fail = state.fail_next > 0;
        if fail {
            state.fail_next -= 1;
            state.served_5xx += 1;
        }
        fail
    };
    if slow_down {
        client.write_all(SLOW_DOWN).await?;
        return client.shutdown().await;
    }
    let upstream = TcpStream::connect(shared.upstream).await?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    // Response bytes left before the server "stops" (set by a request's rule).
    let response_budget: Arc<Mutex<Option<u64>>> = Arc::new(Mutex::new(None));

    let requests = {
        let shared = shared.clone();
        let response_budget = response_budget.clone();
        async move {
            loop {
                let Some(end) = read_head(&mut client_read, &mut buf).await else {
                    return Ok::<(), std::io::Error>(());
                };
                let Some(head) = parse_head(&buf[..end]) else {
                    return Ok(());
                };
                let mut body_budget = None;
                {
                    let mut state = shared.state();
                    if state.down {
                        return Ok(());
                    }
                    state
                        .requests
                        .push(format!("{} {}", head.method, head.path));
                    if let Some(i) = state.rules.iter().position(|r| {
                        r.method == head.method && head.path.contains(&r.path_contains)
                    }) {
                        match state.rules.remove(i).fault {
                            Fault::DownAfterRequestBytes(n) => body_budget = Some(n),
                            Fault::DownAfterResponseBytes(n) => {
                                *response_budget
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner) = Some(n);
                            }
                        }
                    }
                }
                upstream_write.write_all(&buf[..end]).await?;
                buf.drain(..end);
                if head.opaque {
                    upstream_write.write_all(&buf).await?;
                    tokio::io::copy(&mut client_read, &mut upstream_write).await?;
                    return Ok(());
                }
                let mut left = head.body;
                while left > 0 {
                    if buf.is_empty() {
                        let mut chunk = vec![0u8; 64 << 10];
                        let n = client_read.read(&mut chunk).await?;
                        if n == 0 {
                            return Ok(());
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let mut take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    if let Some(budget) = body_budget {
                        take = take.min(usize::try_from(budget).unwrap_or(usize::MAX));
                        if take == 0 {
                            shared.go_down();
                            return Ok(());
                        }
                        body_budget = Some(budget - take as u64);
                    }
                    upstream_write.write_all(&buf[..take]).await?;
                    buf.drain(..take);
                    left -= take as u64;
                }
                if body_budget.is_some() {
                    // The whole body fit in the budget: the server stops before it answers.
                    shared.go_down();
                    return Ok(());
                }
            }
        }
    };
    let responses = {
        let shared = shared.clone();
        async move {
            let mut chunk = vec![0u8; 64 << 10];
            loop {
                let n = upstream_read.read(&mut chunk).await?;
                if n == 0 {
                    return Ok::<(), std::io::Error>(());
                }
                let mut slice = &chunk[..n];
                let budget = *response_budget
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(budget) = budget {
                    let take = usize::try_from(budget)
                        .unwrap_or(usize::MAX)
                        .min(slice.len());
                    slice = &slice[..take];
                    throttled_write(&mut client_write, slice, &shared).await?;
                    let left = budget - take as u64;
                    *response_budget
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(left);
                    if left == 0 {
                        shared.go_down();
                        return Ok(());
                    }
                    continue;
                }
                throttled_write(&mut client_write, slice, &shared).await?;
            }
        }
    };
    tokio::select! {
        _ = requests => {}
        _ = responses => {}
        _ = killed.changed() => {}
    }
    Ok(())
}
