//! The snapshot flags of `facecam run`, flattened into its arguments.

use super::{store::Retention, SnapshotConfig};
use crate::cmdline::float_in;
use std::path::PathBuf;

/// `--snapshots DIR` and its retention.
#[derive(Debug, Clone, clap::Args)]
pub struct SnapshotFlags {
    /// Save a snapshot of every face event in this folder (created if missing): the frame
    /// where the face scored best in its first seconds, with its box drawn, and the face;
    /// served by the web view at /events.json and sent over MQTT on PREFIX/snapshot.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub snapshots: Option<PathBuf>,
    /// Seconds from a face's first sight in which its best frame is chosen, 0.1..=60.
    #[arg(long, default_value_t = 2.0, value_parser = float_in(0.1..=60.0, "seconds"), requires = "snapshots")]
    pub snapshot_window: f64,
    /// Events the snapshot folder keeps at most, 1..=1000000 (the oldest go first).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1_000_000), requires = "snapshots")]
    pub snapshot_max_events: u64,
    /// MiB the snapshot folder keeps at most, 1..=1048576 (the oldest go first).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1_048_576), requires = "snapshots")]
    pub snapshot_max_mib: u64,
}

impl SnapshotFlags {
    /// The settings, when `--snapshots` is given.
    pub fn config(&self) -> Option<SnapshotConfig> {
        let dir = self.snapshots.clone()?;
        let retention =
            Retention { max_events: self.snapshot_max_events as usize, max_bytes: self.snapshot_max_mib << 20 };
        Some(SnapshotConfig { dir, window: self.snapshot_window, retention })
    }
}
