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
