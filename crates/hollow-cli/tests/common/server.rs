//! A `hollow serve` process for the explorer tests: started on a free loopback port (the test
//! reads the address from its "listening on" line, so nothing waits on a timer), killed on
//! drop; plus HTTP helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

/// A running `hollow serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Server {
    /// `hollow serve --store STORE --bind 127.0.0.1:0 --poll-interval 100ms EXTRA…`.
    pub fn start(store: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hollow"))
            .args(["serve", "--bind", "127.0.0.1:0", "--poll-interval", "100ms"])
            .arg("--store")
            .arg(store)
            .args(extra)
            .env_remove("HOLLOW_STORE")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hollow serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
                eprintln!("[serve] {line}");
            }
        });
        // Err when the process exited before listening (its stderr says why).
        let url = rx.recv().expect("hollow serve exited before listening");
        Server { child, url }
    }

    /// `self.url + path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The port, for raw requests.
    pub fn address(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET: status, content type, body.
pub async fn get(url: &str) -> (u16, String, String) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    let ty = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ty, r.text().await.expect("body"))
}

/// A GET that must answer 200 with JSON.
pub async fn get_json(url: &str) -> serde_json::Value {
    let (status, ty, body) = get(url).await;
    assert_eq!(status, 200, "{url}: {body}");
    assert!(ty.starts_with("application/json"), "{url}: {ty}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

/// A request written byte for byte (no client normalises its path): the status code.
pub fn raw_status(address: &str, request_line: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(address).expect("connect");
    write!(
        s,
        "{request_line}\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

/// The server-sent events of `/events`: the versions announced, one by one.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    pub async fn open(server: &Server) -> Events {
        let response = reqwest::get(server.at("/events")).await.expect("/events");
        assert_eq!(response.status().as_u16(), 200);
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next `version` event's version.
    pub async fn next_version(&mut self) -> u64 {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = "";
                let mut data = "";
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data = d.trim();
                    }
                }
                if event == "version" {
                    let v: serde_json::Value = serde_json::from_str(data).expect("event data");
                    return v["version"].as_u64().expect("version");
                }
                continue;
            }
            let chunk = self
                .response
                .chunk()
                .await
                .expect("read /events")
                .expect("the event stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// `hollow demo --movies N --cycles C --upserts 5 --dir DIR`: a movies store of C + 1
/// versions (or C + 1 more when DIR holds one already).
pub fn demo(dir: &Path, movies: u32, cycles: u32) {
    let o = Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args([
            "demo",
            "--movies",
            &movies.to_string(),
            "--cycles",
            &cycles.to_string(),
            "--upserts",
            "5",
            "--dir",
        ])
        .arg(dir)
        .output()
        .expect("hollow demo");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
