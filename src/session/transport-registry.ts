/**
 * Which transport carries which protocol. The browser-safe core registers nothing; `rxcoap/node` registers
 * udp and dtls when it is imported (MQTT.js `connect/index.ts` style), so a browser bundle never pulls `node:`.
 */
import { CoapArgumentError } from '../errors';
import type { TransportFactory } from '../transport/transport';

/** Session protocols. */
export type CoapProto = 'udp' | 'dtls';

/** Everything a transport maker may need; each picks its own part. */
export interface TransportTarget {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** DTLS-PSK only. */
  readonly psk?: import('./session-options').ResolvedPsk;
  readonly scheduler: import('rxjs').SchedulerLike;
}

/** Makes a transport factory for a target. */
export type TransportMaker = (target: TransportTarget) => TransportFactory;

const makers = new Map<CoapProto, { make: TransportMaker; frameOverhead: number }>();

/** Registers the maker for `proto` (done by `rxcoap/node`). */
export function registerTransport(proto: CoapProto, make: TransportMaker, frameOverhead: number): void {
  makers.set(proto, { make, frameOverhead });
}

/** The maker for `proto`, or a clear error saying how to get one. */
export function transportFor(proto: CoapProto): { make: TransportMaker; frameOverhead: number } {
  const maker = makers.get(proto);
  if (maker === undefined) {
    throw new CoapArgumentError(
      `no ${proto} transport is registered: import from 'rxcoap/node' in Node, or pass a transport factory ('transport' option)`,
    );
  }
  return maker;
}
