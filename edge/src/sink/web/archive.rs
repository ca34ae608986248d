//! The saved snapshots on the web view, read from the folder `--snapshots` names
//! ([`crate::snapshots::store`]): `/events.json` lists the newest `face_snapshot` events,
//! `/events/ID.jpg` and `/events/ID-face.jpg` serve their pictures. Ids are parsed
//! strictly (digits and one `-`), so a request can only ever name one of our files.

use crate::snapshots::store::{self, Part};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use std::convert::Infallible;
use std::path::Path;

/// The largest event JSON read (they are a few hundred bytes).
const MAX_JSON: u64 = 64 << 10;

/// The largest picture served (a 4K frame at quality 85 is a few MiB).
const MAX_PICTURE: u64 = 32 << 20;

type Body = BoxBody<Bytes, Infallible>;

fn answer(status: StatusCode, kind: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}

/// `/events.json`: the newest `limit` saved events, newest first; `[]` without a folder.
pub(crate) fn list(dir: Option<&Path>, limit: usize) -> Response<Body> {
    let ids = match dir.map(|d| store::newest(d, limit)).transpose() {
        Ok(ids) => ids.unwrap_or_default(),
        Err(e) => {
            log::warn!("web view: {e:#}");
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                "cannot list the snapshots\n",
            );
        }
    };
    let dir = dir.unwrap_or(Path::new("."));
    // An event removed by the retention since the listing is left out, not an error.
    let events: Vec<serde_json::Value> = ids
        .into_iter()
        .filter_map(|id| crate::input::read_text(&dir.join(Part::Json.file_name(id)), "an event", MAX_JSON).ok())
        .filter_map(|text| serde_json::from_str(&text).ok())
        .collect();
    answer(StatusCode::OK, "application/json", serde_json::Value::Array(events).to_string())
}

/// `/events/ID.jpg` and `/events/ID-face.jpg`: 400 for a malformed name, 404 for an
/// event that is not (or no longer) there.
pub(crate) fn picture(dir: Option<&Path>, path: &str) -> Response<Body> {
    let name = path.strip_prefix("/events/").unwrap_or(path);
    let Some((id, part)) = Part::parse_name(name).filter(|(_, p)| *p != Part::Json) else {
        return answer(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            "not an event picture: /events/ID.jpg or /events/ID-face.jpg, ID as in /events.json\n",
        );
    };
    let missing =
        || answer(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "no such event (removed, or never saved)\n");
    let Some(dir) = dir else { return missing() };
    match crate::input::read_file(&dir.join(part.file_name(id)), "a snapshot", MAX_PICTURE) {
        Ok(bytes) => answer(StatusCode::OK, "image/jpeg", bytes),
        Err(_) => missing(),
    }
}
