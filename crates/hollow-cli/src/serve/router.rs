//! Routes, request limits and handlers. Every page has a JSON twin under `/api/`; both
//! come from one model (`model.rs`). Only GET and HEAD are served; a URI longer than
//! [`MAX_URI_BYTES`] or any request body beyond [`MAX_BODY_BYTES`] is refused; assets come
//! from a fixed table (no path reaches the file system).

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::Markup;
use tokio_stream::StreamExt;
use tower_http::limit::RequestBodyLimitLayer;

use super::error::{ErrorBody, ErrorDetail, PageError};
use super::explorer::Explorer;
use super::params::Params;
use super::{assets, html, model};

/// Longest request URI served (414 beyond).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest request body accepted (no endpoint takes one).
pub const MAX_BODY_BYTES: usize = 1024;

type Shared = Arc<Explorer>;

/// How a request is answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Json,
}

/// The explorer's routes.
pub fn router(ex: Shared) -> Router {
    Router::new()
        .route("/", get(home_html))
        .route("/api", get(home_api))
        .route("/types/{type}", get(type_html))
        .route("/api/types/{type}", get(type_api))
        .route("/api/types/{type}/facets", get(facets_api))
        .route("/types/{type}/record", get(record_html))
        .route("/api/types/{type}/record", get(record_api))
        .route("/types/{type}/history", get(history_html))
        .route("/api/types/{type}/history", get(history_api))
        .route("/diff", get(diff_html))
        .route("/api/diff", get(diff_api))
        .route("/events", get(events))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/assets/{name}", get(asset))
        .fallback(not_found)
        .layer(middleware::from_fn(limits))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .with_state(ex)
}

