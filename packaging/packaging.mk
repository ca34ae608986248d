# Packaging and flashing: .deb per architecture, systemd unit, `make flash`, `make deploy`.
# See packaging/README.md.
#
#   make deb                         the host architecture's package (release build)
#   make deb TARGET=<triple>         a cross-built binary's package (aarch64 → arm64,
#                                    armv7 → armhf); FACECAM_BIN=path packages that binary
#   make deb-board BOARD=rpi4        `make cross` for the board, then its package in
#                                    out/packages/<board>/
#   make flash BOARD=rpi4 HOST=user@host   build (or DEB=path), install over ssh, enable, start
#   make deploy BOARD=rpi4 HOST=user@host  rsync only the binary (or FACECAM_BIN=path), restart
#
# ssh: SSH_PORT (22), SSH_KEY (identity file), SSH_OPTS (more ssh options).
# FLASH_ROOT=/dir installs under /dir on HOST (dpkg --root): for tests, never started.

DEB_OUT ?= out/packages
# Where the binary is staged for cargo-deb, which finds it as `target/release/facecam`.
DEB_STAGE ?= $(CARGO_TARGET_DIR)/deb-stage
# 1: quick gzip compression instead of xz (tests).
DEB_FAST ?=
TARGET ?=
FACECAM_BIN ?=
DEB ?=
HOST ?=
SSH_PORT ?= 22
SSH_KEY ?=
SSH_OPTS ?=
FLASH_ROOT ?=

# The package's Description field (cargo-deb's would be the edge crate's library summary).
define PKG_DEB_DESCRIPTION
Description: face-detector camera service for Raspberry Pi and Jetson boards
 facecam captures frames from a camera (V4L2 or a CSI camera pipe), finds faces
 with a small ONNX model run by tract, tracks them and draws boxes, stickers or
 privacy masks onto a framebuffer or an SPI LCD.
 .
 It runs as the facecam systemd service under an unprivileged facecam user; the
 board profile and options are set in /etc/facecam/facecam.conf.
endef
export PKG_DEB_DESCRIPTION

pkg_version = $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
pkg_arch = $(if $(filter aarch64-%,$(1)),arm64,$(if $(filter armv7-%,$(1)),armhf,$(if $(1),unsupported-$(1),$(shell dpkg --print-architecture))))
pkg_strip = $(if $(filter aarch64-%,$(1)),aarch64-linux-gnu-strip,$(if $(filter armv7-%,$(1)),arm-linux-gnueabihf-strip,strip))
pkg_board_target = $(shell sed -n 's/^target = "\(.*\)"/\1/p' boards/$(BOARD).toml 2>/dev/null)
pkg_deb_file = $(DEB_OUT)/facecam_$(pkg_version)-1_$(call pkg_arch,$(1)).deb

.PHONY: packaging-tools deb deb-board flash deploy

# cargo-deb (compiled once, a minute or two) and the dpkg/binutils tools packaging uses.
packaging-tools:
	@command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
	@for t in dpkg-deb readelf ssh rsync; do command -v $$t >/dev/null || { echo "packaging needs $$t (Debian: dpkg, binutils, openssh-client, rsync)" >&2; exit 1; }; done

