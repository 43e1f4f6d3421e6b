/**
 * What every resource says about its producer. The resources themselves come
 * from metadata/identity.ts (process, container, Kubernetes).
 */
import type { Attributes } from '@opentelemetry/api';
import type { Endpoint } from '../conn/connection';
import type { ResourceRef } from './metric-store';
import { VERSION } from '../version';

/** Resources for observed processes, and names for the peers they talk to. */
export interface ResourceResolver {
  resourceFor(pid: number, comm: string, cgroupId: number): ResourceRef;
  peerAttributes(local: Endpoint, remote: Endpoint): Attributes;
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
