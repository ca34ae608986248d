//! The web view's HTTP server: one thread running a one-thread tokio runtime, hyper's
//! HTTP/1 for the protocol (malformed requests get hyper's 400), and a fixed table of
//! routes. Limits: header bytes and count, header read time, open sockets, concurrent
//! viewers, no request bodies.
//!
//! Only work is limited tightly: the viewers (streams being served) by
//! `--http-max-viewers`, and the other routes are answered at once on the server's one
//! thread, one at a time. A connection that sends no request costs a socket and a small
//! buffer only; those are capped at a much higher bound, and hyper closes a connection
//! that has not sent a complete request head within [`HEADER_TIMEOUT`] (also while it
//! idles between keep-alive requests), so idle clients cannot starve `/healthz` or the
//! viewers for long.

use super::archive;
use super::stream::{self, ChannelBody};
use super::Shared;
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// A running server: stop it to close every connection and the listening socket.
pub(crate) struct Handle {
    pub addr: SocketAddr,
    stop: Arc<Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    pub fn stop(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bind now (so a taken port is an error at start-up) and serve on a thread.
pub(crate) fn start(shared: Arc<Shared>) -> Result<Handle> {
    let addr = shared.options.addr;
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("sink `http:{addr}`: cannot listen"))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(Notify::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(2)
        .build()
        .context("cannot start the web view's runtime")?;
    let stopped = stop.clone();
    let thread = std::thread::Builder::new().name("http".into()).spawn(move || {
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
            loop {
                tokio::select! {
                    _ = stopped.notified() => break,
                    accepted = listener.accept() => {
                        if let Ok((socket, _)) = accepted {
                            serve_connection(socket, shared.clone());
                        }
                    }
                }
            }
        });
        // Cancels every connection still open.
        runtime.shutdown_timeout(Duration::from_secs(1));
    })?;
    Ok(Handle { addr, stop, thread: Some(thread) })
}

/// Open sockets allowed beyond the viewers': idle and keep-alive connections, page
/// loads, snapshots. High enough that a few dozen idle clients leave room for health
/// checks; low enough to bound descriptors and buffers (at most 16 KiB each).
const SPARE_SOCKETS: usize = 128;

/// How long a connection may take to send a complete request head, counted from when
/// it opens or its previous response was sent; then hyper closes it.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

fn serve_connection(socket: tokio::net::TcpStream, shared: Arc<Shared>) {
    let limit = shared.options.max_viewers + SPARE_SOCKETS;
    if shared.connections.fetch_add(1, Relaxed) >= limit {
        shared.connections.fetch_sub(1, Relaxed);
        return; // dropped: closed at once
    }
    let _ = socket.set_nodelay(true);
    limit_send_buffer(&socket);
    tokio::spawn(async move {
        // A stream that stalls asks for its connection to be cut through `kill`.
        let kill = Arc::new(Notify::new());
        let service = {
            let (shared, kill) = (shared.clone(), kill.clone());
            hyper::service::service_fn(move |req| {
                let (shared, kill) = (shared.clone(), kill.clone());
                async move { Ok::<_, Infallible>(route(req, &shared, kill)) }
            })
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            // A client that shuts its write side after the request still gets the
            // answer (without this, hyper may see the EOF first and close unanswered:
            // the fuzz target's /healthz after each input found it).
            .half_close(true)
            .max_buf_size(16 << 10)
            .max_headers(32);
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service);
        tokio::select! {
            _ = conn => {}
            _ = kill.notified() => {}
        }
        shared.connections.fetch_sub(1, Relaxed);
    });
}

/// Bytes the kernel may hold for one client. A live stream is better off small: a slow
/// viewer gets fresher frames, and one that stops reading is noticed (and cut) sooner.
const SEND_BUFFER: libc::c_int = 256 << 10;

fn limit_send_buffer(socket: &tokio::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let size = SEND_BUFFER;
    // SAFETY: a valid socket descriptor and a c_int option value of the right size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// `key=value` pairs of the query string (no percent-decoding: every value we read is
/// a number or a token, which may not contain `%`).
fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    // Constant time in the content, so the token cannot be guessed byte by byte.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorised(req: &Request<Incoming>, token: &str, q: &[(String, String)]) -> bool {
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim().as_bytes(), token.as_bytes()));
    bearer || q.iter().any(|(k, v)| k == "token" && same(v.as_bytes(), token.as_bytes()))
}

