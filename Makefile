# mig — top-level Makefile. `make demo` and `make test` set up a fresh Debian 12 machine (as root).
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Where the real test guests and their captures live (outside git; reused when present).
VM_CACHE ?= /var/cache/mig/vm-images
export VM_CACHE

STAMP_DIR := .cache
APT_PACKAGES := qemu-system-x86 qemu-utils linux-image-amd64 debootstrap e2fsprogs \
  libvirt-daemon-system libvirt-clients libvirt-dev openssh-server zstd xz-utils gzip \
  pkg-config build-essential python3 ca-certificates iproute2

.PHONY: system-deps npm-deps build services demo test test-unit test-integration bench clean vm-images vm-small vm-large

# System packages (Debian 12). Skipped when every package is already installed.
system-deps: $(STAMP_DIR)/system-deps.stamp
$(STAMP_DIR)/system-deps.stamp:
	@mkdir -p $(STAMP_DIR)
	@if dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | grep -vq 'install ok installed' || \
	    [ "$$(dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | wc -l)" -lt "$(words $(APT_PACKAGES))" ]; then \
	  echo ">> installing system packages"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(APT_PACKAGES); \
	fi
	@touch $@

# npm dependencies; native addons (zstd-napi, xxhash-addon, @unraid/libvirt, ssh2) compile from source.
npm-deps: node_modules/.mig-stamp
node_modules/.mig-stamp: package.json package-lock.json | system-deps
	npm ci
	@touch $@

build: npm-deps
	npx tsc -p tsconfig.json

# libvirt needs virtlogd and libvirtd; there is no systemd here, so start them when not running.
services: system-deps
	@pgrep -x virtlogd >/dev/null || virtlogd -d
	@pgrep -x libvirtd >/dev/null || libvirtd -d
	@for i in $$(seq 1 50); do virsh -c qemu:///system version >/dev/null 2>&1 && exit 0; sleep 0.2; done; \
	  echo "libvirtd did not come up" >&2; exit 1

include vm-images/vm-images.mk

clean:
	rm -rf dist $(STAMP_DIR)
