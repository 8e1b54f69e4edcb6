/**
 * UDP transport (Node only): one connected `node:dgram` socket per session. Connecting the socket makes the
 * kernel drop datagrams from any other address (responses are accepted only from the peer) and turns an ICMP
 * port unreachable into an `ECONNREFUSED` error, which fails the session's exchanges fast.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { Observable, Subject } from 'rxjs';
import { CoapTransportError, type PeerAddress } from '../errors';
import type { Transport, TransportEvent, TransportFactory } from './transport';

/** Where and how to connect. */
export interface UdpTransportOptions {
  /** Server host name or IP literal (IPv6 without brackets; zone IDs as `fe80::1%eth0`). */
  readonly host: string;
  readonly port: number;
  /** Address family to resolve names to; by default whatever the resolver returns first (dual stack). */
  readonly family?: 4 | 6;
  /** Local address to bind (the local interface). */
  readonly localAddress?: string;
  /** Local port to bind; 0 or absent = any. */
  readonly localPort?: number;
}

/** A factory of connected UDP transports. */
export function udpTransport(options: UdpTransportOptions): TransportFactory {
  return () =>
    new Observable<Transport>((subscriber) => {
      let socket: Socket | undefined;
      let closed = false;
      const frames = new Subject<Uint8Array>();
      const events = new Subject<TransportEvent>();
      const fail = (error: NodeJS.ErrnoException, what: string, remote?: PeerAddress): void => {
        const peer = remote ?? { host: options.host, port: options.port };
        const text =
          error.code === 'ECONNREFUSED'
            ? `nothing listens on ${formatPeer(peer)} (ICMP port unreachable)`
            : `${what} ${formatPeer(peer)} failed: ${error.code ?? error.message}`;
        subscriber.error(new CoapTransportError(text, { syscallCode: error.code, peer, cause: error }));
      };
      const open = (address: string, family: number): void => {
        if (closed) return;
        const remote = { host: address, port: options.port };
        const sock = (socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' }));
        sock.on('error', (error) => fail(error, 'UDP exchange with', remote));
        sock.on('message', (message, rinfo) => {
          // Connected sockets only receive from the peer; check anyway (defence in depth).
          if (rinfo.port !== remote.port) return;
          frames.next(new Uint8Array(message.buffer, message.byteOffset, message.byteLength));
        });
        sock.bind({ address: options.localAddress, port: options.localPort ?? 0 }, () => {
          sock.connect(options.port, address, () => {
            if (closed) return;
            const bound = sock.address();
            const local = { host: bound.address, port: bound.port };
            const transport: Transport = {
              frames$: frames.asObservable(),
              events$: events.asObservable(),
              send(frame) {
                if (closed) return;
                sock.send(frame, (error) => {
                  if (error) fail(error, 'sending to', remote);
                });
              },
              maxFrameOverhead: 0,
              reliable: false,
              local,
              remote,
            };
            subscriber.next(transport);
            events.next({ type: 'connected', local, remote });
          });
        });
      };
      if (isIP(stripZone(options.host)) !== 0) open(options.host, isIP(stripZone(options.host)));
      else {
        lookup(options.host, { family: options.family ?? 0 }, (error, address, family) => {
          if (error) fail(error, 'resolving', { host: options.host, port: options.port });
          else open(address, family);
        });
      }
      return () => {
        closed = true;
        frames.complete();
        events.next({ type: 'closed', reason: 'released' });
        events.complete();
        if (socket !== undefined) {
          socket.removeAllListeners('message');
          socket.on('error', () => undefined);
          socket.close();
        }
      };
    });
}

function stripZone(host: string): string {
  const percent = host.indexOf('%');
  return percent < 0 ? host : host.slice(0, percent);
}

function formatPeer(peer: PeerAddress): string {
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`;
}
