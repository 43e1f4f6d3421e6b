/**
 * One catalog of errors with stable codes. A code is never reused for a
 * different meaning; the native addon throws the same codes.
 *
 * Example:
 *   try { await source.start(onBatch); }
 *   catch (e) { if (isKindlingError(e, 'KINDLING_ERR_PERMISSION')) ... }
 */
export const ERROR_CODES = {
  KINDLING_ERR_INVALID_OPTION: 'an option has a bad value',
  KINDLING_ERR_PERMISSION: 'the process lacks a privilege eBPF needs',
  KINDLING_ERR_NO_BTF: 'the kernel exposes no BTF (/sys/kernel/btf/vmlinux)',
  KINDLING_ERR_NATIVE_MISSING: 'the native addon is not built',
  KINDLING_ERR_BPF_OBJECT_MISSING: 'the BPF object is not built',
  KINDLING_ERR_BPF_OPEN: 'the BPF object cannot be opened',
  KINDLING_ERR_BPF_OPTION: 'the BPF object cannot be configured',
  KINDLING_ERR_BPF_LOAD: 'the kernel refused to load the BPF programs',
  KINDLING_ERR_NOT_OPEN: 'a probe call came before open()',
  KINDLING_ERR_ALREADY_STARTED: 'start() or open() on a running probe',
  KINDLING_ERR_ALREADY_ATTACHED: 'attach() called twice',
  KINDLING_ERR_RINGBUF: 'the ring buffer cannot be read',
  KINDLING_ERR_NO_HOOKS: 'too few hooks attached for capture to work',
  KINDLING_ERR_CAPTURE_FORMAT: 'a capture file is truncated or corrupt',
  KINDLING_ERR_CAPTURE_ABI: 'a capture file was written with another event ABI',
  KINDLING_ERR_IO: 'a file could not be read or written',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class KindlingError extends Error {
  readonly code: ErrorCode;
  readonly errno: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; errno?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KindlingError';
    this.code = code;
    this.errno = options.errno;
  }
}

export function isKindlingError(e: unknown, code?: ErrorCode): e is KindlingError {
  return e instanceof KindlingError && (code === undefined || e.code === code);
}

/** A native addon error (plain Error with a string code) as a KindlingError. */
export function fromNative(e: unknown): KindlingError {
  if (e instanceof KindlingError) return e;
  const err = e as { code?: unknown; message?: unknown; errno?: unknown };
  const code = typeof err.code === 'string' && err.code in ERROR_CODES ? (err.code as ErrorCode) : 'KINDLING_ERR_BPF_LOAD';
  const errno = typeof err.errno === 'number' ? err.errno : undefined;
  return new KindlingError(code, String(err.message ?? e), { cause: e, ...(errno === undefined ? {} : { errno }) });
}
