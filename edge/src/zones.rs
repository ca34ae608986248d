//! Zones and masks: polygons over the picture, in fractions of its width and height (so
//! they survive a change of resolution), given in the config file (`[[zone]]`,
//! `[[mask]]`).
//!
//! A face whose box centre lies in a mask is dropped before tracking, so it never raises
//! an event (a poster on the wall, a TV). A named zone (`door`) is carried on each face
//! whose centre lies in it, and counted per zone.

use crate::model::{BBox, Detection};

/// Most corners a polygon may have (a hand-drawn area needs a few dozen at most).
pub const MAX_POINTS: usize = 1024;
/// Most zones plus masks in one file.
pub const MAX_AREAS: usize = 256;

/// A closed polygon, corners in fractions of the frame (0..=1 each way).
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    points: Vec<(f32, f32)>,
}

impl Polygon {
    /// A polygon from at least 3 corners, each coordinate a finite fraction in 0..=1.
    /// The error says which corner is wrong (`corner 2: x 1.5 is outside 0..=1`).
    pub fn new(points: Vec<(f64, f64)>) -> Result<Self, String> {
        if points.len() < 3 {
            return Err(format!("{} corner(s); a polygon needs at least 3", points.len()));
        }
        if points.len() > MAX_POINTS {
            return Err(format!("{} corners, more than the {MAX_POINTS} a polygon may have", points.len()));
        }
        for (i, (x, y)) in points.iter().enumerate() {
            for (axis, v) in [("x", x), ("y", y)] {
                if !(0.0..=1.0).contains(v) {
                    return Err(format!("corner {}: {axis} {v} is outside 0..=1 (a fraction of the frame)", i + 1));
                }
            }
        }
        Ok(Self { points: points.into_iter().map(|(x, y)| (x as f32, y as f32)).collect() })
    }

    /// The corners, fractions of the frame.
    pub fn points(&self) -> &[(f32, f32)] {
        &self.points
    }

    /// Whether the point (fractions of the frame) lies inside (even-odd rule: a ray to
    /// the right crosses the outline an odd number of times).
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let mut inside = false;
        let n = self.points.len();
        for i in 0..n {
            let (xi, yi) = self.points[i];
            let (xj, yj) = self.points[(i + n - 1) % n];
            if (yi > y) != (yj > y) && x < xi + (y - yi) * (xj - xi) / (yj - yi) {
                inside = !inside;
            }
        }
        inside
    }

    /// The corners in pixels of a `width` x `height` frame.
    pub fn in_pixels(&self, width: u32, height: u32) -> Vec<(f32, f32)> {
        self.points.iter().map(|&(x, y)| (x * width as f32, y * height as f32)).collect()
    }
}

/// A named area whose faces carry its name.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Its name: letters, digits, `-` and `_` (it becomes an MQTT topic level).
    pub name: String,
    /// Its outline.
    pub polygon: Polygon,
}

/// An area where faces are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    /// An optional name, for people reading the file and the web view.
    pub name: Option<String>,
    /// Its outline.
    pub polygon: Polygon,
}

/// The zones and masks of a run (none by default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Zones {
    /// Named zones, in the file's order.
    pub zones: Vec<Zone>,
    /// Masks, in the file's order.
    pub masks: Vec<Mask>,
}

/// A zone or mask name that is plain: 1 to 64 letters, digits, `-` or `_`.
pub fn plain_name(name: &str) -> Result<(), String> {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match !name.is_empty() && name.len() <= 64 && plain {
        true => Ok(()),
        false => Err(format!("`{name}` is not a plain name (1 to 64 letters, digits, `-`, `_`)")),
    }
}

/// A box's centre as fractions of a `size` frame.
fn centre(bbox: &BBox, size: (u32, u32)) -> (f32, f32) {
    let (cx, cy) = bbox.center();
    (cx / size.0.max(1) as f32, cy / size.1.max(1) as f32)
}

