# facecam: the everyday commands. `make demo` and `make test` set everything up
# themselves on a fresh machine (a Python virtualenv with torch 2.11.0 for libtorch,
# plus onnx/onnxruntime as the reference peer in tests).

SHELL := /bin/bash
VENV ?= $(HOME)/.cache/facecam/venv
TORCH_VERSION := 2.11.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.facecam-torch-$(TORCH_VERSION)

# tch 0.24 builds against the torch wheel's libtorch; binaries find it at run time here.
export LIBTORCH_USE_PYTORCH := 1
export PATH := $(VENV)/bin:$(PATH)
# Expanded when each recipe runs, so it sees a virtualenv created earlier in this make.
ENV_LD_LIBRARY_PATH := $(LD_LIBRARY_PATH)
export LD_LIBRARY_PATH = $(shell ls -d $(VENV)/lib/python3*/site-packages/torch/lib 2>/dev/null):$(ENV_LD_LIBRARY_PATH)
export FACECAM_PYTHON := $(PY)

CARGO_TARGET_DIR ?= target
BIN := $(CARGO_TARGET_DIR)/debug
DEMO := out/demo

include packaging/packaging.mk
include boards/boards.mk

# `make` alone lists the targets.
.DEFAULT_GOAL := help

# This list: every target whose line ends in `## what it does`.
help: ## this list
	@echo "make TARGET (options as VAR=value, described above each target in Makefile, packaging/*.mk, boards/*.mk):"
	@sed -n 's/^\([a-z][a-zA-Z0-9-]*\):.*## \(.*\)$$/  \1\t\2/p' $(MAKEFILE_LIST) | expand -t 20

.PHONY: help system-packages setup build quantize demo demo-synthetic bench train train-facemask facemask-names facemask-eval wider-eval test fuzz check clean

# Python tools the tests use as real peers beside onnxruntime: globox (a published
# converter between annotation formats) writes the COCO and YOLO files the importers read.
PEER_STAMP := $(VENV)/.facecam-peers-globox-2.9.0

setup: system-packages $(STAMP) $(PEER_STAMP) ## install what the build needs (Debian packages, the torch virtualenv)

# Debian packages the build and tests use: libclang (the v4l crate generates its
# bindings at build time), Xvfb + xwd (a real X framebuffer for the display tests),
# sshd + rsync + systemd-analyze (the packaging and flashing tests over loopback ssh),
# mosquitto (the MQTT sink's broker), chromium's headless shell (the web view's browser)
# and ffmpeg (an RTSP camera through pipe:).
# Installed only when missing, and only where apt-get can (root on Debian/Ubuntu).
DEBS := libclang-dev xvfb x11-apps openssh-server openssh-client rsync systemd binutils mosquitto \
  chromium-headless-shell ffmpeg
system-packages:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $$missing"; apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else echo "please install: $$missing (Debian/Ubuntu package names)"; exit 1; fi; \
	fi

$(STAMP):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --no-cache-dir -q torch==$(TORCH_VERSION) onnx onnxruntime numpy
	touch $@

$(PEER_STAMP): $(STAMP)
	$(VENV)/bin/pip install --disable-pip-version-check --no-cache-dir -q globox==2.9.0
	touch $@

# One profile for everything (dependencies optimised, see Cargo.toml), so the demo and
# the tests share one build.
build: setup ## build both binaries (facecam, facecam-train)
	$(MAKE) --no-print-directory _build

_build:
	cargo build --workspace --bins

# The main job on a built-in default: the shipped model (models/facecam.onnx) finds the
# faces in the sample photos that ship with the repository.
demo: build ## the main job: the shipped model on the sample photos, no camera needed
	$(MAKE) --no-print-directory _demo

_demo:
	$(BIN)/facecam card models/facecam.onnx
	$(BIN)/facecam detect samples samples/street --model models/facecam.onnx --out $(DEMO)/detect
	@echo "annotated images and detections.jsonl are in $(DEMO)/detect"
	$(BIN)/facecam run --source images:samples --sink png:$(DEMO)/run --sticker sunglasses
	@echo "the camera loop on the sample photos (no camera needed), frames in $(DEMO)/run"
	$(BIN)/facecam detect samples/street --model models/facecam.onnx --classifier models/facemask.onnx --out $(DEMO)/labels
	@echo "the street photos with each face labelled by the face-mask classifier: $(DEMO)/labels"

# The whole path on made-up data, no photos needed: synthetic faces, a two-minute CPU
# training, export, detection.
demo-synthetic: build ## the whole path on synthetic faces: train, export, detect (a few minutes)
	$(BIN)/facecam-train synth --out $(DEMO)/synth-train --count 400 --seed 1
	$(BIN)/facecam-train synth --out $(DEMO)/synth-test --count 6 --seed 99
	$(BIN)/facecam-train train --data labelme:$(DEMO)/synth-train --input-size 160x120 --epochs 48 --lr 3e-3 \
	    --no-augment --device auto --out $(DEMO)/synth-checkpoint --export $(DEMO)/synth-model.onnx
	$(BIN)/facecam detect $(DEMO)/synth-test --model $(DEMO)/synth-model.onnx --out $(DEMO)/synth-detect

