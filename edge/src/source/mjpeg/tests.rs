//! The MJPEG source and its splitter on real JPEG streams, cut, corrupted and stalled.

use super::*;
use image::RgbImage;

fn jpeg_of(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img).unwrap();
    bytes
}

fn astronaut() -> RgbImage {
    image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/astronaut.png")).unwrap().into_rgb8()
}

fn synthetic(w: u32, h: u32, k: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7 + k) as u8, (y * 5) as u8, ((x ^ y) + k * 31) as u8]))
}

/// A JPEG with an APP1 (EXIF-like) segment right after SOI holding a complete smaller
/// JPEG, so the stream has SOI/EOI markers inside a segment.
fn with_thumbnail(main: &[u8], thumb: &[u8]) -> Vec<u8> {
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(thumb);
    let len = u16::try_from(app1.len() + 2).unwrap();
    let mut out = main[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&main[2..]);
    out
}

/// Where the entropy-coded data of a baseline JPEG starts (just after the SOS segment).
fn scan_start(jpeg: &[u8]) -> usize {
    let mut pos = 2;
    loop {
        let len = u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]) as usize;
        let marker = jpeg[pos + 1];
        pos += 2 + len;
        if marker == 0xDA {
            return pos;
        }
    }
}

fn drain(src: &mut MjpegSource) -> (Vec<(u32, u32)>, Vec<u64>, Vec<String>) {
    let (mut sizes, mut seqs, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        match src.next_frame() {
            Ok(Some(f)) => {
                sizes.push(f.image.dimensions());
                seqs.push(f.seq);
            }
            Ok(None) => break,
            Err(SourceError::Corrupt(msg)) => errors.push(msg),
            Err(e) => panic!("unexpected {e:#}"),
        }
    }
    (sizes, seqs, errors)
}

/// Frames (with their expected sizes) plus garbage and one truncated frame.
fn test_stream() -> (Vec<u8>, Vec<(u32, u32)>) {
    let photo = jpeg_of(&astronaut(), 80);
    let small = jpeg_of(&synthetic(64, 48, 1), 90);
    let thumb = jpeg_of(&synthetic(16, 12, 2), 70);
    let odd = jpeg_of(&synthetic(33, 17, 3), 95);
    let tagged = with_thumbnail(&jpeg_of(&synthetic(80, 60, 4), 85), &thumb);
    let truncated = &small[..scan_start(&small) + 40];
    let mut s = b"HTTP/1.0 200 OK\r\n--boundary\r\n\xFF\xD8 not a frame \xFF\r\n".to_vec();
    s.extend_from_slice(&photo);
    s.extend_from_slice(&small);
    s.extend_from_slice(b"\r\n--boundary\r\n");
    s.extend_from_slice(&tagged);
    s.extend_from_slice(truncated);
    s.extend_from_slice(&odd);
    s.extend_from_slice(&[0u8; 100]);
    s.extend_from_slice(&thumb);
    s.extend_from_slice(b"trailing garbage");
    (s, vec![(512, 512), (64, 48), (80, 60), (33, 17), (16, 12)])
}

#[test]
fn splits_real_jpegs_with_garbage_thumbnails_and_a_cut_frame() {
    let (stream, expected) = test_stream();
    // Tiny reads exercise frames and markers split across chunks.
    struct Trickle(io::Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(997);
            self.0.read(&mut buf[..n])
        }
    }
    for reader in [
        Box::new(io::Cursor::new(stream.clone())) as Box<dyn Read + Send>,
        Box::new(Trickle(io::Cursor::new(stream.clone()))),
    ] {
        let mut src = MjpegSource::from_reader(reader, "test").unwrap();
        let (sizes, seqs, errors) = drain(&mut src);
        assert_eq!(sizes, expected);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("test: frame cut off"), "{errors:?}");
        // The cut frame keeps its place in the numbering.
        assert_eq!(seqs, [0, 1, 2, 4, 5]);
        let stats = src.stats();
        assert_eq!((stats.frames, stats.corrupt), (5, 1));
        let garbage = 47 + 14 + 100 + 16;
        assert_eq!(stats.skipped_bytes, garbage as u64, "{stats:?}");
        // Exhausted streams stay exhausted.
        assert!(matches!(src.next_frame(), Ok(None)));
    }
}

