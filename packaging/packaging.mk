# Packaging and flashing: .deb per architecture, systemd unit, `make flash`, `make deploy`.
