//! How a quantized (QDQ) model runs in tract.
//!
//! `facecam-train quantize` writes int8 weights behind `DequantizeLinear` nodes and a
//! `QuantizeLinear` → `DequantizeLinear` pair on every quantized activation. tract runs
//! such a graph as written ([`Int8Path::Qdq`]): fp32 convolutions with every Q and DQ as an
//! op of its own, about twice the fp32 time. [`weight_only`] rewrites the ONNX proto at
//! load time ([`Int8Path::WeightOnly`]): each weight `DequantizeLinear` is folded into an
//! fp32 initializer holding the int8-rounded weights, and each activation pair is
//! removed. The file stays small; the graph runs at fp32 speed.

mod fold;
mod weight_only;

pub use fold::dequantize;
use tract_onnx::pb::{ModelProto, NodeProto};
pub use weight_only::weight_only;

/// How a quantized model's graph is run.
/// Written and read as `qdq` and `weights` (the `--int8` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Int8Path {
    /// As written: fp32 ops, with every QuantizeLinear and DequantizeLinear run.
    #[serde(rename = "qdq")]
    Qdq,
    /// Weights dequantized once at load, activation Q/DQ pairs removed: an fp32 graph
    /// with int8-rounded weights. The default: as fast as the fp32 model
    /// (docs/BENCHMARKS.md, "int8 execution paths in tract").
    #[default]
    #[serde(rename = "weights")]
    WeightOnly,
}

impl std::str::FromStr for Int8Path {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "qdq" => Ok(Int8Path::Qdq),
            "weights" | "weight-only" => Ok(Int8Path::WeightOnly),
            _ => Err(format!("`{s}`: expected qdq or weights")),
        }
    }
}

impl std::fmt::Display for Int8Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Int8Path::Qdq => "qdq",
            Int8Path::WeightOnly => "weights",
        })
    }
}

/// Whether the graph has any QuantizeLinear or DequantizeLinear node.
pub fn is_quantized(model: &ModelProto) -> bool {
    model.graph.iter().flat_map(|g| &g.node).any(is_qdq)
}

fn is_qdq(n: &NodeProto) -> bool {
    n.domain.is_empty() && matches!(n.op_type.as_str(), "QuantizeLinear" | "DequantizeLinear")
}
