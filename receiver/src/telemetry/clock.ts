/**
 * Kernel timestamps are CLOCK_MONOTONIC ns; telemetry wants wall-clock time.
 * process.hrtime is the same monotonic clock, so one offset converts them; it is
 * re-measured now and then to follow NTP adjustments of the wall clock.
 */
import type { HrTime } from '@opentelemetry/api';
import { performance } from 'node:perf_hooks';

export class WallClock {
  #offSec = 0;
  #offNs = 0;
  #measuredAt = 0;

  constructor() {
    this.resync();
  }

  /** Measure wall − monotonic again. */
  resync(): void {
    const mono = process.hrtime.bigint();
    const wallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    const off = wallNs - mono;
    this.#offSec = Number(off / 1_000_000_000n);
    this.#offNs = Number(off % 1_000_000_000n);
    this.#measuredAt = Date.now();
  }

  /** resync when the last measurement is older than maxAgeMs */
  maybeResync(maxAgeMs = 60_000): void {
    if (Date.now() - this.#measuredAt > maxAgeMs) this.resync();
  }

  /** Monotonic ns (as the kernel reports them) to an OpenTelemetry HrTime. */
  toHrTime(monoNs: number): HrTime {
    let sec = Math.floor(monoNs / 1e9) + this.#offSec;
    let ns = (monoNs % 1e9) + this.#offNs;
    if (ns >= 1e9) {
      sec += 1;
      ns -= 1e9;
    } else if (ns < 0) {
      sec -= 1;
      ns += 1e9;
    }
    return [sec, Math.round(ns)];
  }

  /** Monotonic now, in the kernel's units. */
  static monotonicNs(): number {
    return Number(process.hrtime.bigint());
  }
}

/** Duration between two monotonic ns values as an HrTime. */
export function hrDuration(startNs: number, endNs: number): HrTime {
  const d = Math.max(0, endNs - startNs);
  return [Math.floor(d / 1e9), d % 1e9];
}
