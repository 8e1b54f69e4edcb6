import { formatPeer, isUnixPeer, type IpPeerAddress, type PeerAddress, type UnixPeerAddress } from '../src/index';

describe('peer addresses', () => {
  const v4: IpPeerAddress = { host: '127.0.0.1', port: 5683 };
  const v6: IpPeerAddress = { host: '::1', port: 5683 };
  const unix: UnixPeerAddress = { path: '/tmp/server.sock' };

  it('tells Unix-domain peers from IP peers', () => {
    expect(isUnixPeer(v4)).toBe(false);
    expect(isUnixPeer(v6)).toBe(false);
    expect(isUnixPeer(unix)).toBe(true);
  });

  it('narrows the union', () => {
    const peers: PeerAddress[] = [v4, unix];
    const described = peers.map((peer) => (isUnixPeer(peer) ? `path ${peer.path}` : `port ${peer.port}`));
    expect(described).toEqual(['port 5683', 'path /tmp/server.sock']);
  });

  it('formats IPv4 as host:port, IPv6 in brackets, and Unix peers as their path', () => {
    expect(formatPeer(v4)).toBe('127.0.0.1:5683');
    expect(formatPeer(v6)).toBe('[::1]:5683');
    expect(formatPeer({ host: 'fe80::1%eth0', port: 5684 })).toBe('[fe80::1%eth0]:5684');
    expect(formatPeer({ host: 'coap.me', port: 5683 })).toBe('coap.me:5683');
    expect(formatPeer(unix)).toBe('/tmp/server.sock');
  });
});
