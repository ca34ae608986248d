//! The `[[zone]]` and `[[mask]]` tables of a config file, read into [`Zones`] with
//! `FILE:LINE:COLUMN` errors.

use super::{suggest, Reader};
use crate::zones::{plain_name, Mask, Polygon, Zones};
use anyhow::Result;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The keys of a zone or mask table.
const AREA_KEYS: [&str; 2] = ["name", "polygon"];

/// The tables of an array of tables (`[[zone]]`), each with its offset.
fn tables<'v, 'i>(r: &Reader, value: &'v Spanned<DeValue<'i>>, kind: &str) -> Result<Vec<(usize, &'v DeTable<'i>)>> {
    let DeValue::Array(items) = value.get_ref() else {
        return Err(r.error(value.span().start, format!("`{kind}` must be tables: [[{kind}]] with name and polygon")));
    };
    (items.iter())
        .map(|item| match item.get_ref() {
            DeValue::Table(t) => Ok((item.span().start, t)),
            _ => Err(r.error(item.span().start, format!("each `{kind}` must be a table ([[{kind}]])"))),
        })
        .collect()
}

/// One area table's name (if any) and polygon, its keys checked.
fn area(r: &Reader, kind: &str, at: usize, table: &DeTable) -> Result<(Option<(usize, String)>, Polygon)> {
    let (mut name, mut polygon) = (None, None);
    for (key, value) in table.iter() {
        let start = value.span().start;
        match key.get_ref().as_ref() {
            "name" => match value.get_ref() {
                DeValue::String(s) => {
                    plain_name(s).map_err(|e| r.error(start, format!("{kind} name: {e}")))?;
                    name = Some((start, s.to_string()));
                }
                other => {
                    return Err(r.error(start, format!("{kind} name: expected a string, not {}", other.type_str())))
                }
            },
            "polygon" => polygon = Some(read_polygon(r, kind, value)?),
            other => {
                let hint = suggest(other, &AREA_KEYS).replace("known keys", "a table takes");
                return Err(r.error(key.span().start, format!("{kind}: unknown key `{other}`; {hint}")));
            }
        }
    }
    let polygon =
        polygon.ok_or_else(|| r.error(at, format!("{kind}: no `polygon` (corners [[x, y], ...] in 0..=1)")))?;
    Ok((name, polygon))
}

/// `polygon = [[x, y], ...]`: fractions of the frame, at least 3 corners.
fn read_polygon(r: &Reader, kind: &str, value: &Spanned<DeValue>) -> Result<Polygon> {
    let start = value.span().start;
    let shape = || format!("{kind} polygon: expected corners [[x, y], ...], fractions of the frame in 0..=1");
    let DeValue::Array(corners) = value.get_ref() else { return Err(r.error(start, shape())) };
    let mut points = Vec::with_capacity(corners.len());
    for corner in corners.iter() {
        let xy = match corner.get_ref() {
            DeValue::Array(xy) if xy.len() == 2 => [number(&xy[0]), number(&xy[1])],
            _ => [None, None],
        };
        match xy {
            [Some(x), Some(y)] => points.push((x, y)),
            _ => return Err(r.error(corner.span().start, shape())),
        }
    }
    Polygon::new(points).map_err(|e| r.error(start, format!("{kind} polygon: {e}")))
}

/// A TOML integer or float as a number.
fn number(v: &Spanned<DeValue>) -> Option<f64> {
    match v.get_ref() {
        DeValue::Integer(i) => i.as_str().replace('_', "").parse().ok(),
        DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
        _ => None,
    }
}

/// Read `[[zone]]` tables (a name each, unique) into `zones`.
pub(super) fn zones(r: &Reader, value: &Spanned<DeValue>, zones: &mut Zones) -> Result<()> {
    for (at, table) in tables(r, value, "zone")? {
        let (name, polygon) = area(r, "zone", at, table)?;
        let Some((name_at, name)) = name else {
            return Err(r.error(at, "zone: no `name` (letters, digits, `-`, `_`); a zone needs one"));
        };
        zones.add_zone(name, polygon).map_err(|e| r.error(name_at, format!("zone name: {e}")))?;
        if zones.zones.len() + zones.masks.len() > crate::zones::MAX_AREAS {
            return Err(r.error(at, format!("more than {} zones and masks", crate::zones::MAX_AREAS)));
        }
    }
    Ok(())
}

/// Read `[[mask]]` tables (a name optional) into `zones`.
pub(super) fn masks(r: &Reader, value: &Spanned<DeValue>, zones: &mut Zones) -> Result<()> {
    for (at, table) in tables(r, value, "mask")? {
        let (name, polygon) = area(r, "mask", at, table)?;
        zones.masks.push(Mask { name: name.map(|(_, n)| n), polygon });
        if zones.zones.len() + zones.masks.len() > crate::zones::MAX_AREAS {
            return Err(r.error(at, format!("more than {} zones and masks", crate::zones::MAX_AREAS)));
        }
    }
    Ok(())
}
