# vm-images: real test guests (placeholder; recipes arrive in the next commits).
vm-rootfs vm-small vm-large vm-images:
	@echo "vm-images: not implemented yet" >&2; exit 1
