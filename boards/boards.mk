# Cross-building the edge binary for a board and testing it under qemu-user.
#   make cross BOARD=rpi4          → $(CARGO_TARGET_DIR)/<triple>/board/facecam, glibc checked
#   make cross-test                → the edge tests for aarch64 and armv7 under qemu-user
# Boards whose glibc is older than Debian 12's cross libc needs (JetPack 4: 2.27) are
# linked by cargo-zigbuild against that glibc version instead.

BOARD ?= rpi4
BOARD_FILE = boards/$(BOARD).toml
board_field = $(shell sed -n 's/^$(1) = "\(.*\)"/\1/p' $(BOARD_FILE))
CROSS_TARGETS := aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
CROSS_DEBS := gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user
# Debian 12's cross toolchain links against glibc 2.36 and needs at most this much.
NATIVE_GLIBC_FLOOR := 2.34
# The oldest glibc among the profiles linked that way (jetson-orin-nano): cross-test
# checks the binaries it builds against it.
DEBIAN_LINKED_MIN_GLIBC := 2.35
# zig-linked builds get their own target dir: zig and gcc builds of the same triple
# would otherwise invalidate each other's artifacts.
CROSS_DIR = $(CARGO_TARGET_DIR)
ZIG_DIR = $(CARGO_TARGET_DIR)/zig

.PHONY: cross cross-tools cross-test

cross-tools: system-packages ## the cross compilers and qemu-user
	@missing=$$(for p in $(CROSS_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing $$missing"; apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; fi
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add $(CROSS_TARGETS)
	rustup target list --installed | grep -q armv7-unknown-linux-gnueabihf || rustup target add $(CROSS_TARGETS)

cross: cross-tools ## the board's binary (BOARD=…)
	@test -f $(BOARD_FILE) || { echo "unknown board '$(BOARD)'; known: $$(ls boards/*.toml | xargs -n1 basename | sed 's/.toml//' | tr '\n' ' ')"; exit 1; }
	@target=$(call board_field,target); glibc=$(call board_field,min_glibc); \
	if [ "$$(printf '%s\n%s\n' "$$glibc" "$(NATIVE_GLIBC_FLOOR)" | sort -V | head -1)" != "$(NATIVE_GLIBC_FLOOR)" ]; then \
	  $(MAKE) --no-print-directory zig-tools; \
	  echo "building for $(BOARD): $$target against glibc $$glibc (cargo-zigbuild)"; \
	  CARGO_TARGET_DIR=$(ZIG_DIR) cargo zigbuild --profile board -p facecam-edge --target $$target.$$glibc || exit 1; \
	  bin=$(ZIG_DIR)/$$target/board/facecam; \
	else \
	  echo "building for $(BOARD): $$target"; \
	  CARGO_TARGET_DIR=$(CROSS_DIR) cargo build --profile board -p facecam-edge --target $$target || exit 1; \
	  bin=$(CROSS_DIR)/$$target/board/facecam; \
	fi; \
	boards/check-glibc.sh $$bin $$glibc && mkdir -p out/boards/$(BOARD) && cp $$bin out/boards/$(BOARD)/facecam && \
	echo "out/boards/$(BOARD)/facecam ($$(du -h $$bin | cut -f1)) for $(BOARD)"

zig-tools: setup ## zig and cargo-zigbuild (old-glibc builds)
	@command -v cargo-zigbuild >/dev/null || $(VENV)/bin/pip install -q cargo-zigbuild ziglang

# The edge crate's unit tests, the cross-architecture reference detection and the int8
# paths on the shipped models, run by qemu-user (the runners in .cargo/config.toml).
# Tests that start the `facecam` binary as a child process are x86-only: qemu-user does
# not follow a child's exec here.
# Then each architecture's .deb is built from that binary, unpacked, and its packaged
# binary finds the astronaut's face with the packaged model, under qemu-user.
# One tract build per architecture (each is ~12 minutes cold on 2 cores, most of a cold
# CI run): armv7 is built as its boards build it (Debian's cross gcc, checked against
# the oldest Debian-linked glibc), aarch64 as the JetPack 4 board builds it (zig, against
# that board's glibc, which every newer aarch64 board also runs), so the
# `make cross BOARD=$(ZIG_TEST_BOARD)` that follows in `make test` finds it built.
ZIG_TEST_BOARD := jetson-nano
ZIG_TEST_GLIBC = $(shell sed -n 's/^min_glibc = "\(.*\)"/\1/p' boards/$(ZIG_TEST_BOARD).toml)
# Two runs: the library's unit tests, then the modules of the one integration-test binary
# that start no child process (a filter applies to every test binary of a run).
CROSS_TESTS := "--lib" "--test integration -- reference_detection:: int8::"

cross-test: cross-tools packaging-tools zig-tools ## the edge tests for aarch64 and armv7 under qemu-user
	@for t in $(CROSS_TARGETS); do \
	  case $$t in \
	    aarch64-*) glibc=$(ZIG_TEST_GLIBC); dir=$(ZIG_DIR); \
	      echo "== edge tests for $$t (linked against glibc $$glibc by cargo-zigbuild) under qemu-user"; \
	      for tests in $(CROSS_TESTS); do \
	        CARGO_TARGET_DIR=$$dir cargo-zigbuild test --profile board -p facecam-edge --target $$t.$$glibc $$tests || exit 1; \
	      done;; \
	    *) glibc=$(DEBIAN_LINKED_MIN_GLIBC); dir=$(CROSS_DIR); \
	      echo "== edge tests for $$t under qemu-user"; \
	      for tests in $(CROSS_TESTS); do \
	        CARGO_TARGET_DIR=$$dir cargo test --profile board -p facecam-edge --target $$t $$tests || exit 1; \
	      done;; \
	  esac; \
	  boards/check-glibc.sh $$dir/$$t/board/facecam $$glibc || exit 1; \
	  out=$(CROSS_DIR)/cross-deb/$$t; rm -rf $$out; \
	  $(MAKE) --no-print-directory deb TARGET=$$t FACECAM_BIN=$$dir/$$t/board/facecam DEB_OUT=$$out/deb DEB_FAST=1 || exit 1; \
	  dpkg-deb -x $$out/deb/*.deb $$out/root || exit 1; \
	  runner=$$(case $$t in aarch64-*) echo "qemu-aarch64 -L /usr/aarch64-linux-gnu";; *) echo "qemu-arm -L /usr/arm-linux-gnueabihf";; esac); \
	  $$runner $$out/root/usr/bin/facecam detect samples/astronaut.png --model $$out/root/usr/share/facecam/models/facecam.onnx \
	    --out $$out/detect 2>&1 | tee $$out/detect.log | tail -1; \
	  grep -Eq ", [1-9][0-9]* face\(s\)" $$out/detect.log || { echo "the $$t package did not find the face" >&2; exit 1; }; \
	done
