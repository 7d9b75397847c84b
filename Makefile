# mig — top-level Makefile. `make demo` and `make test` set up a fresh Debian 12 machine (as root).
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Where the real test guests and their captures live (outside git; reused when present).
VM_CACHE ?= /var/cache/mig/vm-images
export VM_CACHE

STAMP_DIR := .cache
# ntfs-3g: `mig context build` reads NTFS images with ntfsls/ntfsinfo/ntfscat; wimtools: the tests
# lay out NTFS images with it (wimlib writes through libntfs-3g; ntfs-3g's ntfscp cannot make directories).
APT_PACKAGES := qemu-system-x86 qemu-utils linux-image-amd64 debootstrap e2fsprogs \
  libvirt-daemon-system libvirt-clients libvirt-dev openssh-server zstd xz-utils gzip \
  pkg-config build-essential python3 ca-certificates iproute2 qemu-user-static ntfs-3g wimtools

.PHONY: system-deps npm-deps build services demo test test-unit test-integration test-faults fuzz bench bench-quick bench-migrate install install-hooks clean vm-images vm-small vm-large vm-i386 vm-i386-pae

# System packages (Debian 12). Skipped when every package is already installed; checked again
# whenever this Makefile changes (so a package added to APT_PACKAGES reaches machines set up before).
system-deps: $(STAMP_DIR)/system-deps.stamp
$(STAMP_DIR)/system-deps.stamp: Makefile
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

# The guests' stamps name the /boot kernel, which system-deps installs (linux-image-amd64): on a fresh
# machine it is not there when this Makefile is read, so guests are built by a sub-make that reads
# it again after system-deps (otherwise the next make would see another kernel and rebuild them).
GUEST = $(MAKE) --no-print-directory

# The whole suite: unit tests on generated fixtures + integration tests on the real guests (all four
# built first when missing: introspection is checked on mig-large too, the readers on the 32-bit
# guests) with the real libvirtd. TAP goes to $(STAMP_DIR)/test.tap; the last
# line printed is "N passed, N failed".
test: build services
	@$(GUEST) vm-small vm-large vm-i386 vm-i386-pae
	@mkdir -p $(STAMP_DIR)
	@set -o pipefail; npx ava --tap 2>&1 | tee $(STAMP_DIR)/test.tap; rc=$$?; \
	  bash scripts/tap-summary.sh $(STAMP_DIR)/test.tap; exit $$rc

# Quick edit loop: unit tests only (no guests, no libvirtd).
test-unit: build
	npx ava 'dist/test/unit/**/*.test.js'

test-integration: build services
	@$(GUEST) vm-small vm-large vm-i386 vm-i386-pae
	npx ava 'dist/test/integration/**/*.test.js'

# The whole fault matrix of mig migrate (docs/reliability.md, "Faults in migration"): every cell of
# test/integration/faults.test.ts (`make test` runs the cells marked for CI, at least one per stage).
test-faults: build services
	@$(GUEST) vm-small
	MIG_FAULTS=all npx ava 'dist/test/integration/faults*.test.js'

# Fuzzing (test/fuzz/; not part of `make test`, which runs 300 cases of every target with a fixed seed
# in test/unit/fuzz-harness.test.ts and replays test/fuzz/corpus/): 100,000 cases each for the four
# image readers, the .mig decoder and the page-map parser, 25,000 for the decoder with baseline and
# context, the context reader and introspection. One worker thread; 13 minutes on 2 shared cores
# (figures: docs/reliability.md, "Fuzzing"). Failures are saved under test/fuzz/corpus/ or pending/.
FUZZ_SEED ?= 1
FUZZ_CASES ?= 100000
FUZZ_CASES_SMALL ?= 25000
fuzz: build
	@mkdir -p $(STAMP_DIR)
	node dist/test/fuzz/run.js --seed $(FUZZ_SEED) --cases $(FUZZ_CASES) \
	  --cases mig-decode-ref=$(FUZZ_CASES_SMALL),context=$(FUZZ_CASES_SMALL),introspect=$(FUZZ_CASES_SMALL) \
	  --why 8 --json $(STAMP_DIR)/fuzz.json

# Benchmarks (not tests), on the large guest: reader throughput against cat, the general-purpose
# compressors (gzip/zstd/xz/--patch-from; ~1 h with zstd -19 and xz -6), then mig encode/decode
# next to them with the migration-time model and the targets; introspection (page map vs one read)
# on the large and the two i386 guests, and the i386 guests' save images next to gzip -6 and
# zstd --patch-from=<their /usr> (bench/guest-bytes.ts); generated 512 MiB Windows 7 x86 guests,
# non-PAE and PAE (page map vs one read; bytes vs gzip -6, zstd and zstd --patch-from=<the guest's
# files>, mig per technique: bench/windows.ts). Results: bench/results/ (git-ignored).
# `make bench-quick` skips the two slow compressor lines (~10 min).
BENCH_LINES ?=
bench: build services
	@$(GUEST) vm-large vm-i386 vm-i386-pae
	node dist/bench/info-read.js $(VM_CACHE)/mig-large
	node dist/bench/baselines.js $(VM_CACHE)/mig-large $(if $(BENCH_LINES),--only $(BENCH_LINES))
	GLIBC_TUNABLES=glibc.malloc.hugetlb=1 node dist/bench/mig-codec.js $(VM_CACHE)/mig-large
	node dist/bench/introspect.js $(VM_CACHE)/mig-large $(VM_CACHE)/mig-i386 $(VM_CACHE)/mig-i386-pae
	node dist/bench/guest-bytes.js $(VM_CACHE)/mig-i386 $(VM_CACHE)/mig-i386-pae
	node dist/bench/windows.js

bench-quick:
	$(MAKE) bench BENCH_LINES=gzip-1,gzip-6,zstd-3,zstd-3-long,patch-rootfs,patch-save1

# End-to-end migration (small guest, loopback sshd, libvirtd): gzip and zstd pipelines vs mig migrate --level 3 and auto, 10, 100 and 1000 Mbps.
bench-migrate: build services
	@$(GUEST) vm-small
	node dist/bench/migrate.js --mbps 10,100,1000

# Everything installed and built, the sample guest built, `mig info` on its save image, then the main
# job: the running guest migrated twice with `mig migrate` over a loopback sshd (bench/demo.ts).
demo: build services
	@$(GUEST) vm-small
	@echo; echo ">> mig info $(VM_CACHE)/mig-small/save1.img"
	@node dist/src/cli/main.js info $(VM_CACHE)/mig-small/save1.img
	@echo; echo ">> mig migrate, twice (loopback sshd, same libvirtd)"
	@node dist/bench/demo.js

# Put `mig` on PATH (/usr/local/bin/mig → this checkout's build).
install: build
	ln -sf $(CURDIR)/dist/src/cli/main.js /usr/local/bin/mig
	chmod +x dist/src/cli/main.js

# The libvirt hook (hooks/qemu): indexes managed-save images as baselines. libvirtd reads hook
# scripts at start, so restart it afterwards.
install-hooks: install
	install -d /etc/libvirt/hooks/qemu.d
	install -m 0755 hooks/qemu /etc/libvirt/hooks/qemu.d/mig
	@echo "installed /etc/libvirt/hooks/qemu.d/mig; restart libvirtd to activate it"

clean:
	rm -rf dist $(STAMP_DIR)
