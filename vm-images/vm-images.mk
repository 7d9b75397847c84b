# vm-images: the real test guests and their memory images (see vm-images/README.md).
# Everything lands in $(VM_CACHE) (outside git). Incremental by content: a guest is captured again
# only when the scripts that make it (or the rootfs/kernel under it) changed — see the stamps below.
#   make vm-rootfs   debootstrap base + rootfs.ext4 + kernel/initrd in $(VM_CACHE)/common
#   make vm-small    mig-small, 256 MiB      make vm-large   mig-large, 1 GiB
#   make vm-rootfs-i386   i386 debootstrap base + both i386 kernels + rootfs.ext4 in $(VM_CACHE)/common-i386
#   make vm-i386     mig-i386, 384 MiB, 686 (non-PAE) kernel, i440fx, SeaBIOS as pflash → ELF32 dump
#   make vm-i386-pae mig-i386-pae, 512 MiB, 686-pae kernel, q35, default BIOS → ELF64 (EM_386) dump
#   make vm-images   all four
# Knobs (environment or make command line): DEBIAN_MIRROR, ACCEL=auto|kvm|tcg, ACTIVITY_SECONDS,
# HEAP_PCT, CACHE_PCT, COMPRESS_PCT, HEARTBEAT_SECONDS, WORKLOAD_SEED, PAGEMAP, SAVE2 (see build-guest.sh).
VM_IMAGES_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
VM_COMMON := $(VM_CACHE)/common
DEBIAN_MIRROR ?= http://deb.debian.org/debian
VM_ENV := DEBIAN_MIRROR='$(DEBIAN_MIRROR)' $(foreach v,ACCEL ACTIVITY_SECONDS HEAP_PCT CACHE_PCT COMPRESS_PCT HEARTBEAT_SECONDS WORKLOAD_SEED KERNEL_VERSION PAGEMAP SAVE2,$(if $($(v)),$(v)='$($(v))'))

.PHONY: vm-rootfs vm-small vm-large vm-images vm-rootfs-i386 vm-i386 vm-i386-pae

