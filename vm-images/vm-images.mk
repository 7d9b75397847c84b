# vm-images: the real test guests and their memory images (see vm-images/README.md).
# Everything lands in $(VM_CACHE) (outside git). Incremental: a guest is captured again only when
# its manifest is missing or older than the rootfs/kernel or the scripts that make it.
#   make vm-rootfs   debootstrap base + rootfs.ext4 + kernel/initrd in $(VM_CACHE)/common
#   make vm-small    mig-small, 256 MiB      make vm-large   mig-large, 1 GiB
#   make vm-images   both
# Knobs (environment or make command line): DEBIAN_MIRROR, ACCEL=auto|kvm|tcg, ACTIVITY_SECONDS,
# HEAP_PCT, CACHE_PCT, COMPRESS_PCT, HEARTBEAT_SECONDS, WORKLOAD_SEED (see build-guest.sh).
VM_IMAGES_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
VM_COMMON := $(VM_CACHE)/common
DEBIAN_MIRROR ?= http://deb.debian.org/debian
VM_ENV := DEBIAN_MIRROR='$(DEBIAN_MIRROR)' $(foreach v,ACCEL ACTIVITY_SECONDS HEAP_PCT CACHE_PCT COMPRESS_PCT HEARTBEAT_SECONDS WORKLOAD_SEED KERNEL_VERSION,$(if $($(v)),$(v)='$($(v))'))
VM_GUEST_DEPS := $(VM_COMMON)/rootfs.ext4 $(VM_IMAGES_DIR)/build-guest.sh $(VM_IMAGES_DIR)/lib.sh

.PHONY: vm-rootfs vm-small vm-large vm-images

$(VM_COMMON)/base/.mig-base: $(VM_IMAGES_DIR)/mk-base.sh | system-deps
	@$(VM_ENV) bash $(VM_IMAGES_DIR)/mk-base.sh

$(VM_COMMON)/rootfs.ext4: $(VM_COMMON)/base/.mig-base $(VM_IMAGES_DIR)/mk-rootfs.sh $(VM_IMAGES_DIR)/lib.sh \
    $(wildcard $(VM_IMAGES_DIR)/guest/*) $(wildcard /boot/vmlinuz-* /boot/initrd.img-*) | system-deps
	@$(VM_ENV) bash $(VM_IMAGES_DIR)/mk-rootfs.sh

$(VM_CACHE)/mig-small/manifest.json: $(VM_GUEST_DEPS) | services
	@$(VM_ENV) bash $(VM_IMAGES_DIR)/build-guest.sh mig-small 256

$(VM_CACHE)/mig-large/manifest.json: $(VM_GUEST_DEPS) | services
	@$(VM_ENV) bash $(VM_IMAGES_DIR)/build-guest.sh mig-large 1024

vm-rootfs: $(VM_COMMON)/rootfs.ext4
	@bash $(VM_IMAGES_DIR)/show.sh common

vm-small: $(VM_CACHE)/mig-small/manifest.json
	@bash $(VM_IMAGES_DIR)/show.sh mig-small

vm-large: $(VM_CACHE)/mig-large/manifest.json
	@bash $(VM_IMAGES_DIR)/show.sh mig-large

vm-images: vm-small vm-large