#[test]
fn frames_cut_anywhere_lose_only_themselves() {
    let a = jpeg_of(&synthetic(24, 16, 5), 90);
    let b = jpeg_of(&synthetic(40, 24, 6), 90);
    let c = jpeg_of(&synthetic(32, 8, 7), 90);
    let scan = scan_start(&b);
    for cut in (2..b.len() - 1).step_by(3) {
        let stream = [&a[..], &b[..cut], &c[..]].concat();
        let mut src = MjpegSource::from_reader(Box::new(io::Cursor::new(stream)), "cut").unwrap();
        let (sizes, _, errors) = drain(&mut src);
        assert_eq!(sizes, [(24, 16), (32, 8)], "cut at {cut}: {errors:?}");
        // Cut inside the entropy-coded data, the usual case, it is always reported; cut in
        // a header segment, the merged bytes may still decode as the next frame alone.
        if cut >= scan {
            assert_eq!(errors.len(), 1, "cut at {cut}: {errors:?}");
        }
        assert!(errors.len() <= 1, "cut at {cut}: {errors:?}");
    }
}

#[test]
fn end_of_stream_inside_a_frame_is_corrupt_then_none() {
    let a = jpeg_of(&synthetic(24, 16, 5), 90);
    let stream = [&a[..], &a[..a.len() / 2]].concat();
    let mut src = MjpegSource::from_reader(Box::new(io::Cursor::new(stream)), "eos").unwrap();
    assert!(matches!(src.next_frame(), Ok(Some(_))));
    match src.next_frame() {
        Err(SourceError::Corrupt(msg)) => assert!(msg.contains("stream ended inside a frame"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(src.next_frame(), Ok(None)));
}

#[test]
fn a_well_framed_but_undecodable_frame_is_corrupt() {
    let a = jpeg_of(&synthetic(24, 16, 5), 90);
    // SOF0 with a zero width: the structure is fine, the decoder refuses it.
    let mut bad = a.clone();
    let sof = bad.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bad[sof + 7..sof + 9].copy_from_slice(&[0, 0]);
    let stream = [&bad[..], &a[..]].concat();
    let mut src = MjpegSource::from_reader(Box::new(io::Cursor::new(stream)), "bad").unwrap();
    let (sizes, _, errors) = drain(&mut src);
    assert_eq!(sizes, [(24, 16)]);
    assert_eq!(errors.len(), 1);
}

/// Feed `stream` to a splitter in `chunk`-byte pieces, as the reader thread would, and
/// list what comes out; the buffer must stay bounded all along.
fn split(sp: &mut Splitter, stream: &[u8], chunk: usize) -> Vec<String> {
    let mut steps = Vec::new();
    for piece in stream.chunks(chunk) {
        sp.push(piece);
        loop {
            match sp.next() {
                Step::Frame(len) => {
                    steps.push(format!("frame {len}"));
                    sp.consume(len);
                }
                Step::NeedMore => break,
                Step::Corrupt(msg) => steps.push(msg),
            }
        }
        assert!(sp.buf.len() <= sp.max_frame + chunk, "buffer grew to {}", sp.buf.len());
    }
    steps
}

#[test]
fn oversized_frames_are_dropped_and_the_stream_resyncs() {
    let a = jpeg_of(&synthetic(24, 16, 5), 90);
    // A frame whose scan never ends, then a good frame.
    let mut stream = a[..scan_start(&a)].to_vec();
    stream.extend(std::iter::repeat_n(0x12u8, 3 * a.len()));
    stream.extend_from_slice(&a);
    let mut sp = Splitter::new(a.len() + 10);
    let steps = split(&mut sp, &stream, 100);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(steps[0].contains("larger than"), "{steps:?}");
    assert_eq!(steps[1], format!("frame {}", a.len()));
    assert!(sp.buf.is_empty());
    assert!(sp.skipped > 2 * a.len() as u64, "the rest of the oversized frame is skipped");
}

#[test]
fn random_bytes_never_panic_or_grow_the_buffer() {
    // Pseudo-random bytes laced with SOIs, markers and stuffing, so every parser state
    // meets garbage.
    let mut x = 0x2545F491u32;
    let mut stream = Vec::new();
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        match x % 64 {
            0 => stream.extend_from_slice(&[0xFF, 0xD8, 0xFF]),
            1 => stream.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08]),
            2 => stream.extend_from_slice(&[0xFF, 0xD9]),
            3 => stream.extend_from_slice(&[0xFF, 0x00]),
            4 => stream.extend_from_slice(&[0xFF, 0xE1, 0x10, 0x00]),
            _ => stream.push((x >> 8) as u8),
        }
    }
    let mut sp = Splitter::new(4096);
    let steps = split(&mut sp, &stream, 1000);
    assert!(!steps.is_empty());
    // Whatever it took for frames is garbage to the decoder, which must say so too.
    let mut src = MjpegSource::from_reader(Box::new(io::Cursor::new(stream)), "noise").unwrap();
    let (sizes, _, errors) = drain(&mut src);
    assert!(sizes.is_empty() && !errors.is_empty(), "{sizes:?}");
}