# Rebuilds are decided by content, not file times: a fresh clone (CI) has new mtimes on every
# script but must reuse the guests already in $(VM_CACHE). Each stage leaves a stamp named after
# the hash of what made it (its scripts + the previous stage's hash); a changed script changes the
# name, the stamp is missing, and that stage and the ones after it run again.
vm_hash = $(shell cat $(1) 2>/dev/null | sha256sum | cut -c1-16)
VM_KERNEL := $(shell ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
VM_BASE_HASH := $(call vm_hash,$(VM_IMAGES_DIR)/mk-base.sh $(VM_IMAGES_DIR)/lib.sh)
VM_ROOTFS_HASH := $(shell echo '$(VM_BASE_HASH) $(VM_KERNEL) $(KERNEL_VERSION)' | cat - $(VM_IMAGES_DIR)/mk-rootfs.sh $(sort $(wildcard $(VM_IMAGES_DIR)/guest/*)) | sha256sum | cut -c1-16)
VM_GUEST_HASH := $(shell echo '$(VM_ROOTFS_HASH)' | cat - $(VM_IMAGES_DIR)/build-guest.sh $(VM_IMAGES_DIR)/lib.sh | sha256sum | cut -c1-16)

$(VM_COMMON)/.stamp-base-$(VM_BASE_HASH): | system-deps
	@$(VM_ENV) bash $(VM_IMAGES_DIR)/mk-base.sh
	@rm -f $(VM_COMMON)/.stamp-base-* && touch $@

$(VM_COMMON)/.stamp-rootfs-$(VM_ROOTFS_HASH): $(VM_COMMON)/.stamp-base-$(VM_BASE_HASH) | system-deps
	@$(VM_ENV) bash $(VM_IMAGES_DIR)/mk-rootfs.sh
	@rm -f $(VM_COMMON)/.stamp-rootfs-* && touch $@

$(VM_CACHE)/%/.stamp-guest-$(VM_GUEST_HASH): $(VM_COMMON)/.stamp-rootfs-$(VM_ROOTFS_HASH) | services
	@$(VM_ENV) bash $(VM_IMAGES_DIR)/build-guest.sh $* $(if $(filter mig-small,$*),256,1024)
	@test -f $(VM_CACHE)/$*/manifest.json
	@rm -f $(VM_CACHE)/$*/.stamp-guest-* && touch $@

vm-rootfs: $(VM_COMMON)/.stamp-rootfs-$(VM_ROOTFS_HASH)
	@bash $(VM_IMAGES_DIR)/show.sh common

vm-small: $(VM_CACHE)/mig-small/.stamp-guest-$(VM_GUEST_HASH)
	@bash $(VM_IMAGES_DIR)/show.sh mig-small

vm-large: $(VM_CACHE)/mig-large/.stamp-guest-$(VM_GUEST_HASH)
	@bash $(VM_IMAGES_DIR)/show.sh mig-large

# The i386 guests: their own tree in $(VM_CACHE)/common-i386 with their own stamps, so the amd64
# stages above are not rebuilt for them. The base hash covers mk-base.sh too (its package list is
# read from there). 32-bit guests run under TCG (nested KVM fails on them here: emulation failure on
# rdrand), with -cpu max (PAE, NX); no save2/activity phase (SAVE2=0) to keep the build short, and a
# sample of /proc/PID/pagemap (PAGEMAP pages per process) captured with kpageflags.
VM_I386_COMMON := $(VM_CACHE)/common-i386
VM_I386_BASE_HASH := $(call vm_hash,$(VM_IMAGES_DIR)/mk-base-i386.sh $(VM_IMAGES_DIR)/mk-base.sh $(VM_IMAGES_DIR)/lib.sh)
VM_I386_ROOTFS_HASH := $(shell echo '$(VM_I386_BASE_HASH)' | cat - $(VM_IMAGES_DIR)/mk-rootfs-i386.sh $(sort $(wildcard $(VM_IMAGES_DIR)/guest/*)) | sha256sum | cut -c1-16)
VM_I386_GUEST_HASH := $(shell echo '$(VM_I386_ROOTFS_HASH)' | cat - $(VM_IMAGES_DIR)/build-guest.sh $(VM_IMAGES_DIR)/lib.sh | sha256sum | cut -c1-16)
VM_I386_ENV := GUEST_ARCH=i686 GUEST_COMMON=common-i386 ACCEL=tcg TCG_CPU_MODEL=maximum SAVE2=0 PAGEMAP=$(or $(PAGEMAP),200)

$(VM_I386_COMMON)/.stamp-base-$(VM_I386_BASE_HASH): | system-deps
	@$(VM_ENV) bash $(VM_IMAGES_DIR)/mk-base-i386.sh
	@rm -f $(VM_I386_COMMON)/.stamp-base-* && touch $@

$(VM_I386_COMMON)/.stamp-rootfs-$(VM_I386_ROOTFS_HASH): $(VM_I386_COMMON)/.stamp-base-$(VM_I386_BASE_HASH) | system-deps
	@$(VM_ENV) bash $(VM_IMAGES_DIR)/mk-rootfs-i386.sh
	@rm -f $(VM_I386_COMMON)/.stamp-rootfs-* && touch $@

$(VM_CACHE)/mig-i386/.stamp-guest-$(VM_I386_GUEST_HASH): $(VM_I386_COMMON)/.stamp-rootfs-$(VM_I386_ROOTFS_HASH) | services
	@$(VM_ENV) $(VM_I386_ENV) KERNEL_FLAVOUR=686 MACHINE=pc FIRMWARE=seabios-pflash DUMP_ELF_CLASS=32 \
	  bash $(VM_IMAGES_DIR)/build-guest.sh mig-i386 384
	@test -f $(VM_CACHE)/mig-i386/manifest.json
	@rm -f $(VM_CACHE)/mig-i386/.stamp-guest-* && touch $@

$(VM_CACHE)/mig-i386-pae/.stamp-guest-$(VM_I386_GUEST_HASH): $(VM_I386_COMMON)/.stamp-rootfs-$(VM_I386_ROOTFS_HASH) | services
	@$(VM_ENV) $(VM_I386_ENV) KERNEL_FLAVOUR=686-pae MACHINE=q35 FIRMWARE=default DUMP_ELF_CLASS=64 \
	  bash $(VM_IMAGES_DIR)/build-guest.sh mig-i386-pae 512
	@test -f $(VM_CACHE)/mig-i386-pae/manifest.json
	@rm -f $(VM_CACHE)/mig-i386-pae/.stamp-guest-* && touch $@

vm-rootfs-i386: $(VM_I386_COMMON)/.stamp-rootfs-$(VM_I386_ROOTFS_HASH)
	@bash $(VM_IMAGES_DIR)/show.sh common-i386

vm-i386: $(VM_CACHE)/mig-i386/.stamp-guest-$(VM_I386_GUEST_HASH)
	@bash $(VM_IMAGES_DIR)/show.sh mig-i386

vm-i386-pae: $(VM_CACHE)/mig-i386-pae/.stamp-guest-$(VM_I386_GUEST_HASH)
	@bash $(VM_IMAGES_DIR)/show.sh mig-i386-pae

vm-images: vm-small vm-large vm-i386 vm-i386-pae
