//! The snapshot writer: its own thread draws, crops, encodes and saves each pick, so a
//! slow SD card never holds a frame up. Picks wait in a short queue; when it is full
//! (the card cannot keep up) a pick is dropped and counted rather than waited for.

use super::picker::Pick;
use super::store::{Part, Store};
use crate::events::{FaceEvent, SnapshotRef};
use crate::model::BBox;
use image::{codecs::jpeg::JpegEncoder, imageops, Rgb, RgbImage};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Picks waiting for the card at most.
const QUEUE: usize = 8;

/// JPEG quality of the snapshots.
const QUALITY: u8 = 85;

/// The face crop's margin on each side, as a share of the box's size.
const MARGIN: f32 = 0.25;

/// The box drawn on the saved frame.
const BOX_COLOUR: Rgb<u8> = Rgb([255, 210, 0]);

/// The writer thread and what comes back from it.
pub struct Writer {
    jobs: Option<mpsc::SyncSender<Pick>>,
    saved: mpsc::Receiver<FaceEvent>,
    dropped: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Start the thread, saving into `store`.
    pub fn start(store: Store) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let (done, saved) = mpsc::channel();
        let thread = std::thread::Builder::new().name("snapshots".into()).spawn(move || {
            let mut store = store;
            for pick in queue {
                match save(&mut store, &pick) {
                    Ok(event) => {
                        if done.send(event).is_err() {
                            return;
                        }
                    }
                    Err(e) => log::warn!("snapshot of face {} not saved: {e:#}", pick.face.id),
                }
            }
        })?;
        Ok(Self { jobs: Some(jobs), saved, dropped: Arc::default(), thread: Some(thread) })
    }

    /// Queue a pick; never waits.
    pub fn submit(&self, pick: Pick) {
        let Some(jobs) = &self.jobs else { return };
        if jobs.try_send(pick).is_err() {
            let n = self.dropped.fetch_add(1, Relaxed) + 1;
            log::warn!("snapshot dropped: the card is behind ({n} so far)");
        }
    }

    /// The `face_snapshot` events of the picks saved since the last call.
    pub fn saved(&self) -> Vec<FaceEvent> {
        self.saved.try_iter().collect()
    }

    /// Let the queue drain (for at most `grace`) and return the events still to send.
    pub fn finish(&mut self, grace: Duration) -> Vec<FaceEvent> {
        drop(self.jobs.take());
        let deadline = Instant::now() + grace;
        if let Some(thread) = self.thread.take() {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                log::warn!(
                    "snapshots: the card did not finish within {} s; the last ones may be missing",
                    grace.as_secs()
                );
            }
        }
        self.saved()
    }
}

/// Draw, crop, encode and save one pick; its `face_snapshot` event.
fn save(store: &mut Store, pick: &Pick) -> anyhow::Result<FaceEvent> {
    let id = store.next_id(pick.time, pick.face.id);
    let face = jpeg(&crop(&pick.frame, pick.face.bbox));
    let mut framed = (*pick.frame).clone();
    draw_box(&mut framed, pick.face.bbox);
    let frame: Arc<[u8]> = jpeg(&framed).into();
    let url = |part: Part| format!("/events/{}", part.file_name(id));
    let snapshot = SnapshotRef { id: id.to_string(), frame: url(Part::Frame), face: url(Part::Face), jpeg: None };
    let mut event = FaceEvent::FaceSnapshot { face: pick.face.clone(), snapshot, time: pick.time };
    store.save(id, &frame, &face, &serde_json::to_vec(&event)?)?;
    if let FaceEvent::FaceSnapshot { snapshot, .. } = &mut event {
        snapshot.jpeg = Some(frame);
    }
    Ok(event)
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 << 10);
    // Encoding an RGB image into memory cannot fail.
    let _ = JpegEncoder::new_with_quality(&mut out, QUALITY).encode_image(image);
    out
}

