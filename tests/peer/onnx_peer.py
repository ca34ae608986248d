"""Check an exported model with the ONNX reference tooling and run it in onnxruntime.

usage: onnx_peer.py MODEL INPUT_F32 N C H W OUT_PREFIX [--no-optimize]
Reads a little-endian float32 NCHW input, runs onnx.checker (full check, with shape
inference) and onnxruntime on CPU, and writes OUT_PREFIX.<output name>.f32 files.
With --no-optimize, onnxruntime's graph optimisations are off: a QDQ model then runs
as written (fp32 convolutions between exact quantize/dequantize steps) instead of being
fused into int8 kernels that requantize differently.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, input_path = sys.argv[1], sys.argv[2]
n, c, h, w = (int(v) for v in sys.argv[3:7])
prefix = sys.argv[7]
options = ort.SessionOptions()
if "--no-optimize" in sys.argv[8:]:
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL

model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
x = np.fromfile(input_path, dtype="<f4").reshape(n, c, h, w)
session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
names = [o.name for o in session.get_outputs()]
for name, value in zip(names, session.run(None, {session.get_inputs()[0].name: x})):
    np.ascontiguousarray(value, dtype="<f4").tofile(f"{prefix}.{name}.f32")
print("ok", ",".join(names))
