import type { IpPeerAddress, PeerAddress } from '../../src/errors';
import { isUnixPeer } from '../../src/peer-address';

/** The peer as an IP address (host and port); throws for a Unix-domain peer, which an IP-only spec never expects. */
export function ipPeer(peer: PeerAddress): IpPeerAddress {
  if (isUnixPeer(peer)) throw new Error(`expected an IP peer, got the Unix socket ${peer.path}`);
  return peer;
}
