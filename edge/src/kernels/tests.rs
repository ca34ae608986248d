//! Each kernel against tract's own op on the same graph: random weights and inputs, odd
//! sizes, 1x1 and 2x2 maps, both strides, every padding from 0 to 2.

use super::*;
use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_core::ops::nn::{DataFormat, Softmax, SoftmaxKind};

/// A small deterministic generator (xorshift), values in -1..1.
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn tensor(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.next()).collect();
        tract_ndarray::ArrayD::from_shape_vec(shape, v).unwrap().into_tensor()
    }
}

/// The input shape: NCHW with one image, or CHW (as tract's declutter leaves most layers).
fn shape_of(c: usize, h: usize, w: usize, chw: bool) -> Vec<usize> {
    if chw {
        vec![c, h, w]
    } else {
        vec![1, c, h, w]
    }
}

/// A graph of one depthwise 3x3 convolution (and a ReLU after it, if asked).
fn depthwise_model(
    c: usize,
    h: usize,
    w: usize,
    stride: usize,
    pad: [usize; 4],
    relu: bool,
    noise: &mut Noise,
) -> TypedModel {
    conv_model((c, c, c), h, w, stride, pad, relu, noise)
}

/// A graph of one 3x3 convolution, `(inputs, outputs, group)` channels (and a ReLU).
fn conv_model(
    channels: (usize, usize, usize),
    h: usize,
    w: usize,
    stride: usize,
    pad: [usize; 4],
    relu: bool,
    noise: &mut Noise,
) -> TypedModel {
    conv_model_k(3, channels, h, w, stride, pad, relu, noise)
}

/// A graph of one `kernel` x `kernel` convolution (and a ReLU).
#[allow(clippy::too_many_arguments)]
fn conv_model_k(
    kernel: usize,
    (ci, co, group): (usize, usize, usize),
    h: usize,
    w: usize,
    stride: usize,
    pad: [usize; 4],
    relu: bool,
    noise: &mut Noise,
) -> TypedModel {
    let chw = (ci + h + w) % 2 == 1;
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(shape_of(ci, h, w, chw))).unwrap();
    let k = model.add_const("k", noise.tensor(&[co, ci / group, kernel, kernel])).unwrap();
    let b = model.add_const("b", noise.tensor(&[co])).unwrap();
    let conv = Conv {
        pool_spec: PoolSpec {
            data_format: if chw { DataFormat::CHW } else { DataFormat::NCHW },
            kernel_shape: tvec!(kernel, kernel),
            padding: PaddingSpec::Explicit(tvec!(pad[0], pad[1]), tvec!(pad[2], pad[3])),
            dilations: None,
            strides: Some(tvec!(stride, stride)),
            input_channels: ci,
            output_channels: co,
        },
        kernel_fmt: KernelFormat::OIHW,
        group,
        q_params: None,
    };
    let mut y = model.wire_node("dw", conv, &[x, k, b]).unwrap();
    if relu {
        let zero = if chw { tensor3(&[[[0f32]]]) } else { tensor4(&[[[[0f32]]]]) };
        let zero = model.add_const("zero", zero).unwrap();
        y = model.wire_node("relu", tract_core::ops::math::max(), &[y[0], zero]).unwrap();
    }
    model.select_output_outlets(&y).unwrap();
    model
}

/// Run `model` on `input`, as tract would (`Kernels::Tract`) or with our ops swapped in.
fn run(model: &TypedModel, input: &Tensor, kernels: Kernels) -> (Tensor, Patched) {
    let mut model = model.clone().into_decluttered().unwrap();
    let patched = match kernels {
        Kernels::Facecam => patch(&mut model).unwrap(),
        Kernels::Tract => Patched::default(),
    };
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    let out = plan.run(tvec!(input.clone().into())).unwrap();
    (out[0].clone().into_tensor(), patched)
}