# The package for TARGET (empty: the host). The binary is stripped into DEB_STAGE, cargo-deb
# packages it (quickly compressed), then libc6's minimum version is set from the newest
# GLIBC_ symbol version the binary needs and the package is recompressed.
deb: packaging-tools
	@set -e; arch=$(call pkg_arch,$(TARGET)); \
	case $$arch in unsupported-*) echo "deb: TARGET $(TARGET) is not packaged (aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf)" >&2; exit 1;; esac; \
	bin="$(FACECAM_BIN)"; \
	if [ -z "$$bin" ] && [ -z "$(TARGET)" ]; then \
	  cargo build --release -p facecam-edge --bin facecam; bin=$(CARGO_TARGET_DIR)/release/facecam; \
	elif [ -z "$$bin" ]; then \
	  for c in $(CROSS_DIR)/$(TARGET)/board/facecam $(ZIG_DIR)/$(TARGET)/board/facecam; do \
	    if [ -f $$c ]; then bin=$$c; break; fi; done; \
	  [ -n "$$bin" ] || { echo "deb: no facecam binary built for $(TARGET): make cross BOARD=… first, or pass FACECAM_BIN=path" >&2; exit 1; }; \
	fi; \
	[ -f "$$bin" ] || { echo "deb: no binary at $$bin" >&2; exit 1; }; \
	case $$arch in arm64) machine=AArch64;; armhf) machine=ARM;; *) machine=X86-64;; esac; \
	LC_ALL=C readelf -h "$$bin" | grep -q "Machine: .*$$machine\$$" || \
	  { echo "deb: $$bin is not a $$arch binary" >&2; exit 1; }; \
	stage=$(DEB_STAGE)/$(if $(TARGET),$(TARGET)/)release; rm -rf $(DEB_STAGE); mkdir -p $$stage $(DEB_OUT); \
	if command -v $(call pkg_strip,$(TARGET)) >/dev/null; then $(call pkg_strip,$(TARGET)) -o $$stage/facecam "$$bin"; \
	else echo "deb: $(call pkg_strip,$(TARGET)) missing, packaging $$bin unstripped" >&2; cp "$$bin" $$stage/facecam; fi; \
	glibc=$$(LC_ALL=C readelf -V --wide $$stage/facecam | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1); \
	deb=$(call pkg_deb_file,$(TARGET)); \
	CARGO_TARGET_DIR=$(abspath $(DEB_STAGE)) cargo deb -p facecam-edge --no-build --no-strip --no-dbgsym \
	  --fast --compress-type gz --compress-system $(if $(TARGET),--target $(TARGET)) --output $$deb >/dev/null; \
	tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; dpkg-deb --raw-extract $$deb $$tmp/p; \
	sed -i -E -e "s/^(Depends:.*)\blibc6(,|$$)/\1libc6 (>= $$glibc)\2/" -e '/^Description:/,$$d' $$tmp/p/DEBIAN/control; \
	printf '%s\n' "$$PKG_DEB_DESCRIPTION" >> $$tmp/p/DEBIAN/control; \
	dpkg-deb --root-owner-group $(if $(DEB_FAST),-Zgzip -z1,-Zxz) --build $$tmp/p $$deb >/dev/null; \
	echo "$$deb ($$(du -h $$deb | cut -f1), $$arch, needs glibc >= $$glibc)"

# A board's package: its cross build (boards/boards.mk), packaged into DEB_OUT/BOARD.
deb-board:
	@test -f boards/$(BOARD).toml || { echo "unknown board '$(BOARD)'" >&2; exit 1; }
	$(MAKE) --no-print-directory cross BOARD=$(BOARD)
	$(MAKE) --no-print-directory deb TARGET=$(pkg_board_target) FACECAM_BIN=out/boards/$(BOARD)/facecam DEB_OUT=$(DEB_OUT)/$(BOARD)

# Install on HOST over ssh: DEB=path, else the board's package is built first.
flash:
	@test -n "$(HOST)" || { echo "flash: set HOST=user@host, e.g. make flash BOARD=rpi4 HOST=pi@raspberrypi.local" >&2; exit 1; }
	@test -f boards/$(BOARD).toml || { echo "flash: unknown board '$(BOARD)'" >&2; exit 1; }
	$(if $(DEB),,$(MAKE) --no-print-directory deb-board BOARD=$(BOARD))
	@HOST='$(HOST)' BOARD='$(BOARD)' SSH_PORT='$(SSH_PORT)' SSH_KEY='$(SSH_KEY)' SSH_OPTS='$(SSH_OPTS)' \
	  FLASH_ROOT='$(FLASH_ROOT)' DEB='$(or $(DEB),$(DEB_OUT)/$(BOARD)/facecam_$(pkg_version)-1_$(call pkg_arch,$(pkg_board_target)).deb)' \
	  packaging/flash.sh

# The developer loop: rsync the binary (FACECAM_BIN=path, else the board's cross build)
# to a HOST that has the package, and restart the service.
deploy:
	@test -n "$(HOST)" || { echo "deploy: set HOST=user@host, e.g. make deploy BOARD=rpi4 HOST=pi@raspberrypi.local" >&2; exit 1; }
	$(if $(FACECAM_BIN),,$(MAKE) --no-print-directory cross BOARD=$(BOARD))
	@HOST='$(HOST)' SSH_PORT='$(SSH_PORT)' SSH_KEY='$(SSH_KEY)' SSH_OPTS='$(SSH_OPTS)' FLASH_ROOT='$(FLASH_ROOT)' \
	  BIN='$(or $(FACECAM_BIN),out/boards/$(BOARD)/facecam)' packaging/deploy.sh
