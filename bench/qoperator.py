"""A QOperator (QLinearConv) copy of the shipped model, to see what tract makes of integer
convolutions before building a QLinearConv path into facecam (docs/BENCHMARKS.md, "int8
execution paths in tract"). onnxruntime's own quantizer writes it: every Conv becomes a
QLinearConv with per-channel int8 weights and uint8 activations, calibrated on the race
frame alone (this measures speed, not accuracy). The facecam card is copied over, and
onnxruntime's symbolic value_info is dropped (tract refuses its batch symbol).

    target/board/facecam race --iterations 1 --warmup 0 --dump-frame out/race-frame.ppm
    ~/.cache/facecam/venv/bin/python bench/qoperator.py --frame out/race-frame.ppm --out out/facecam-qop.onnx
    target/board/facecam race --model out/facecam-qop.onnx --int8 qdq --profile 30
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static


def read_ppm(path):
    """A binary PPM (P6, maxval 255) as CHW float32."""
    data = open(path, "rb").read()
    fields, pos = [], 2
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(int(data[pos:end]))
        pos = end
    w, h, _ = fields
    return np.frombuffer(data, np.uint8, w * h * 3, pos + 1).reshape(h, w, 3).astype(np.float32).transpose(2, 0, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/facecam.onnx")
    ap.add_argument("--frame", required=True, help="PPM from `facecam race --dump-frame`")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    fp32 = onnx.load(a.model)
    card_json = next(p.value for p in fp32.metadata_props if p.key == "facecam.card")
    spec = json.loads(card_json)["input"]
    mean = np.array(spec["mean"], np.float32)[:, None, None]
    std = np.array(spec["std"], np.float32)[:, None, None]
    x = ((read_ppm(a.frame) - mean) / std)[None]

    class Frame(CalibrationDataReader):
        def __init__(self):
            self.left = [{spec["name"]: x}]

        def get_next(self):
            return self.left.pop() if self.left else None

    raw = a.out + ".raw"
    quantize_static(a.model, raw, Frame(), quant_format=QuantFormat.QOperator, op_types_to_quantize=["Conv"],
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    q = onnx.load(raw)
    os.remove(raw)
    del q.graph.value_info[:]
    del q.metadata_props[:]
    entry = q.metadata_props.add()
    entry.key, entry.value = "facecam.card", card_json
    onnx.save(q, a.out)
    ops = {}
    for n in q.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    print(f"{a.out}: {ops}")


if __name__ == "__main__":
    main()
