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

.PHONY: help system-packages setup build quantize demo demo-synthetic bench train-default train-finetune train-stage3 train-stage4 train-stage5 train-stage6 train-stage7 train-stage8 train-stage9 train-stage10 train-stage11 train-facemask facemask-names facemask-eval wider-eval test fuzz check clean

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

# Stage 1 of the shipped model's eleven chained stages (recipes/default.toml; about an
# hour on one CPU core of this machine); each later stage starts from the previous one's
# committed checkpoint. RUN is the checkpoint folder; add RESUME=1 to continue an
# interrupted run. The proxy AP needs the WIDER val images (WIDER_VAL, below).
RUN ?= $(HOME)/.cache/facecam/runs/default
RECIPE ?= recipes/default.toml
train-default: build ## stage 1 of the shipped detector (RESUME=1 continues)
	OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 $(BIN)/facecam-train train --config $(RECIPE) \
	    --data wider:../shared/data/widerface-subset@train --data voc:../shared/data/face-mask \
	    --exclude recipes/holdout.txt --val wider:../shared/data/widerface-subset@val \
	    --proxy-images $(WIDER_VAL) --proxy-every 2 --device cpu --out $(RUN) $(if $(RESUME),--resume) \
	    --export out/model.onnx $(EXTRA_DATA)

# Stage 2 of the shipped model: recipes/finetune.toml, starting from stage 1's committed
# checkpoint (runs/default-2026-12-01); about an hour on one core.
train-finetune:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/finetune.toml RUN=$(HOME)/.cache/facecam/runs/finetune

# Stage 3: recipes/stage3.toml from stage 2's committed checkpoint
# (runs/finetune-2026-12-02); about 25 minutes on one core.
train-stage3:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/stage3.toml RUN=$(HOME)/.cache/facecam/runs/stage3

# Stage 4: recipes/stage4.toml from stage 3's committed checkpoint (runs/stage3-2026-12-02).
train-stage4:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/stage4.toml RUN=$(HOME)/.cache/facecam/runs/stage4

# Stage 5: recipes/stage5.toml (smaller level-0 priors) from stage 4's committed
# checkpoint (runs/stage4-2026-12-02); about 50 CPU minutes.
train-stage5:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/stage5.toml RUN=$(HOME)/.cache/facecam/runs/stage5

# Stage 6: whole images at the evaluation's scale, with a DIoU term
# (recipes/exp-fixres-b.toml) from stage 5's committed checkpoint; about 16 CPU minutes.
train-stage6:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/exp-fixres-b.toml RUN=$(HOME)/.cache/facecam/runs/stage6

# Stage 7: the WIDER subset drawn twice as often (recipes/exp-wider2x.toml) from stage
# 6's committed checkpoint (runs/exp-fixres-b-2026-12-03); about 29 CPU minutes.
train-stage7:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/exp-wider2x.toml RUN=$(HOME)/.cache/facecam/runs/stage7 \
	    EXTRA_DATA="--data wider:../shared/data/widerface-subset@train"

# Stages 8 to 10 draw the WIDER subset three times as often as the face-mask photos.
WIDER_3X := --data wider:../shared/data/widerface-subset@train --data wider:../shared/data/widerface-subset@train

# Stage 8: recipes/exp-wider3x.toml from stage 7's committed checkpoint
# (runs/exp-wider2x-2026-12-03); about 26 CPU minutes.
train-stage8:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/exp-wider3x.toml RUN=$(HOME)/.cache/facecam/runs/stage8 \
	    EXTRA_DATA="$(WIDER_3X)"

# Stage 9: a stride-4 level (recipes/exp-stride4-from-wider3x.toml) from stage 8's
# committed checkpoint (runs/exp-wider3x-2026-12-03); about 30 CPU minutes.
train-stage9:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/exp-stride4-from-wider3x.toml \
	    RUN=$(HOME)/.cache/facecam/runs/stage9 EXTRA_DATA="$(WIDER_3X)"

# Stage 10: the stride-8 features upsampled into the stride-4 head
# (recipes/exp-s4up.toml) from stage 9's committed checkpoint
# (runs/exp-stride4-2026-12-03); about 44 CPU minutes.
train-stage10:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/exp-s4up.toml RUN=$(HOME)/.cache/facecam/runs/stage10 \
	    EXTRA_DATA="$(WIDER_3X)"

# Stage 11, the shipped model (models/facecam.onnx, runs/exp-s8up-2026-12-04): a second
# lateral, the stride-16 features upsampled into the stride-8 head (recipes/exp-s8up.toml),
# from stage 10's checkpoint.
train-stage11:
	$(MAKE) --no-print-directory train-default RECIPE=recipes/exp-s8up.toml RUN=$(HOME)/.cache/facecam/runs/stage11 \
	    EXTRA_DATA="$(WIDER_3X)"

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
