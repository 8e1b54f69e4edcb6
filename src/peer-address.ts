/**
 * Helpers for {@link PeerAddress}, the union of IP and Unix-domain peers. Pure and browser-safe: one file
 * below all layers, beside `errors.ts`, because every layer names peers.
 * @packageDocumentation
 */
import type { PeerAddress, UnixPeerAddress } from './errors';

/** True when the peer is a Unix-domain socket, named by its path rather than by host and port. */
export function isUnixPeer(peer: PeerAddress): peer is UnixPeerAddress {
  return 'path' in peer;
}

/** A peer for messages and logs: `127.0.0.1:5683`, `[::1]:5683` (IPv6 in brackets) or the socket path. */
export function formatPeer(peer: PeerAddress): string {
  if (isUnixPeer(peer)) return peer.path;
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`;
}

/**
 * True for a multicast group address (RFC 7252 §8): IPv4 224.0.0.0/4 (224.0.1.187 is "All CoAP Nodes") or
 * IPv6 ff00::/8 (ff02::fd, ff05::fd), an IPv6 zone (`ff02::fd%eth0`) allowed. Host names are never groups.
 */
export function isMulticastHost(host: string): boolean {
  const match = /^(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.exec(host);
  if (match !== null) {
    const first = Number(match[1]);
    return first >= 224 && first <= 239;
  }
  return /^ff[0-9a-f]{2}:/i.test(host);
}
