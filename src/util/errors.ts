/**
 * Error classes. Every error mig raises on purpose is a MigError with a stable `code`
 * (listed in docs/errors.md), structured `data`, and `toJSON()` for `--json` output.
 * The CLI maps codes to exit statuses (see src/cli/exit.ts).
 */
export class MigError extends Error {
  readonly code: string;
  readonly data: Record<string, unknown>;

  constructor(code: string, message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.data = data;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.name, code: this.code, message: this.message, ...this.data };
  }
}

export interface FormatLocation {
  /** File the problem is in. */
  file: string;
  /** Absolute byte offset in that file where the offending field starts. */
  offset: number;
  /** Name of the field or record that is wrong (e.g. "libvirt header magic"). */
  field?: string;
}

/** The bytes of an image do not follow its format: bad magic, truncation, impossible lengths. */
export class ImageFormatError extends MigError {
  constructor(code: string, what: string, loc: FormatLocation, options?: { cause?: unknown }) {
    const where = `${loc.file}: offset ${loc.offset} (0x${loc.offset.toString(16)})` + (loc.field ? `, ${loc.field}` : '');
    super(code, `${where}: ${what}`, { file: loc.file, offset: loc.offset, field: loc.field }, options);
  }
}

/** A well-formed image that uses a feature mig does not handle (compressed save image, XBZRLE, mapped-ram, kdump). */
export class UnsupportedImageError extends ImageFormatError {
  constructor(what: string, loc: FormatLocation) {
    super('IMAGE_UNSUPPORTED', what, loc);
  }
}

/** A guest-physical address that is not backed by any memory of the image. */
export class AddressFault extends MigError {
  constructor(gpa: number, length: number, detail = 'not present in the image') {
    super('ADDRESS_FAULT', `guest-physical 0x${gpa.toString(16)}+${length}: ${detail}`, { gpa, length });
  }
}

/** Wrong command-line usage or an input file that cannot be opened. */
export class UsageError extends MigError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('USAGE', message, data);
  }
}

/** Error codes of ImageFormatError, grouped; docs/errors.md lists them. */
export const ImageErrorCode = {
  TRUNCATED: 'IMAGE_TRUNCATED',
  BAD_MAGIC: 'IMAGE_BAD_MAGIC',
  BAD_FIELD: 'IMAGE_BAD_FIELD',
  INCOMPLETE: 'IMAGE_INCOMPLETE',
  UNSUPPORTED: 'IMAGE_UNSUPPORTED',
  UNKNOWN_FORMAT: 'IMAGE_UNKNOWN_FORMAT',
} as const;

/**
 * Guest introspection could not understand the guest: no VMCOREINFO (not a Linux guest, or a kernel
 * without crash_core), a missing key or symbol, a page-flag scheme not understood, or kernel
 * structures that do not match the memory. The message names what was missing.
 */
export class IntrospectionError extends MigError {
  constructor(code: IntrospectionErrorCodeValue, message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, data, options);
  }
}

export const IntrospectionErrorCode = {
  /** No VMCOREINFO note and none found in guest memory. */
  NO_VMCOREINFO: 'INTROSPECT_NO_VMCOREINFO',
  /** A VMCOREINFO key, kallsyms symbol or BTF type that is required is absent. */
  MISSING: 'INTROSPECT_MISSING',
  /** The kernel uses something not handled (page size, page-type scheme, architecture). */
  UNSUPPORTED: 'INTROSPECT_UNSUPPORTED',
  /** Kernel data does not agree with the memory (symbols do not translate, pointers out of range). */
  INCONSISTENT: 'INTROSPECT_INCONSISTENT',
} as const;
export type IntrospectionErrorCodeValue = (typeof IntrospectionErrorCode)[keyof typeof IntrospectionErrorCode];
