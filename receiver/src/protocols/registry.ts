/**
 * Protocol detection: the first bytes a connection carries pick its protocol
 * and, when the kernel did not see accept or connect, its role. Later protocols
 * add a detector here; nothing else changes.
 */
import type { Connection, ProtocolSession } from '../conn/connection';
import type { HttpSessionDeps } from './http1-session';
import { Http1Session } from './http1-session';
import { looksLikeRequest, looksLikeResponse } from './http1';
import type { Direction, Role } from './types';

export interface Detection {
  protocol: string;
  /** the role the bytes imply for this process */
  role: Role;
}

/** Where the first bytes were seen. */
export interface DetectContext {
  transport: 'tcp' | 'udp';
  localPort: number;
  remotePort: number;
}

export interface Detector {
  protocol: string;
  /** which transports the protocol runs on (default tcp) */
  transports?: readonly ('tcp' | 'udp')[];
  /** does this protocol start with these bytes, sent in this direction? The role they imply, if so. */
  detect(direction: Direction, data: Uint8Array, where: DetectContext): Role | undefined;
  create(role: Role, conn: Connection): ProtocolSession;
}

export function http1Detector(deps: HttpSessionDeps): Detector {
  return {
    protocol: 'http1',
    detect(direction, data) {
      // whoever writes a request is the client
      if (looksLikeRequest(data)) return direction === 'egress' ? 'client' : 'server';
      if (looksLikeResponse(data)) return direction === 'ingress' ? 'client' : 'server';
      return undefined;
    },
    create(role) {
      return new Http1Session(role, deps);
    },
  };
}

export function detect(detectors: readonly Detector[], direction: Direction, data: Uint8Array, where: DetectContext): (Detection & { detector: Detector }) | undefined {
  for (const d of detectors) {
    if (!(d.transports ?? ['tcp']).includes(where.transport)) continue;
    const role = d.detect(direction, data, where);
    if (role) return { protocol: d.protocol, role, detector: d };
  }
  return undefined;
}
