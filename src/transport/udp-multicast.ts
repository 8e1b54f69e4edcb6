/**
 * UDP to a multicast group (RFC 7252 §8), Node only: one unconnected `node:dgram` socket per session. Requests
 * go to the group; answers come from each member's own unicast address, so every datagram is passed on with its
 * source (`frameSource()`), and replies (an ACK for a CON answer, an RST) go back to that member, never to the
 * group. The token, matched above, is what tells our answers from strays.
 *
 * The TTL / hop limit is 1 by default (the local link, libcoap's default); `setMulticastHops` changes it
 * (`IP_MULTICAST_TTL`, `IPV6_MULTICAST_HOPS`). IPv6 groups go out of the interface named by the group's zone
 * (`ff02::fd%eth0`) or `interface`; IPv4 groups out of the interface whose address `interface` gives, else the
 * system's route for 224.0.0.0/4.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { EMPTY, Observable, type Subscriber } from 'rxjs';
import { CoapArgumentError, CoapTransportError, type IpPeerAddress } from '../errors';
import { formatPeer, isMulticastHost } from '../peer-address';
import { FrameReceivers } from './frame-receivers';
import type { Transport, TransportFactory } from './transport';

/** Where to send and how. */
export interface UdpMulticastTransportOptions {
  /** The group: `224.0.1.187` (All CoAP Nodes, IPv4), `ff02::fd` (link-local), `ff05::fd` (site-local), any group; IPv6 zone as `ff02::fd%eth0`. */
  readonly group: string;
  /** The members' port. @defaultValue 5683 */
  readonly port?: number;
  /** Local address to bind. */
  readonly localAddress?: string;
  /** Local port to bind; 0 or absent = any. */
  readonly localPort?: number;
  /** Outgoing interface: an interface name or index for IPv6, the interface's address for IPv4. */
  readonly interface?: string;
  /** TTL / hop limit of the requests, 0..255. @defaultValue 1 */
  readonly hops?: number;
}

/** A factory of multicast UDP transports. Throws `CoapArgumentError` at once for an address that is no group. */
export function udpMulticastTransport(options: UdpMulticastTransportOptions): TransportFactory {
  const group = options.group;
  const percent = group.indexOf('%');
  const address = percent < 0 ? group : group.slice(0, percent);
  const family = isIP(address);
  if (family === 0 || !isMulticastHost(address)) throw new CoapArgumentError(`'${group}' is not a multicast group address`, { field: 'server' });
  const hops = options.hops ?? 1;
  if (!Number.isInteger(hops) || hops < 0 || hops > 255) throw new CoapArgumentError(`hops must be an integer in 0..255, got ${String(hops)}`, { field: 'hops' });
  return () =>
    new Observable<Transport>((subscriber) => {
      const connection = new UdpMulticastConnection(options, family === 6 ? 6 : 4, percent < 0 ? undefined : group.slice(percent + 1), hops, subscriber);
      return () => connection.close();
    });
}

/** One socket sending to a group. */
class UdpMulticastConnection implements Transport {
  readonly events$ = EMPTY;
  readonly maxFrameOverhead = 0;
  readonly reliable = false;
  readonly multicast = true;
  local: IpPeerAddress = { host: '', port: 0 };
  readonly remote: IpPeerAddress;
  readonly #subscriber: Subscriber<Transport>;
  readonly #socket: Socket;
  #source: IpPeerAddress;
  readonly #receivers = new FrameReceivers();
  #open = false;
  #closed = false;

  constructor(options: UdpMulticastTransportOptions, family: 4 | 6, zone: string | undefined, hops: number, subscriber: Subscriber<Transport>) {
    this.#subscriber = subscriber;
    const port = options.port ?? 5683;
    this.remote = { host: options.group, port };
    this.#source = this.remote;
    const socket = (this.#socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' }));
    socket.on('error', (error) => this.#fail(error));
    socket.on('message', (message, rinfo) => this.#onMessage(message, rinfo));
    socket.bind({ address: options.localAddress, port: options.localPort ?? 0 }, () => {
      if (this.#closed) return;
      try {
        socket.setMulticastTTL(hops);
        const outgoing = options.interface ?? zone;
        // IPv6 takes the interface as a scoped any-address ('::%eth0'); IPv4 as the interface's own address.
        if (outgoing !== undefined) socket.setMulticastInterface(family === 6 && !outgoing.includes(':') ? `::%${outgoing}` : outgoing);
      } catch (error) {
        this.#fail(error as NodeJS.ErrnoException);
        return;
      }
      const bound = socket.address();
      this.local = { host: bound.address, port: bound.port };
      this.#open = true;
      subscriber.next(this);
    });
  }

  /** Datagrams from any address: members answer from their own. */
  get frames$(): Observable<Uint8Array> {
    return this.#receivers.observable();
  }

  /** The member that sent the datagram being delivered. */
  frameSource(): IpPeerAddress {
    return this.#source;
  }

  /** A request, to the group. */
  send(frame: Uint8Array): void {
    if (this.#open && !this.#closed) this.#socket.send(frame, this.remote.port, this.remote.host, this.#onSent);
  }

  /** An ACK or RST, to the member being answered. */
  reply(frame: Uint8Array): void {
    const source = this.#source;
    if (this.#open && !this.#closed && source !== this.remote) this.#socket.send(frame, source.port, source.host, this.#onSent);
  }

  setMulticastHops(hops: number): boolean {
    if (!this.#open || this.#closed) return false;
    try {
      this.#socket.setMulticastTTL(hops);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#open = false;
    const socket = this.#socket;
    socket.removeAllListeners('message');
    socket.on('error', ignore);
    try {
      socket.close();
    } catch {
      // Not bound yet or closed already.
    }
    this.#receivers.close();
  }

  /** A send to the group failed (no route for multicast, say): the session fails with the reason. */
  readonly #onSent = (error: Error | null): void => {
    if (error !== null) this.#fail(error as NodeJS.ErrnoException);
  };

  #onMessage(message: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed || !this.#receivers.listening) return;
    this.#source = { host: rinfo.address, port: rinfo.port };
    this.#receivers.deliver(message);
    this.#source = this.remote;
  }

  #fail(error: NodeJS.ErrnoException): void {
    if (this.#closed) return;
    const peer = this.remote;
    const code = error.code;
    const reason = code === 'ENETUNREACH' || code === 'EHOSTUNREACH' || code === 'EADDRNOTAVAIL' ? 'unreachable' : this.#open ? 'error' : 'bind-failed';
    const text =
      reason === 'unreachable'
        ? `cannot send to the multicast group ${formatPeer(peer)} (${code}): no multicast route or interface`
        : `multicast to ${formatPeer(peer)} failed: ${code ?? error.message}`;
    this.close();
    this.#subscriber.error(new CoapTransportError(text, { reason, syscallCode: code, peer, cause: error }));
  }
}

function ignore(): void {}