impl Zones {
    /// Whether there are neither zones nor masks.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty() && self.masks.is_empty()
    }

    /// Add a zone; its name must be plain and not taken.
    pub fn add_zone(&mut self, name: String, polygon: Polygon) -> Result<(), String> {
        plain_name(&name)?;
        if self.zones.iter().any(|z| z.name == name) {
            return Err(format!("a zone named `{name}` is already given; zone names must be unique"));
        }
        self.zones.push(Zone { name, polygon });
        Ok(())
    }

    /// The detections whose box centre lies in no mask (`size`: the frame's).
    pub fn filter(&self, detections: Vec<Detection>, size: (u32, u32)) -> Vec<Detection> {
        if self.masks.is_empty() {
            return detections;
        }
        let masked = |d: &Detection| {
            let (x, y) = centre(&d.bbox, size);
            self.masks.iter().any(|m| m.polygon.contains(x, y))
        };
        detections.into_iter().filter(|d| !masked(d)).collect()
    }

    /// The names of the zones the box's centre lies in, in the file's order.
    pub fn names_at(&self, bbox: &BBox, size: (u32, u32)) -> Vec<String> {
        let (x, y) = centre(bbox, size);
        self.zones.iter().filter(|z| z.polygon.contains(x, y)).map(|z| z.name.clone()).collect()
    }

    /// Per zone, in the file's order, how many of the faces' zone lists name it.
    pub fn counts<'a>(&'a self, faces: &[Vec<String>]) -> Vec<(&'a str, usize)> {
        let count = |name: &str| faces.iter().filter(|f| f.iter().any(|n| n == name)).count();
        self.zones.iter().map(|z| (z.name.as_str(), count(&z.name))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon {
        Polygon::new(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]).unwrap()
    }

    fn det(x0: f32, y0: f32, x1: f32, y1: f32) -> Detection {
        Detection { bbox: BBox::new(x0, y0, x1, y1), score: 0.9 }
    }

    #[test]
    fn a_point_is_inside_a_square_and_a_concave_polygon_only_where_it_should_be() {
        let s = square(0.25, 0.25, 0.75, 0.75);
        assert!(s.contains(0.5, 0.5));
        assert!(!s.contains(0.1, 0.5) && !s.contains(0.5, 0.9) && !s.contains(0.8, 0.8));
        // An L shape: the notch at the top right is outside.
        let l = Polygon::new(vec![(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]).unwrap();
        assert!(l.contains(0.25, 0.25) && l.contains(0.75, 0.75));
        assert!(!l.contains(0.75, 0.25));
    }

    #[test]
    fn bad_polygons_say_what_is_wrong() {
        assert!(Polygon::new(vec![(0.0, 0.0), (1.0, 1.0)]).unwrap_err().contains("at least 3"));
        let e = Polygon::new(vec![(0.0, 0.0), (1.5, 0.0), (1.0, 1.0)]).unwrap_err();
        assert!(e.contains("corner 2") && e.contains("x 1.5"), "{e}");
        assert!(Polygon::new(vec![(0.0, 0.0), (f64::NAN, 0.0), (1.0, 1.0)]).is_err());
    }

    #[test]
    fn masks_drop_faces_by_their_centre_and_zones_name_them() {
        let mut zones = Zones::default();
        zones.masks.push(Mask { name: None, polygon: square(0.0, 0.0, 0.5, 1.0) });
        zones.add_zone("door".into(), square(0.5, 0.0, 1.0, 0.5)).unwrap();
        let kept = zones.filter(vec![det(10.0, 10.0, 30.0, 30.0), det(60.0, 10.0, 90.0, 40.0)], (100, 100));
        assert_eq!(kept.len(), 1);
        assert_eq!(zones.names_at(&kept[0].bbox, (100, 100)), vec!["door".to_string()]);
        assert!(zones.names_at(&BBox::new(60.0, 60.0, 90.0, 90.0), (100, 100)).is_empty());
        let faces = vec![vec!["door".to_string()], vec![]];
        assert_eq!(zones.counts(&faces), vec![("door", 1)]);
    }

    #[test]
    fn zone_names_are_plain_and_unique() {
        let mut zones = Zones::default();
        assert!(zones.add_zone("a/b".into(), square(0.0, 0.0, 1.0, 1.0)).is_err());
        zones.add_zone("door".into(), square(0.0, 0.0, 1.0, 1.0)).unwrap();
        assert!(zones.add_zone("door".into(), square(0.0, 0.0, 1.0, 1.0)).unwrap_err().contains("unique"));
    }
}
