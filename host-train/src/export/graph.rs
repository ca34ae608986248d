//! A minimal ONNX graph builder over tract-onnx's prost types: just the operators the
//! detector needs, each a small method, so the exporter reads like the network.

use crate::net::ConvSpec;
use tract_onnx::pb::{
    self, attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension::Value as Dim,
    type_proto, AttributeProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A graph under construction: nodes in topological order plus initialisers.
#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    count: usize,
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i, ..Default::default() }
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: ints.to_vec(), ..Default::default() }
}

/// A float tensor value-info with named (`Err`) or fixed (`Ok`) dimensions.
pub fn tensor_info(name: &str, dims: &[Result<i64, &str>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| pb::tensor_shape_proto::Dimension {
            value: Some(match d {
                Ok(v) => Dim::DimValue(*v),
                Err(p) => Dim::DimParam(p.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl GraphBuilder {
    fn fresh(&mut self, prefix: &str) -> String {
        self.count += 1;
        format!("{prefix}_{}", self.count)
    }

    fn node(&mut self, op: &str, inputs: Vec<String>, attribute: Vec<AttributeProto>, output: Option<&str>) -> String {
        let out = output.map(str::to_string).unwrap_or_else(|| self.fresh(&op.to_lowercase()));
        let name = self.fresh(op);
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![out.clone()],
            name,
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        out
    }

    /// Add a float initialiser and return its name.
    pub fn float_const(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "{name}: shape does not match data");
        let raw_data = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: DataType::Float as i32,
            raw_data,
            ..Default::default()
        });
        name.into()
    }

    fn int64_const(&mut self, prefix: &str, data: &[i64]) -> String {
        let name = self.fresh(prefix);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: vec![data.len() as i64],
            data_type: DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// `Conv` shaped by `s` (square kernel, stride, dilation, groups, padding), with a bias.
    pub fn conv(&mut self, x: &str, w: String, b: String, s: &ConvSpec) -> String {
        let p = s.padding();
        let attrs = vec![
            attr_ints("kernel_shape", &[s.k, s.k]),
            attr_ints("strides", &[s.stride, s.stride]),
            attr_ints("pads", &[p, p, p, p]),
            attr_ints("dilations", &[s.dilation, s.dilation]),
            attr_int("group", s.groups),
        ];
        self.node("Conv", vec![x.into(), w, b], attrs, None)
    }

    /// Element-wise `Add`.
    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.node("Add", vec![a.into(), b.into()], vec![], None)
    }

    /// `x` (`channels` wide) upsampled twice (nearest: each value repeated 2x2) and cropped
    /// to the height and width of `like`, read from its shape at run time. Where `x` is
    /// `like` after a stride-2 convolution (`H = ceil(H' / 2)`), this is PyTorch's
    /// `upsample_nearest` to `like`'s size (source row `floor(r * H / H')`, which is `r / 2`
    /// for every row `r` of `H'`).
    ///
    /// The repeat is a depthwise `ConvTranspose` with a 2x2 kernel of ones and stride 2,
    /// which copies each value into its 2x2 block exactly. tract runs it in 0.5 ms on the
    /// stage-10 network's 80x60 map; `Resize` (nearest) took 1.5 ms there, and `Expand`
    /// of a 2x2-broadcast view 1.3 ms, each computing its output value by value.
    pub fn upsample2_like(&mut self, x: &str, channels: i64, like: &str) -> String {
        let ones = self.fresh("upsample_ones");
        let ones = self.float_const(&ones, &[channels, 1, 2, 2], &vec![1.0; 4 * channels as usize]);
        let attrs =
            vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2]), attr_int("group", channels)];
        let up = self.node("ConvTranspose", vec![x.into(), ones], attrs, None);
        let s = self.node("Shape", vec![like.into()], vec![], None);
        let (a, b) = (self.int64_const("start", &[2]), self.int64_const("end", &[4]));
        let ends = self.node("Slice", vec![s, a, b], vec![], None);
        let (starts, axes) = (self.int64_const("start", &[0, 0]), self.int64_const("axes", &[2, 3]));
        self.node("Slice", vec![up, starts, ends, axes], vec![], None)
    }

    /// `Relu`.
    pub fn relu(&mut self, x: &str) -> String {
        self.node("Relu", vec![x.into()], vec![], None)
    }

    /// `GlobalAveragePool` then `Flatten`: `[N, C, H, W]` to `[N, C]`.
    pub fn global_pool(&mut self, x: &str) -> String {
        let pooled = self.node("GlobalAveragePool", vec![x.into()], vec![], None);
        self.node("Flatten", vec![pooled], vec![attr_int("axis", 1)], None)
    }

    /// `Gemm` computing `x · wᵀ + b` (a linear layer with `w` as `[out, in]`).
    pub fn linear(&mut self, x: &str, w: String, b: String) -> String {
        self.node("Gemm", vec![x.into(), w, b], vec![attr_int("transB", 1)], None)
    }

    /// `[N, A*k, H, W]` head output to `[N, H*W*A, k]` (channels-last, then flatten).
    pub fn head_to_priors(&mut self, x: &str, k: i64) -> String {
        let t = self.node("Transpose", vec![x.into()], vec![attr_ints("perm", &[0, 2, 3, 1])], None);
        let shape = self.int64_const("shape", &[0, -1, k]);
        self.node("Reshape", vec![t, shape], vec![], None)
    }

    /// `Concat` along `axis`, optionally naming the output.
    pub fn concat(&mut self, xs: Vec<String>, axis: i64, output: Option<&str>) -> String {
        self.node("Concat", xs, vec![attr_int("axis", axis)], output)
    }

    /// `Softmax` along `axis` (opset 13 semantics), optionally naming the output.
    pub fn softmax(&mut self, x: &str, axis: i64, output: Option<&str>) -> String {
        self.node("Softmax", vec![x.into()], vec![attr_int("axis", axis)], output)
    }

    /// The finished graph.
    pub fn finish(self, name: &str, inputs: Vec<ValueInfoProto>, outputs: Vec<ValueInfoProto>) -> pb::GraphProto {
        pb::GraphProto {
            node: self.nodes,
            name: name.into(),
            initializer: self.initializers,
            input: inputs,
            output: outputs,
            ..Default::default()
        }
    }
}