# Benchmarks (numbers in docs/BENCHMARKS.md).
bench: build ## the benchmarks of docs/BENCHMARKS.md
	$(BIN)/facecam-train bench --batch-size 32 --input-size 320x240 --steps 10
	cargo build --profile board -p facecam-edge
	$(CARGO_TARGET_DIR)/board/facecam bench --frames 200

# The int8 (QDQ) models beside the fp32 ones: the detector calibrated on the WIDER train
# subset, the face-mask classifier on 300 face crops of its train split.
quantize: build ## the int8 models beside the fp32 ones
	$(BIN)/facecam-train quantize --model models/facecam.onnx --data wider:../shared/data/widerface-subset@train \
	    --count 100 --calibration percentile --out models/facecam-int8.onnx
	$(BIN)/facecam-train quantize --model models/facemask.onnx --data voc:../shared/data/face-mask@train \
	    --count 300 --calibration percentile --out models/facemask-int8.onnx

# The shipped detector's recipe from random weights (recipes/facecam.toml: its data,
# network, target rule and phased schedule are all in the file; about 4 to 6 hours on
# one CPU core). RUN is the checkpoint folder; add RESUME=1 to continue an interrupted
# run. RECIPE picks another recipe, e.g. one of recipes/history/ (the eleven stages the
# shipped model was first trained in, recipes/history/README.md). The proxy AP reads the
# WIDER val images (WIDER_VAL, below).
RUN ?= $(HOME)/.cache/facecam/runs/facecam
RECIPE ?= recipes/facecam.toml
train: build ## the shipped detector from scratch, recipes/facecam.toml (RECIPE=, RUN=, RESUME=1)
	OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 $(BIN)/facecam-train train --config $(RECIPE) \
	    --proxy-images $(WIDER_VAL) --device cpu --out $(RUN) $(if $(RESUME),--resume) --export out/model.onnx

# The shipped face-mask classifier (models/facemask.onnx): recipes/facemask.toml on the
# face-mask set's train split (the sample photos left out), about 8 CPU minutes; then its
# numbers on the test split, from ground-truth boxes and from the detector's boxes.
CLASSIFIER_RUN ?= $(HOME)/.cache/facecam/runs/facemask
train-facemask: build ## the shipped face-mask classifier (RESUME=1 continues)
	OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 $(BIN)/facecam-train classify --config recipes/facemask.toml \
	    --data voc:../shared/data/face-mask@train --val voc:../shared/data/face-mask@val \
	    --exclude recipes/holdout.txt --device cpu --out $(CLASSIFIER_RUN) $(if $(RESUME),--resume) \
	    --export out/facemask.onnx
# The display names of the shipped face-mask models' classes (recipes/facemask.toml names
# them for a new training run): only the cards change, each file replaced atomically.
FACEMASK_NAMES = con_mascarilla=mask,sin_mascarilla=no mask,mascarilla_mal_puesta=mask worn wrongly
facemask-names: build ## write the class display names into models/facemask*.onnx (no retraining)
	for m in models/facemask.onnx models/facemask-int8.onnx; do \
	    $(BIN)/facecam-train relabel --model $$m --class-names "$(FACEMASK_NAMES)" --in-place || exit 1; done
facemask-eval: build ## the face-mask classifier's numbers on the test split
	$(BIN)/facecam-train classify-eval --model models/facemask.onnx --detector models/facecam.onnx \
	    --data voc:../shared/data/face-mask@test --out out/facemask-eval

# Full WIDER FACE val AP of the shipped model; WIDER_VAL points at WIDER_val/images
# (3,226 images; see ../shared/data/README.md for where they are).
WIDER_VAL ?= $(HOME)/.cache/facecam/wider-val/WIDER_val/images
wider-eval: build ## full WIDER FACE val AP of the shipped model (WIDER_VAL=dir)
	$(BIN)/facecam-train wider-eval --model models/facecam.onnx --images $(WIDER_VAL) --out out/wider-eval

# Everything: the workspace's tests (the Python peer, Xvfb, the packaging tools, the
# broker, the browser and ffmpeg are required, not skipped), then the edge tests for aarch64
# and armv7 under qemu-user and the JetPack 4 (glibc 2.27) build with its
# symbol-version check.
test: build packaging-tools cross-tools ## every test, as CI runs them
	$(MAKE) --no-print-directory _test

_test:
	FACECAM_REQUIRE_PEER=1 FACECAM_REQUIRE_XVFB=1 FACECAM_REQUIRE_PACKAGING=1 FACECAM_REQUIRE_BROWSER=1 \
	  FACECAM_REQUIRE_BROKER=1 FACECAM_REQUIRE_FFMPEG=1 cargo test --workspace
	$(MAKE) --no-print-directory cross-test
	$(MAKE) --no-print-directory cross BOARD=jetson-nano

# Coverage-guided fuzzing (cargo-fuzz, libFuzzer; the nightly toolchain and
# `cargo +nightly install cargo-fuzz`): FUZZ_SECONDS per target (default 60),
# FUZZ_TARGETS="mat onnx" picks some. Failing inputs land in tests/fuzz/regressions/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: ## coverage-guided fuzzing of every parser, FUZZ_SECONDS each (nightly + cargo-fuzz)
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_TARGETS)

check: ## rustfmt and clippy, as CI wants them
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

clean: ## remove out/
	rm -rf out
