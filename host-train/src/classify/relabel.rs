//! `facecam-train relabel`: new display names in an exported classifier's card, without
//! retraining. Only the card (the `facecam.card` entry of the ONNX `metadata_props`)
//! changes; the graph and its weights, fp32 or int8, are written back as they were read.

use anyhow::{bail, Context, Result};
use edge::model::{apply_class_names, AnyCard, ClassifierCard, CARD_KEY};
use std::path::Path;

/// The card of the classifier in `model` with the classes of `pairs` (`(id, name)`)
/// renamed (the others keep their names), written to `out`: a new file, or `model`
/// itself when `in_place` (replaced atomically: a reader sees the old file or the new,
/// never a part). Returns the new card.
pub fn relabel(model: &Path, pairs: &[(String, String)], out: &Path, in_place: bool) -> Result<ClassifierCard> {
    if !in_place {
        edge::atomic::refuse_input(out, &[model.to_path_buf()])?;
    }
    let mut proto = crate::quantize::read_proto(model)?;
    let mut card = match AnyCard::read(&proto).with_context(|| format!("{}: refused", model.display()))? {
        AnyCard::Classifier(card) => card,
        AnyCard::Detector(_) => {
            bail!("{}: a face detector has no classes to name (relabel names a classifier's)", model.display())
        }
    };
    card.display_names = apply_class_names(&card.classes, &card.display_names, pairs)
        .map_err(|e| edge::exit::usage(anyhow::anyhow!("{}: {e}", model.display())))?;
    card.validate().with_context(|| format!("{}: refused", model.display()))?;
    let json = card.to_json();
    for entry in proto.metadata_props.iter_mut().filter(|e| e.key == CARD_KEY) {
        entry.value = json.clone();
    }
    // In place, the file a symlink points at is replaced, not the link.
    let target = match in_place {
        true => model.canonicalize().with_context(|| format!("{}: cannot resolve", model.display()))?,
        false => out.to_path_buf(),
    };
    crate::export::write_model(&target, &proto)?;
    Ok(card)
}