/// The box grown by [`MARGIN`] on each side, in whole pixels inside the frame (at least one).
fn with_margin(frame: &RgbImage, b: BBox) -> (u32, u32, u32, u32) {
    let (mx, my) = ((b.x1 - b.x0).max(0.0) * MARGIN, (b.y1 - b.y0).max(0.0) * MARGIN);
    let (w, h) = (frame.width() as f32, frame.height() as f32);
    let x0 = (b.x0 - mx).clamp(0.0, w - 1.0) as u32;
    let y0 = (b.y0 - my).clamp(0.0, h - 1.0) as u32;
    let x1 = ((b.x1 + mx).ceil().clamp(0.0, w) as u32).max(x0 + 1);
    let y1 = ((b.y1 + my).ceil().clamp(0.0, h) as u32).max(y0 + 1);
    (x0, y0, x1 - x0, y1 - y0)
}

/// The face with its margin.
pub fn crop(frame: &RgbImage, b: BBox) -> RgbImage {
    let (x, y, w, h) = with_margin(frame, b);
    imageops::crop_imm(frame, x, y, w, h).to_image()
}

/// A rectangle, 2 pixels wide (3 on frames over 640 wide), along the box inside the frame.
fn draw_box(frame: &mut RgbImage, b: BBox) {
    let (w, h) = (frame.width() as i64, frame.height() as i64);
    let t = if w > 640 { 3 } else { 2 };
    let (x0, y0, x1, y1) = (b.x0 as i64, b.y0 as i64, b.x1 as i64, b.y1 as i64);
    for y in y0.max(0)..(y1 + 1).min(h) {
        for x in x0.max(0)..(x1 + 1).min(w) {
            let edge = x - x0 < t || x1 - x < t || y - y0 < t || y1 - y < t;
            if edge {
                frame.put_pixel(x as u32, y as u32, BOX_COLOUR);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::Track;

    #[test]
    fn the_crop_has_its_margin_and_stays_inside_the_frame() {
        let frame = RgbImage::new(100, 80);
        assert_eq!(crop(&frame, BBox::new(40.0, 20.0, 60.0, 60.0)).dimensions(), (30, 60));
        // At the corner the margin is cut by the frame; a box outside still gives a pixel.
        assert_eq!(crop(&frame, BBox::new(0.0, 0.0, 20.0, 20.0)).dimensions(), (25, 25));
        assert_eq!(crop(&frame, BBox::new(500.0, 500.0, 600.0, 600.0)).dimensions(), (1, 1));
    }

    #[test]
    fn the_box_is_drawn_on_its_edges_only() {
        let mut frame = RgbImage::new(50, 50);
        draw_box(&mut frame, BBox::new(10.0, 10.0, 30.0, 30.0));
        assert_eq!(*frame.get_pixel(10, 20), BOX_COLOUR);
        assert_eq!(*frame.get_pixel(30, 20), BOX_COLOUR);
        assert_eq!(*frame.get_pixel(20, 20), Rgb([0, 0, 0]), "inside stays");
        draw_box(&mut frame, BBox::new(-10.0, -10.0, 80.0, 80.0)); // partly outside: no panic
    }

    #[test]
    fn a_saved_pick_is_two_jpegs_and_its_event() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::start(Store::open(dir.path(), Default::default()).unwrap()).unwrap();
        let frame = Arc::new(RgbImage::from_pixel(64, 48, Rgb([90, 90, 90])));
        let face = Track { id: 3, bbox: BBox::new(10.0, 10.0, 30.0, 40.0), score: 0.9, label: None, zones: vec![] };
        w.submit(Pick { face, frame, time: 5.0 });
        let events = w.finish(Duration::from_secs(20));
        let FaceEvent::FaceSnapshot { face: Track { id, .. }, snapshot, .. } = &events[0] else { panic!("{events:?}") };
        assert_eq!((*id, snapshot.id.as_str(), snapshot.face.as_str()), (3, "5000-3", "/events/5000-3-face.jpg"));
        let jpeg = snapshot.jpeg.as_ref().expect("the frame's bytes travel with the event");
        assert_eq!(image::load_from_memory(jpeg).unwrap().width(), 64);
        let face = image::open(dir.path().join("5000-3-face.jpg")).unwrap();
        assert_eq!((face.width(), face.height()), (30, 46), "20x30 and a quarter each side, cut at the bottom");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("5000-3.json")).unwrap()).unwrap();
        assert_eq!(json["snapshot"]["frame"], "/events/5000-3.jpg");
        assert_eq!(json["type"], "face_snapshot");
    }
}
