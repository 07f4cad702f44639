//! End to end in headless Chromium: the explorer's pages driven through WebDriver (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs), from home to a type, a facet,
//! a key search, a record, a related record, its history, a diff, and the banner a new version
//! brings while the page is open. Screenshots of each step go to
//! `target/explorer-screenshots/`.
//!
//! `HOLLOW_SKIP_BROWSER=1` skips it. Without chromium/chromedriver it is skipped with a note,
//! except under CI (`CI` set), where that is a failure.

#[path = "common/server.rs"]
mod server;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use server::{Server, demo};

/// The first of `names` on the PATH.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start chromedriver");
        // It says when it listens: read up to that line.
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("chromedriver exited before it was ready")
                .expect("read chromedriver's output");
            if line.contains("started successfully") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("explorer-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).expect("save screenshot");
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread")]
async fn explore_the_movies_in_chromium() {
    if std::env::var_os("HOLLOW_SKIP_BROWSER").is_some_and(|v| v == "1") {
        eprintln!("skipping: HOLLOW_SKIP_BROWSER=1");
        return;
    }
    let chromium = on_path(&["chromium", "chromium-browser", "google-chrome"]);
    let chromedriver = on_path(&["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium and chromium-driver (apt-get install chromium \
             chromium-driver), or set HOLLOW_SKIP_BROWSER=1"
        );
        eprintln!("skipping: chromium or chromedriver is not installed");
        return;
    };

    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("movies");
    demo(&store, 1000, 2);
    let server = Server::start(&store, &[]);
    let driver = Driver::start(&chromedriver);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_string(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1200"],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session");

    // Home: the dataset, its versions, its types.
    client.goto(&server.at("/")).await.expect("home");
    assert_eq!(text_of(&client, "h1").await, "Dataset movies");
    assert!(text_of(&client, "ol.timeline").await.contains("Version 3"));
    shot(&client, "01-home").await;

    // A type: schema, facets, records.
    client
        .find(Locator::LinkText("Movie"))
        .await
        .expect("the Movie link")
        .click()
        .await
        .expect("click");
    assert!(text_of(&client, "h1").await.starts_with("Movie"));
    assert!(text_of(&client, "body").await.contains("Facets"));
    shot(&client, "02-type").await;

    // A facet: the records with that genre, found through the index.
    let facet = client
        .find(Locator::Css(".facet li a"))
        .await
        .expect("a facet value");
    let genre = facet.text().await.expect("genre");
    facet.click().await.expect("click the facet");
    let body = text_of(&client, "body").await;
    assert!(body.contains(&format!("genres={genre}")), "{body}");
    assert!(body.contains("via hash index genres"), "{body}");
    shot(&client, "03-facet").await;

    // Search by key: the first record listed.
    let id = text_of(&client, "table tbody tr td a").await;
    client
        .goto(&server.at("/types/Movie"))
        .await
        .expect("type page");
    let input = client
        .find(Locator::Css("input[name=key]"))
        .await
        .expect("the key input");
    input.send_keys(&id).await.expect("type the key");
    input.send_keys("\u{E007}").await.expect("enter");
    client
        .wait()
        .for_element(Locator::Css("dl.record"))
        .await
        .expect("the record page");
    assert_eq!(text_of(&client, "h1").await, format!("Movie {id}"));
    assert!(text_of(&client, "dl.record").await.contains("castIds"));
    shot(&client, "04-record").await;

    // A related record: a cast member's Actor record, which links back to its movies.
    let actor = client
        .find(Locator::Css("dl.record a[href*='/types/Actor/record']"))
        .await
        .expect("a link to an actor");
    let actor_id = actor.text().await.expect("actor id");
    actor.click().await.expect("click the actor");
    assert_eq!(text_of(&client, "h1").await, format!("Actor {actor_id}"));
    let body = text_of(&client, "body").await;
    assert!(body.contains("Referenced by"), "{body}");
    assert!(
        body.contains(&format!("Movie with castIds = {actor_id}")),
        "{body}"
    );
    shot(&client, "05-related").await;

    // Its history.
    client
        .find(Locator::LinkText("History of this record"))
        .await
        .expect("history link")
        .click()
        .await
        .expect("click");
    assert_eq!(
        text_of(&client, "h1").await,
        format!("History of Actor {actor_id}")
    );
    assert!(text_of(&client, "ol.timeline").await.contains("added"));
    shot(&client, "06-history").await;

    // A diff between two versions, with field-level changes.
    client
        .goto(&server.at("/diff?from=1&to=3"))
        .await
        .expect("diff");
    assert_eq!(text_of(&client, "h1").await, "Version 1 → 3");
    assert!(
        !client
            .find_all(Locator::Css("table.diff del"))
            .await
            .expect("changed fields")
            .is_empty()
    );
    shot(&client, "07-diff").await;

    // A new version while the home page is open: the page says so, without a reload.
    client.goto(&server.at("/")).await.expect("home");
    let store_dir = store.clone();
    tokio::task::spawn_blocking(move || demo(&store_dir, 1000, 1))
        .await
        .expect("publish");
    let banner = client
        .wait()
        .for_element(Locator::Css("#new-version.show"))
        .await
        .expect("the new-version banner");
    let text = banner.text().await.expect("banner text");
    assert!(
        text.starts_with("Version ") && text.contains("has arrived"),
        "{text}"
    );
    shot(&client, "08-new-version").await;
    banner
        .find(Locator::Css("a"))
        .await
        .expect("its link")
        .click()
        .await
        .expect("click");
    let shown = text_of(&client, "header .where").await;
    assert!(!shown.ends_with("version 3"), "{shown}");
    shot(&client, "09-newer-version").await;
    client.close().await.expect("close the session");
}