/// [`run`] with facecam's kernels on a pool of `threads` threads.
fn run_on_threads(threads: usize, model: &TypedModel, input: &Tensor) -> (Tensor, Patched) {
    let pool = tract_linalg::multithread::Executor::multithread(threads);
    tract_linalg::multithread::multithread_tract_scope(pool, || run(model, input, Kernels::Facecam))
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let (a, b) = (floats(a).unwrap(), floats(b).unwrap());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn depthwise_matches_tract_on_odd_shapes() {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let shapes =
        [(2, 1, 1), (3, 2, 2), (4, 3, 3), (5, 7, 9), (8, 11, 6), (16, 24, 17), (3, 40, 33), (2, 1, 31), (2, 29, 1)];
    let pads = [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [2, 2, 2, 2], [0, 0, 1, 1]];
    let mut checked = 0;
    for &(c, h, w) in &shapes {
        for stride in [1, 2] {
            for pad in pads {
                if h + pad[0] + pad[2] < 3 || w + pad[1] + pad[3] < 3 {
                    continue; // no output at all: tract refuses such a graph too
                }
                for relu in [false, true] {
                    let model = depthwise_model(c, h, w, stride, pad, relu, &mut noise);
                    let input = noise.tensor(&shape_of(c, h, w, (c + h + w) % 2 == 1));
                    let (want, _) = run(&model, &input, Kernels::Tract);
                    let (got, patched) = run(&model, &input, Kernels::Facecam);
                    let what = format!("c{c} {h}x{w} stride {stride} pad {pad:?} relu {relu}");
                    assert_eq!(patched.depthwise, 1, "{what}: not swapped in");
                    assert_eq!(patched.relu_fused, relu as usize, "{what}: ReLU not fused");
                    let diff = max_diff(&want, &got);
                    assert!(diff <= 1e-5, "{what}: differs from tract's by {diff}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 150, "only {checked} cases ran");
}

#[test]
fn full_conv_over_few_inputs_matches_tract() {
    let mut noise = Noise(0xD1B5_4A32_D192_ED03);
    let mut checked = 0;
    for (ci, co) in [(1, 1), (1, 8), (2, 5), (3, 16), (4, 3)] {
        for (h, w) in [(1, 1), (3, 3), (7, 10), (24, 31)] {
            for stride in [1, 2] {
                for (pad, relu) in [([1, 1, 1, 1], true), ([0, 0, 0, 0], false), ([0, 1, 1, 0], true)] {
                    if h + pad[0] + pad[2] < 3 || w + pad[1] + pad[3] < 3 {
                        continue;
                    }
                    let model = conv_model((ci, co, 1), h, w, stride, pad, relu, &mut noise);
                    let input = noise.tensor(&shape_of(ci, h, w, (ci + h + w) % 2 == 1));
                    let (want, _) = run(&model, &input, Kernels::Tract);
                    let (got, patched) = run(&model, &input, Kernels::Facecam);
                    let what = format!("{ci}->{co} {h}x{w} stride {stride} pad {pad:?} relu {relu}");
                    assert_eq!((patched.full, patched.relu_fused), (1, relu as usize), "{what}: {patched:?}");
                    let diff = max_diff(&want, &got);
                    assert!(diff <= 1e-5, "{what}: differs from tract's by {diff}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 80, "only {checked} cases ran");
}

#[test]
fn pointwise_matches_tract_with_bias_and_relu() {
    let mut noise = Noise(0xA076_1D64_78BD_642F);
    let mut checked = 0;
    for (ci, co) in [(1, 1), (3, 4), (16, 32), (32, 7), (64, 18), (9, 128)] {
        for (h, w) in [(1, 1), (1, 17), (4, 4), (15, 20), (30, 40), (9, 11)] {
            for relu in [false, true] {
                let model = conv_model_k(1, (ci, co, 1), h, w, 1, [0; 4], relu, &mut noise);
                let input = noise.tensor(&shape_of(ci, h, w, (ci + h + w) % 2 == 1));
                let (want, _) = run(&model, &input, Kernels::Tract);
                let (got, patched) = run(&model, &input, Kernels::Facecam);
                let what = format!("{ci}->{co} {h}x{w} relu {relu}");
                assert_eq!((patched.pointwise, patched.relu_fused), (1, relu as usize), "{what}: {patched:?}");
                let diff = max_diff(&want, &got);
                assert!(diff <= 1e-5, "{what}: differs from tract's by {diff}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 72);
    // Split over threads: whole register blocks per chunk, the same values.
    let model = conv_model_k(1, (48, 70, 1), 30, 41, 1, [0; 4], true, &mut noise);
    let input = noise.tensor(&shape_of(48, 30, 41, true));
    let (one, _) = run(&model, &input, Kernels::Facecam);
    let (three, _) = run_on_threads(3, &model, &input);
    assert_eq!(max_diff(&one, &three), 0.0, "the threads changed the result");
}

#[test]
fn pointwise_head_with_channels_last_matches_tract() {
    let mut noise = Noise(0x1234_5678_9ABC_DEF1);
    for (ci, co, h, w) in [(32, 2, 60, 80), (64, 12, 30, 40), (128, 4, 15, 20), (9, 5, 3, 7)] {
        // A detection head: a 1x1 convolution, its output moved to channels last (as
        // before the reshape into one row per prior).
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, ci, h, w])).unwrap();
        let k = model.add_const("k", noise.tensor(&[co, ci, 1, 1])).unwrap();
        let b = model.add_const("b", noise.tensor(&[co])).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec!(1, 1),
                padding: PaddingSpec::Valid,
                dilations: None,
                strides: None,
                input_channels: ci,
                output_channels: co,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let y = model.wire_node("head", conv, &[x, k, b]).unwrap();
        let y = model.wire_node("to_hwc", AxisOp::Move(1, 3), &y).unwrap();
        model.select_output_outlets(&y).unwrap();
        let input = noise.tensor(&[1, ci, h, w]);
        let (want, _) = run(&model, &input, Kernels::Tract);
        let (got, patched) = run(&model, &input, Kernels::Facecam);
        assert_eq!(patched.pointwise, 1, "{ci}->{co} {h}x{w}: {patched:?}");
        let diff = max_diff(&want, &got);
        assert!(diff <= 1e-5, "{ci}->{co} {h}x{w}: differs from tract's by {diff}");
    }
}

#[test]
fn depthwise_splits_planes_over_threads_with_the_same_result() {
    let mut noise = Noise(7);
    // Large enough to pass the parallel threshold; channels not a multiple of the chunk.
    let model = depthwise_model(37, 60, 50, 2, [1, 1, 1, 1], true, &mut noise);
    let input = noise.tensor(&shape_of(37, 60, 50, true)); // 37 + 60 + 50 is odd: CHW
    let (one, _) = run(&model, &input, Kernels::Facecam);
    let (three, _) = run_on_threads(3, &model, &input);
    assert_eq!(max_diff(&one, &three), 0.0, "the threads changed the result");
    let (want, _) = run(&model, &input, Kernels::Tract);
    assert!(max_diff(&want, &three) <= 1e-5);
    // A full convolution over RGB, split over output channels the same way.
    let model = conv_model((3, 19, 1), 61, 80, 2, [1, 1, 1, 1], true, &mut noise);
    let input = noise.tensor(&shape_of(3, 61, 80, false));
    let (one, _) = run(&model, &input, Kernels::Facecam);
    let (two, _) = run_on_threads(2, &model, &input);
    assert_eq!(max_diff(&one, &two), 0.0, "the threads changed the result");
}

#[test]
fn other_convolutions_keep_tracts_op() {
    let mut noise = Noise(11);
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, 8, 8, 8])).unwrap();
    // A full 3x3 convolution over more inputs than ours takes, and a depthwise 3x3 with
    // dilation 2.
    let k = model.add_const("k", noise.tensor(&[8, 8, 3, 3])).unwrap();
    let b = model.add_const("b", noise.tensor(&[8])).unwrap();
    let spec = |dil: Option<TVec<usize>>| PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec!(3, 3),
        padding: PaddingSpec::Explicit(tvec!(2, 2), tvec!(2, 2)),
        dilations: dil,
        strides: None,
        input_channels: 8,
        output_channels: 8,
    };
    let full = Conv { pool_spec: spec(None), kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None };
    let y = model.wire_node("full", full, &[x, k, b]).unwrap();
    let kd = model.add_const("kd", noise.tensor(&[8, 1, 3, 3])).unwrap();
    let dilated = Conv { pool_spec: spec(Some(tvec!(2, 2))), kernel_fmt: KernelFormat::OIHW, group: 8, q_params: None };
    let y = model.wire_node("dilated", dilated, &[y[0], kd, b]).unwrap();
    model.select_output_outlets(&y).unwrap();
    let input = noise.tensor(&[1, 8, 8, 8]);
    let (want, _) = run(&model, &input, Kernels::Tract);
    let (got, patched) = run(&model, &input, Kernels::Facecam);
    assert_eq!(patched, Patched::default());
    assert_eq!(max_diff(&want, &got), 0.0);
}

#[test]
fn upsample_matches_tracts_transposed_convolution() {
    use tract_core::ops::cnn::Deconv;
    let mut noise = Noise(0x5EED);
    for (c, h, w, chw) in [(2, 1, 1, false), (32, 30, 40, false), (5, 7, 3, true), (64, 15, 20, true)] {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(shape_of(c, h, w, chw))).unwrap();
        let k = model.add_const("k", noise.tensor(&[c, 1, 2, 2])).unwrap();
        let b = model.add_const("b", noise.tensor(&[c])).unwrap();
        let op = Deconv {
            pool_spec: PoolSpec {
                data_format: if chw { DataFormat::CHW } else { DataFormat::NCHW },
                kernel_shape: tvec!(2, 2),
                padding: PaddingSpec::Explicit(tvec!(0, 0), tvec!(0, 0)),
                dilations: None,
                strides: Some(tvec!(2, 2)),
                input_channels: c,
                output_channels: c,
            },
            kernel_format: KernelFormat::OIHW,
            adjustments: tvec!(0, 0),
            group: c,
        };
        let y = model.wire_node("up", op, &[x, k, b]).unwrap();
        model.select_output_outlets(&y).unwrap();
        let input = noise.tensor(&shape_of(c, h, w, chw));
        let (want, _) = run(&model, &input, Kernels::Tract);
        let (got, patched) = run(&model, &input, Kernels::Facecam);
        assert_eq!(patched.upsample, 1, "{c}x{h}x{w}: not swapped in");
        let diff = max_diff(&want, &got);
        assert!(diff <= 1e-6, "{c}x{h}x{w}: differs from tract's by {diff}");
    }
}

#[test]
fn pair_softmax_matches_tract_on_both_layouts_and_extremes() {
    let mut noise = Noise(3);
    for (shape, axis) in [(vec![1, 9200, 2], 2), (vec![1, 2, 7, 5], 1), (vec![3, 2], 1), (vec![2, 1, 2], 2)] {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(&shape)).unwrap();
        let op = Softmax { axes: tvec!(axis), quant_output_dt: None, kind: SoftmaxKind::Softmax };
        let y = model.wire_node("softmax", op, &[x]).unwrap();
        model.select_output_outlets(&y).unwrap();
        let mut input = noise.tensor(&shape);
        // Logits far apart and equal, where a naive exp overflows or cancels.
        let mut view = input.try_as_plain_ram_mut().unwrap();
        view.as_slice_mut::<f32>()
            .unwrap()
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x *= [1.0, 30.0, 200.0, 0.0][i % 4]);
        let (want, _) = run(&model, &input, Kernels::Tract);
        let (got, patched) = run(&model, &input, Kernels::Facecam);
        assert_eq!(patched.softmax, 1, "{shape:?}: not swapped in");
        let diff = max_diff(&want, &got);
        assert!(diff <= 1e-6, "{shape:?} axis {axis}: differs from tract's by {diff}");
        assert!(floats(&got).unwrap().iter().all(|p| (0.0..=1.0).contains(p)));
    }
}

#[test]
fn softmax_over_more_than_two_keeps_tracts_op() {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([4, 3])).unwrap();
    let op = Softmax { axes: tvec!(1), quant_output_dt: None, kind: SoftmaxKind::Softmax };
    let y = model.wire_node("softmax", op, &[x]).unwrap();
    model.select_output_outlets(&y).unwrap();
    let mut m = model.into_decluttered().unwrap();
    assert_eq!(patch(&mut m).unwrap(), Patched::default());
}

#[test]
fn pair_softmax_keeps_nan_as_nan() {
    let (x, mut out) = ([f32::NAN, 1.0, 0.0, 0.0], [0f32; 4]);
    softmax2::pair_softmax(&x, &mut out, 1);
    assert!(out[0].is_nan() && out[1].is_nan());
    assert_eq!(&out[2..], &[0.5, 0.5]);
}

#[test]
fn kernels_parse_and_print() {
    for k in [Kernels::Facecam, Kernels::Tract] {
        assert_eq!(k.to_string().parse::<Kernels>(), Ok(k));
    }
    assert!("onnxruntime".parse::<Kernels>().unwrap_err().contains("`facecam` or `tract`"));
}