/// Refuses what the explorer never serves before any handler runs.
async fn limits(request: Request, next: Next) -> Response {
    let format = if request.uri().path().starts_with("/api") {
        Format::Json
    } else {
        Format::Html
    };
    if request.uri().to_string().len() > MAX_URI_BYTES {
        return fail_with(
            format,
            StatusCode::URI_TOO_LONG,
            &PageError::BadRequest(format!("the URI is longer than {MAX_URI_BYTES} bytes")),
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return fail_with(
            format,
            StatusCode::METHOD_NOT_ALLOWED,
            &PageError::BadRequest("the explorer is read-only: GET only".to_string()),
        );
    }
    next.run(request).await
}

fn fail_with(format: Format, status: StatusCode, e: &PageError) -> Response {
    match format {
        Format::Json => {
            let body = ErrorBody {
                error: ErrorDetail {
                    status: status.as_u16(),
                    message: &e.to_string(),
                },
            };
            let text = serde_json::to_string(&body).unwrap_or_default();
            (status, [(CONTENT_TYPE, "application/json")], text).into_response()
        }
        Format::Html => (status, Html(html::error_page(e).into_string())).into_response(),
    }
}

fn fail(format: Format, e: &PageError) -> Response {
    fail_with(format, e.status(), e)
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => ([(CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => fail(
            Format::Json,
            &PageError::Unavailable(format!("the answer does not serialize: {e}")),
        ),
    }
}

fn page(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

fn answer(format: Format, result: Result<Response, PageError>) -> Response {
    result.unwrap_or_else(|e| fail(format, &e))
}

/// Runs CPU work (records, facets, diffs) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| PageError::Unavailable(format!("the request stopped: {e}")))?
}

async fn not_found(uri: Uri) -> Response {
    let format = if uri.path().starts_with("/api") {
        Format::Json
    } else {
        Format::Html
    };
    fail(
        format,
        &PageError::NotFound(format!("no page at {}", uri.path())),
    )
}

async fn home(ex: &Explorer, q: Option<&str>, format: Format) -> Result<Response, PageError> {
    let params = Params::parse(q);
    let state = ex.state_for(params.version()?).await?;
    let m = model::home(ex, &state).await?;
    Ok(match format {
        Format::Json => json(&m),
        Format::Html => page(html::home(&m)),
    })
}

async fn home_html(State(ex): State<Shared>, RawQuery(q): RawQuery) -> Response {
    answer(Format::Html, home(&ex, q.as_deref(), Format::Html).await)
}

async fn home_api(State(ex): State<Shared>, RawQuery(q): RawQuery) -> Response {
    answer(Format::Json, home(&ex, q.as_deref(), Format::Json).await)
}

async fn type_view(
    ex: &Explorer,
    type_name: String,
    q: Option<String>,
    format: Format,
) -> Result<Response, PageError> {
    let params = Params::parse(q.as_deref());
    let state = ex.state_for(params.version()?).await?;
    let dataset = state.dataset().to_string();
    let facets = match format {
        Format::Html => Some(
            ex.facets(&state, &type_name, None, model::FACET_LIMIT)
                .await?,
        ),
        Format::Json => None,
    };
    blocking(move || {
        let mut m = model::type_page(&state, &type_name, &params)?;
        if let Some(f) = facets {
            m.facets = f;
        }
        Ok(match format {
            Format::Json => json(&m),
            Format::Html => page(html::type_page(&m, &dataset, &params)),
        })
    })
    .await
}

async fn type_html(
    State(ex): State<Shared>,
    Path(t): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    answer(Format::Html, type_view(&ex, t, q, Format::Html).await)
}

async fn type_api(
    State(ex): State<Shared>,
    Path(t): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    answer(Format::Json, type_view(&ex, t, q, Format::Json).await)
}

async fn facets_api(
    State(ex): State<Shared>,
    Path(t): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(q.as_deref());
        let state = ex.state_for(params.version()?).await?;
        let limit = match params.number::<usize>("limit")? {
            None => model::FACET_LIMIT,
            Some(n) if (1..=super::params::MAX_LIMIT).contains(&n) => n,
            Some(n) => {
                return Err(PageError::BadRequest(format!(
                    "?limit={n}: between 1 and {}",
                    super::params::MAX_LIMIT
                )));
            }
        };
        let facets = ex.facets(&state, &t, params.get("index"), limit).await?;
        Ok(json(facets.as_ref()))
    }
    .await;
    answer(Format::Json, result)
}

async fn record_view(
    ex: &Explorer,
    type_name: String,
    q: Option<String>,
    format: Format,
) -> Result<Response, PageError> {
    let params = Params::parse(q.as_deref());
    let state = ex.state_for(params.version()?).await?;
    let dataset = state.dataset().to_string();
    blocking(move || {
        let key = params.all("key");
        if key.is_empty() {
            return Err(PageError::BadRequest(
                "name the record with ?key=VALUE (once per key field)".to_string(),
            ));
        }
        let m = model::record_page(&state, &type_name, &key, format == Format::Html)?;
        Ok(match format {
            // As `hollow get --json` prints it: the record itself.
            Format::Json => (
                [(CONTENT_TYPE, "application/json")],
                m.record.get().to_string(),
            )
                .into_response(),
            Format::Html => page(html::record_page(&m, &state, &dataset)),
        })
    })
    .await
}

async fn record_html(
    State(ex): State<Shared>,
    Path(t): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    answer(Format::Html, record_view(&ex, t, q, Format::Html).await)
}

async fn record_api(
    State(ex): State<Shared>,
    Path(t): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    answer(Format::Json, record_view(&ex, t, q, Format::Json).await)
}

async fn history_view(
    ex: &Explorer,
    type_name: String,
    q: Option<String>,
    format: Format,
) -> Result<Response, PageError> {
    let params = Params::parse(q.as_deref());
    let key: Vec<String> = params.all("key").iter().map(|k| (*k).to_string()).collect();
    if key.is_empty() {
        return Err(PageError::BadRequest(
            "name the record with ?key=VALUE (once per key field)".to_string(),
        ));
    }
    // The type must exist at the version shown (a 404 otherwise, before walking the chain).
    let state = ex.state_for(params.version()?).await?;
    let table = state.dyn_table(&type_name)?;
    let key_fields = table.primary_key().len();
    if key_fields == 0 || key.len() != key_fields {
        return Err(PageError::BadRequest(format!(
            "{type_name}'s key has {key_fields} field(s): give ?key= once per field"
        )));
    }
    let entries = ex.history(&type_name, &key).await?;
    if entries.is_empty() && format == Format::Json {
        return Err(PageError::NotFound(format!(
            "no {type_name} with key {} in any version",
            key.join(", ")
        )));
    }
    Ok(match format {
        Format::Json => json(entries.as_ref()),
        Format::Html => page(html::history_page(
            &type_name,
            &key,
            &entries,
            state.version(),
            state.dataset(),
        )),
    })
}

async fn history_html(
    State(ex): State<Shared>,
    Path(t): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    answer(Format::Html, history_view(&ex, t, q, Format::Html).await)
}

async fn history_api(
    State(ex): State<Shared>,
    Path(t): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    answer(Format::Json, history_view(&ex, t, q, Format::Json).await)
}

async fn diff_view(
    ex: &Explorer,
    q: Option<String>,
    format: Format,
) -> Result<Response, PageError> {
    let params = Params::parse(q.as_deref());
    let (Some(from), Some(to)) = (params.number::<u64>("from")?, params.number::<u64>("to")?)
    else {
        return Err(PageError::BadRequest(
            "name two versions: ?from=N&to=M".to_string(),
        ));
    };
    let only = params.get("type").map(str::to_string);
    let skip: usize = params.number("after")?.unwrap_or(0);
    let limit = params.limit()?;
    let data = ex.diff(from, to, only.as_deref()).await?;
    let dataset = data.b.dataset().to_string();
    blocking(move || {
        let total: usize = data
            .changes
            .iter()
            .map(|c| c.added.len() + c.removed.len() + c.changed.len())
            .sum();
        Ok(match format {
            Format::Json => {
                let report = crate::data::DiffReport {
                    from,
                    to,
                    via: data.via,
                    types: data
                        .changes
                        .iter()
                        .map(|c| crate::data::DiffCounts {
                            type_name: &c.name,
                            added: c.added.len(),
                            removed: c.removed.len(),
                            changed: c.changed.len(),
                        })
                        .collect(),
                    total,
                    shown: total.saturating_sub(skip).min(limit),
                    records: crate::data::DiffRecords {
                        a: &data.a,
                        b: &data.b,
                        changes: &data.changes,
                        skip,
                        limit,
                    },
                    next: (skip + limit < total).then_some(skip + limit),
                };
                json(&report)
            }
            Format::Html => page(html::diff_page(
                &data,
                &dataset,
                only.as_deref(),
                skip,
                limit,
            )),
        })
    })
    .await
}

async fn diff_html(State(ex): State<Shared>, RawQuery(q): RawQuery) -> Response {
    answer(Format::Html, diff_view(&ex, q, Format::Html).await)
}

async fn diff_api(State(ex): State<Shared>, RawQuery(q): RawQuery) -> Response {
    answer(Format::Json, diff_view(&ex, q, Format::Json).await)
}

/// Server-sent events: `event: version` with `{"version":N}` for the version served now, then
/// for each new one.
async fn events(
    State(ex): State<Shared>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let event = |v: u64| -> Result<Event, Infallible> {
        Ok(Event::default()
            .event("version")
            .data(format!("{{\"version\":{v}}}")))
    };
    let updates = tokio_stream::wrappers::BroadcastStream::new(ex.events.subscribe())
        .filter_map(|r| r.ok())
        .map(event);
    let now = tokio_stream::iter(ex.live().map(|s| event(s.version())));
    Sse::new(now.chain(updates)).keep_alive(KeepAlive::default())
}

async fn metrics(State(ex): State<Shared>) -> Response {
    let target = ex.target_version().await.ok().flatten();
    let state = ex.live();
    match ex
        .metrics
        .render(state.as_deref(), target, ex.cache_bytes())
    {
        Ok(text) => ([(CONTENT_TYPE, super::metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn readyz(State(ex): State<Shared>) -> Response {
    let (ready, message) = ex.readiness().await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, format!("{message}\n")).into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    match assets::get(&name) {
        Some((ty, body)) => (
            [(CONTENT_TYPE, ty), (CACHE_CONTROL, "public, max-age=3600")],
            body,
        )
            .into_response(),
        None => fail(
            Format::Html,
            &PageError::NotFound(format!("no asset {name}")),
        ),
    }
}
