//! A deterministic train/val/test split for sources that have none.
//!
//! Each photo goes to a part by a hash of its file's bytes (FNV-1a, 64 bit), so the split
//! does not depend on file names, their order, or which other photos are present: a photo
//! added later never moves another one, and a renamed copy lands where the original did.
//! Face crops cut from one photo share their photo's part: crops named
//! `PHOTO-face<N>.EXT` (as `facecam capture --crops` writes them) are grouped by `PHOTO`
//! and hashed by that name, in whichever class folder they lie.

use super::Sample;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// One of the three parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The training part.
    Train,
    /// The validation part.
    Val,
    /// The test part.
    Test,
}

impl Part {
    /// `train`, `val` or `test`.
    pub fn parse(name: &str) -> Option<Part> {
        match name {
            "train" => Some(Part::Train),
            "val" => Some(Part::Val),
            "test" => Some(Part::Test),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Val => "val",
            Part::Test => "test",
        }
    }
}

/// Keep one part of a split with these percentages (train, val, test; summing to 100).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The part kept.
    pub part: Part,
    /// Percent of the photos in train, val and test.
    pub percent: [f64; 3],
}

/// The default percentages.
pub const DEFAULT_PERCENT: [f64; 3] = [70.0, 15.0, 15.0];

impl Split {
    /// Parse `PART` or `PART=TRAIN/VAL/TEST` (percentages, each in [0, 100], summing to 100).
    pub fn parse(text: &str) -> Result<Split> {
        let (name, percent) = text.split_once('=').map_or((text, None), |(n, p)| (n, Some(p)));
        let part = Part::parse(name).with_context(|| format!("split `{name}` is not train, val or test"))?;
        let percent = match percent {
            None => DEFAULT_PERCENT,
            Some(p) => {
                let v: Vec<f64> = p
                    .split('/')
                    .map(|t| t.trim().parse::<f64>())
                    .collect::<Result<_, _>>()
                    .ok()
                    .filter(|v: &Vec<f64>| v.len() == 3 && v.iter().all(|x| (0.0..=100.0).contains(x)))
                    .with_context(|| {
                        format!("split percentages `{p}` are not TRAIN/VAL/TEST percent, each in [0, 100]")
                    })?;
                if (v.iter().sum::<f64>() - 100.0).abs() > 1e-6 {
                    bail!("split percentages `{p}` do not add up to 100");
                }
                [v[0], v[1], v[2]]
            }
        };
        Ok(Split { part, percent })
    }

    /// Which part the photo (or crop group) with this key falls in.
    pub fn part_of(&self, key: u64) -> Part {
        // FNV's high bits barely change with the last bytes of a short key (`p1`, `p2`…):
        // MurmurHash3's 64-bit finaliser spreads every bit first. Then the top 53 bits as
        // a uniform number in [0, 100).
        let mut h = key;
        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        let u = (h >> 11) as f64 / (1u64 << 53) as f64 * 100.0;
        if u < self.percent[0] {
            Part::Train
        } else if u < self.percent[0] + self.percent[1] {
            Part::Val
        } else {
            Part::Test
        }
    }

    /// The samples of this split's part, in their order.
    pub fn keep(&self, samples: Vec<Sample>) -> Result<Vec<Sample>> {
        let mut kept = Vec::new();
        for s in samples {
            if self.part_of(split_key(&s.image)?) == self.part {
                kept.push(s);
            }
        }
        Ok(kept)
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c] = self.percent;
        write!(f, "{}={a}/{b}/{c}", self.part.name())
    }
}

/// FNV-1a, 64 bit: tiny, and the same on every platform and Rust version (std's hasher
/// promises neither).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The photo a crop file was cut from, when its name says so (`PHOTO-face<N>.EXT`).
pub fn crop_photo(image: &Path) -> Option<&str> {
    let stem = image.file_stem()?.to_str()?;
    let (photo, n) = stem.rsplit_once("-face")?;
    (!photo.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(photo)
}

/// The key that places `image` in a split: its photo's name for a named crop, else a
/// hash of the file's bytes.
pub fn split_key(image: &Path) -> Result<u64> {
    if let Some(photo) = crop_photo(image) {
        return Ok(fnv1a(photo.as_bytes()));
    }
    let bytes = edge::input::read_file(image, "a picture file", edge::input::MAX_PICTURE_BYTES)?;
    Ok(fnv1a(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn fnv_matches_its_reference_values() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn parts_follow_the_percentages() {
        let split = Split::parse("train").unwrap();
        let mut counts = [0usize; 3];
        for i in 0..20_000u32 {
            counts[split.part_of(fnv1a(&i.to_le_bytes())) as usize] += 1;
        }
        for (c, p) in counts.iter().zip(DEFAULT_PERCENT) {
            assert!((*c as f64 / 200.0 - p).abs() < 1.5, "{counts:?}");
        }
        let all_test = Split::parse("test=0/0/100").unwrap();
        assert!((0..100u32).all(|i| all_test.part_of(fnv1a(&i.to_le_bytes())) == Part::Test));
    }

    #[test]
    fn crops_of_one_photo_share_a_part_and_photos_split_by_content() {
        assert_eq!(crop_photo(Path::new("/c/alice/img_0001-face2.jpg")), Some("img_0001"));
        assert_eq!(crop_photo(Path::new("/c/alice/img-face.jpg")), None);
        assert_eq!(crop_photo(Path::new("/c/alice/-face3.jpg")), None);
        let dir = std::env::temp_dir().join(format!("facecam-split-{}", std::process::id()));
        let mut samples = Vec::new();
        for photo in 0..60 {
            for (face, class) in ["alice", "bob", "carol"].iter().enumerate() {
                let path = dir.join(class).join(format!("p{photo}-face{face}.jpg"));
                samples.push(Sample { image: path, boxes: vec![], labels: vec![] });
            }
        }
        let parts: Vec<Vec<Sample>> =
            ["train", "val", "test"].iter().map(|p| Split::parse(p).unwrap().keep(samples.clone()).unwrap()).collect();
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), samples.len());
        for (i, part) in parts.iter().enumerate() {
            assert!(!part.is_empty(), "part {i} is empty");
            for s in part {
                let photo = crop_photo(&s.image).unwrap();
                for other in parts.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, p)| p) {
                    assert_ne!(crop_photo(&other.image).unwrap(), photo, "{photo} straddles two parts");
                }
            }
        }
        // Whole photos: by content, whatever their names.
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.jpg"), dir.join("renamed copy.jpg"));
        std::fs::write(&a, b"some jpeg bytes").unwrap();
        std::fs::write(&b, b"some jpeg bytes").unwrap();
        assert_eq!(split_key(&a).unwrap(), split_key(&b).unwrap());
        let err = split_key(&PathBuf::from("/nonexistent/x.jpg")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/x.jpg"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
