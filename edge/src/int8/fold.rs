//! Dequantizing one int8 initializer into fp32, per tensor or per channel.

use anyhow::{bail, Context, Result};
use tract_onnx::pb::{tensor_proto::DataType, TensorProto};

/// `(q - zero_point) * scale`, per tensor or per channel along `axis`, as an fp32
/// initializer named `name` with `q`'s shape.
pub fn dequantize(
    q: &TensorProto,
    scale: &TensorProto,
    zp: Option<&TensorProto>,
    axis: i64,
    name: &str,
) -> Result<TensorProto> {
    let values = integers(q)?;
    let dims: Vec<usize> = shape(q)?;
    if dims.iter().product::<usize>() != values.len() {
        bail!("initializer `{}` holds {} values, its shape {:?} needs more or fewer", q.name, values.len(), q.dims);
    }
    let scales = floats(scale)?;
    let zero = match zp {
        Some(z) if z.data_type != q.data_type => {
            bail!(
                "zero point `{}` has data type {}, the weights {}",
                z.name,
                type_name(z.data_type),
                type_name(q.data_type)
            )
        }
        Some(z) => integers(z)?,
        None => vec![0; scales.len()],
    };
    if zero.len() != scales.len() {
        bail!("{} zero points for {} scales", zero.len(), scales.len());
    }
    // Elements `e` of channel `c` along the axis: c = (e / inner) % channels.
    let (channels, inner) = match scale.dims.len() {
        0 if scales.len() == 1 => (1, 1),
        1 => {
            let rank = dims.len() as i64;
            let a = if axis < 0 { axis + rank } else { axis };
            if !(0..rank).contains(&a) {
                bail!("axis {axis} is out of range for weights of rank {rank}");
            }
            let a = a as usize;
            if dims[a] != scales.len() {
                bail!("{} scales for the {} channels of `{}` along axis {axis}", scales.len(), dims[a], q.name);
            }
            (dims[a], dims[a + 1..].iter().product::<usize>())
        }
        _ => bail!("scale `{}` has shape {:?}: expected a scalar or one value per channel", scale.name, scale.dims),
    };
    let raw: Vec<u8> = (values.iter().enumerate())
        .flat_map(|(e, &v)| {
            let c = (e / inner) % channels;
            ((v - zero[c]) as f32 * scales[c]).to_le_bytes()
        })
        .collect();
    Ok(TensorProto {
        name: name.into(),
        dims: q.dims.clone(),
        data_type: DataType::Float as i32,
        raw_data: raw,
        ..Default::default()
    })
}

/// ONNX's name for a data type number, e.g. `INT16`.
fn type_name(code: i32) -> String {
    DataType::try_from(code).map_or_else(|_| format!("#{code}"), |d| d.as_str_name().to_string())
}

fn shape(t: &TensorProto) -> Result<Vec<usize>> {
    t.dims
        .iter()
        .map(|&d| usize::try_from(d).with_context(|| format!("`{}` has a negative dimension", t.name)))
        .collect()
}

fn stored_inline(t: &TensorProto) -> Result<()> {
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        bail!("initializer `{}` is stored outside the file, which is not supported", t.name);
    }
    Ok(())
}

/// An int8 or uint8 tensor's values (raw bytes, or ONNX's `int32_data` storage).
fn integers(t: &TensorProto) -> Result<Vec<i32>> {
    stored_inline(t)?;
    let signed = match DataType::try_from(t.data_type) {
        Ok(DataType::Int8) => true,
        Ok(DataType::Uint8) => false,
        _ => bail!("`{}` has data type {}; only INT8 and UINT8 are supported", t.name, type_name(t.data_type)),
    };
    if t.raw_data.is_empty() {
        let range = if signed { -128..=127 } else { 0..=255 };
        if let Some(v) = t.int32_data.iter().find(|v| !range.contains(*v)) {
            bail!("`{}` holds {v}, out of range for its data type", t.name);
        }
        return Ok(t.int32_data.clone());
    }
    Ok(t.raw_data.iter().map(|&b| if signed { b as i8 as i32 } else { b as i32 }).collect())
}

/// A float32 tensor's values (raw little-endian bytes or `float_data`).
fn floats(t: &TensorProto) -> Result<Vec<f32>> {
    stored_inline(t)?;
    if t.data_type != DataType::Float as i32 {
        bail!("scale `{}` has data type {}; only FLOAT (float32) is supported", t.name, type_name(t.data_type));
    }
    let values: Vec<f32> = if t.raw_data.is_empty() {
        t.float_data.clone()
    } else if t.raw_data.len().is_multiple_of(4) {
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        bail!("scale `{}` has {} raw bytes, not whole floats", t.name, t.raw_data.len());
    };
    let expected: usize = shape(t)?.iter().product();
    if values.len() != expected || values.is_empty() {
        bail!("scale `{}` holds {} values, its shape {:?} needs {expected}", t.name, values.len(), t.dims);
    }
    Ok(values)
}
