/**
 * One OpenTelemetry resource per observed process, cached by pid (bounded).
 * service.name is the process's executable name for now; the identity work
 * (process, container, Kubernetes) refines it.
 *
 * Example:
 *   const resources = new ProcessResources({ hostName: os.hostname() });
 *   const ref = resources.forProcess(4242, 'nginx');  // { key, resource }
 */
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ResourceRef } from './metric-store';
import { VERSION } from '../version';

export interface ProcessResourcesOptions {
  hostName?: string;
  /** added to every resource (OTEL_RESOURCE_ATTRIBUTES, config) */
  extra?: Attributes;
  capacity?: number;
  /** where to read /proc from (tests) */
  procRoot?: string;
}

/** The attributes describing the telemetry producer, on every resource. */
export function telemetryAttributes(): Attributes {
  return {
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.version': VERSION.otelSdk,
    'telemetry.distro.name': 'kindling',
    'telemetry.distro.version': VERSION.kindling,
  };
}

export class ProcessResources {
  readonly #cache = new Map<number, ResourceRef>();
  readonly #host: string;
  readonly #extra: Attributes;
  readonly #capacity: number;
  readonly #proc: string;

  constructor(options: ProcessResourcesOptions = {}) {
    this.#host = options.hostName ?? os.hostname();
    this.#extra = options.extra ?? {};
    this.#capacity = options.capacity ?? 4096;
    this.#proc = options.procRoot ?? '/proc';
  }

  forProcess(pid: number, comm: string): ResourceRef {
    const hit = this.#cache.get(pid);
    // a reused pid shows up as a different comm
    if (hit && hit.resource.attributes['kindling.process.comm'] === comm) return hit;
    if (this.#cache.size >= this.#capacity) this.#cache.delete(this.#cache.keys().next().value as number);
    const exe = this.#executable(pid);
    const name = exe ? path.basename(exe) : comm;
    const attrs: Attributes = {
      'service.name': name,
      'service.instance.id': `${this.#host}/${pid}`,
      'host.name': this.#host,
      'os.type': 'linux',
      'process.pid': pid,
      'process.executable.name': name,
      ...(exe ? { 'process.executable.path': exe } : {}),
      'kindling.process.comm': comm,
      ...telemetryAttributes(),
      ...this.#extra,
    };
    const ref = { key: `${pid}/${comm}`, resource: resourceFromAttributes(attrs) };
    this.#cache.set(pid, ref);
    return ref;
  }

  #executable(pid: number): string | undefined {
    try {
      const exe = fs.readlinkSync(path.join(this.#proc, String(pid), 'exe'));
      return exe.replace(/ \(deleted\)$/, '');
    } catch {
      return undefined; // exited, or another pid namespace: the kernel's comm will do
    }
  }
}