#[test]
fn a_child_process_pipe_yields_the_same_frames() {
    let (stream, expected) = test_stream();
    let path = std::env::temp_dir().join(format!("facecam-mjpeg-{}.mjpeg", std::process::id()));
    std::fs::write(&path, &stream).unwrap();
    let mut from_file = MjpegSource::open_path(&path).unwrap();
    assert!(from_file.describe().contains(&*path.to_string_lossy()));
    let file_frames = drain(&mut from_file);
    let mut piped = MjpegSource::spawn(&format!("cat '{}'", path.display())).unwrap();
    assert!(piped.describe().contains("cat "), "{}", piped.describe());
    let pipe_frames = drain(&mut piped);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(file_frames.0, expected);
    assert_eq!(pipe_frames.0, file_frames.0);
    assert_eq!(pipe_frames.1, file_frames.1);
    assert_eq!(piped.stats(), from_file.stats());
}

#[test]
fn missing_files_and_failing_commands_say_what_failed() {
    let e = MjpegSource::open_path(Path::new("/nonexistent/cam.mjpeg")).err().unwrap();
    assert!(format!("{e:#}").contains("/nonexistent/cam.mjpeg"), "{e:#}");
    let mut src = MjpegSource::spawn("exit 3").unwrap();
    match src.next_frame() {
        Err(SourceError::Fatal(e)) => {
            let msg = format!("{e:#}");
            assert!(msg.contains("`exit 3`") && msg.contains('3') && msg.contains("before"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(src.next_frame(), Ok(None)));
}

#[test]
fn a_stalled_producer_times_out_and_is_stopped_on_drop() {
    let mut src = MjpegSource::spawn("sleep 30 | cat").unwrap().with_timeout(Duration::from_millis(100));
    let pid = src.child.as_ref().unwrap().child.id();
    let started = Instant::now();
    assert!(matches!(src.next_frame(), Err(SourceError::Timeout(_))));
    drop(src);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The whole process group (sh, sleep, cat) is gone. Orphans are reaped by init at its
    // own pace, so zombies count as gone and the check allows a moment.
    let alive_in_group = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
                let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
                fields.len() > 2 && fields[2] == pid.to_string() && fields[0] != "Z"
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive_in_group() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(alive_in_group(), 0, "processes of group {pid} survived");
}
