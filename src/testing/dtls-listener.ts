/**
 * A loopback DTLS 1.2 server for tests (`rxcoap/testing`): a UDP socket with one {@link DtlsTestServer} per
 * client endpoint, handing the decrypted CoAP datagrams to a handler that answers with frames, now or after a
 * delay. With {@link hostileDtlsHandler} the hostile peer's responder (`hostile-responder.ts`) speaks through
 * it, so the hostile cases run over DTLS with certificates.
 *
 * Test scaffolding: real timers (for delayed answers) and sockets; `close()` clears both.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import type { KeyObject } from 'node:crypto';
import { DEFAULT_PKI_CIPHER_SUITES } from '../transport/dtls/ecdhe-suites';
import { DtlsTestServer, type DtlsTestServerOptions } from './dtls-test-server';
import { createHostileResponder, type HostileResponderOptions, type HostileStats } from './hostile-responder';
import { datagramFraming } from './hostile-framing';
import { assertLoopback, bindLoopbackSocket, socketTypeFor, type LoopbackHost } from './loopback';

/** Answers one decrypted datagram of `endpoint`: frames to send back, each after `delay` ms. */
export type DtlsFrameHandler = (frame: Uint8Array, endpoint: string) => readonly { readonly frame: Uint8Array; readonly delay: number }[];

/** Options of {@link startDtlsListener}. */
export interface DtlsListenerOptions {
  readonly certificates: readonly Uint8Array[];
  readonly privateKey: KeyObject;
  readonly handler: DtlsFrameHandler;
  /** Frames sent unasked every `tickInterval` ms (notifications); endpoint -> frames. */
  readonly tick?: () => readonly { readonly endpoint: string; readonly frame: Uint8Array; readonly delay: number }[];
  /** @defaultValue 20 */
  readonly tickInterval?: number;
  readonly clientCertificate?: DtlsTestServerOptions['clientCertificate'];
  readonly host?: LoopbackHost;
}

/** A running listener. */
export interface DtlsListener {
  readonly address: { readonly host: LoopbackHost; readonly port: number };
  /** Handshakes completed. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Starts a DTLS listener on a free loopback port. */
export async function startDtlsListener(options: DtlsListenerOptions): Promise<DtlsListener> {
  const host = assertLoopback(options.host ?? '127.0.0.1', 'the DTLS listener host');
  const socket = createSocket({ type: socketTypeFor(host) });
  const servers = new Map<string, DtlsTestServer>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  const later = (delay: number, work: () => void): void => {
    if (closed) return;
    if (delay <= 0) {
      work();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) work();
    }, delay);
    timers.add(timer);
  };
  const serverFor = (remote: RemoteInfo): DtlsTestServer => {
    const endpoint = `${remote.address}:${remote.port}`;
    let server = servers.get(endpoint);
    if (server === undefined) {
      const created: DtlsTestServer = new DtlsTestServer({
        certificates: options.certificates,
        privateKey: options.privateKey,
        suites: DEFAULT_PKI_CIPHER_SUITES,
        clientCertificate: options.clientCertificate,
        send: (datagram) => {
          if (!closed) socket.send(datagram, remote.port, remote.address);
        },
        onData: (frame) => {
          for (const answer of options.handler(frame, endpoint)) later(answer.delay, () => created.sendApplicationData(answer.frame));
          return undefined;
        },
      });
      server = created;
      servers.set(endpoint, server);
    }
    return server;
  };
  const port = await bindLoopbackSocket(socket, host, 0, (message, remote) => {
    try {
      serverFor(remote).receive(new Uint8Array(message));
    } catch {
      // a test server meets garbage from the fuzzers: dropped
    }
  });
  const ticker = options.tick === undefined ? undefined : setInterval(() => {
    for (const sent of options.tick!()) later(sent.delay, () => servers.get(sent.endpoint)?.sendApplicationData(sent.frame));
  }, options.tickInterval ?? 20);
  return {
    address: { host, port },
    get connections() {
      return [...servers.values()].filter((server) => server.observed.connected).length;
    },
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        if (ticker !== undefined) clearInterval(ticker);
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        socket.close(() => resolve());
      }),
  };
}

/** The hostile peer's responder as a DTLS listener handler (and its ticker), over the datagram framing. */
export function hostileDtlsHandler(options: Omit<HostileResponderOptions, 'framing'> = {}): { handler: DtlsFrameHandler; tick: NonNullable<DtlsListenerOptions['tick']>; stats: () => HostileStats } {
  const responder = createHostileResponder({ ...options, framing: datagramFraming });
  return {
    handler: (frame, endpoint) => responder.receive(frame, endpoint),
    tick: () => responder.tick(),
    stats: () => responder.stats,
  };
}