/// A numeric query value in `range`; `Err` names the parameter.
fn number(q: &[(String, String)], key: &str, range: std::ops::RangeInclusive<f64>) -> Result<Option<f64>, String> {
    match q.iter().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) => match v.parse::<f64>() {
            Ok(x) if range.contains(&x) => Ok(Some(x)),
            _ => Err(format!("`{key}={v}`: must be a number in {}..={}\n", range.start(), range.end())),
        },
    }
}

fn route(req: Request<Incoming>, shared: &Arc<Shared>, kill: Arc<Notify>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    if req.headers().contains_key(hyper::header::CONTENT_LENGTH) || req.headers().contains_key("transfer-encoding") {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "no request bodies here\n");
    }
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return text(StatusCode::OK, "ok\n");
    }
    let q = query(&req);
    if let Some(token) = &shared.options.token {
        if !authorised(&req, token, &q) {
            let mut r = text(StatusCode::UNAUTHORIZED, "a token is needed: ?token=… or Authorization: Bearer …\n");
            r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    let width = match number(&q, "width", 16.0..=4096.0) {
        Ok(w) => w.map(|w| w as u32),
        Err(e) => return bad_request(e),
    };
    // `?zones=1`: the config file's zones and masks drawn on the picture.
    let zones = q.iter().any(|(k, v)| k == "zones" && v == "1");
    let mut response = match path.as_str() {
        "/" => {
            let token = q.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str());
            let mut r =
                Response::new(Full::new(Bytes::from(stream::page(&shared.options.about, token, zones))).boxed());
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r
        }
        "/status.json" => status(shared),
        "/events.json" => match number(&q, "limit", 1.0..=500.0) {
            Ok(limit) => archive::list(shared.options.snapshots.as_deref(), limit.map_or(50, |l| l as usize)),
            Err(e) => return bad_request(e),
        },
        p if p.starts_with("/events/") => archive::picture(shared.options.snapshots.as_deref(), p),
        "/snapshot.jpg" => match shared.frames.borrow().clone() {
            None => text(StatusCode::SERVICE_UNAVAILABLE, "no frame yet\n"),
            Some(shown) => {
                let areas = zones.then_some(&*shared.options.zones);
                let mut r = Response::new(Full::new(stream::jpeg(&shown, width, areas)).boxed());
                r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
                r
            }
        },
        "/stream.mjpg" | "/events" => {
            let Some(viewer) = stream::Viewer::claim(shared) else {
                return text(StatusCode::SERVICE_UNAVAILABLE, "too many viewers\n");
            };
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let mut r = Response::new(ChannelBody(rx).boxed());
            if path == "/events" {
                tokio::spawn(stream::events(viewer, tx, kill));
                r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            } else {
                let fps = match number(&q, "fps", 0.1..=120.0) {
                    Ok(f) => f,
                    Err(e) => return bad_request(e),
                };
                tokio::spawn(stream::mjpeg(viewer, tx, kill, fps, (width, zones)));
                let kind = format!("multipart/x-mixed-replace; boundary={}", stream::BOUNDARY);
                r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_str(&kind).expect("ASCII"));
            }
            r
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "no such page: /, /stream.mjpg, /snapshot.jpg, /events, /events.json, /events/ID.jpg, /status.json, /healthz\n",
        ),
    };
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/status.json`: what the page's header shows that the frames' JSON does not carry.
fn status(shared: &Shared) -> Response<Body> {
    let (fps, frames) = {
        let mut rate = shared.rate.lock().unwrap_or_else(|p| p.into_inner());
        (rate.fps(std::time::Instant::now()), rate.total())
    };
    let json = serde_json::json!({ "fps": fps, "frames": frames, "viewers": shared.viewers.load(Relaxed) });
    let mut r = Response::new(Full::new(Bytes::from(json.to_string())).boxed());
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn bad_request(why: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(why)).boxed());
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}
