/**
 * The test kit binds and forwards only on loopback: a test server or a lossy proxy reachable from the
 * network would be a security hole in a developer's machine or a CI runner.
 */
import { CoapArgumentError } from '../errors';

/** The loopback addresses the test kit accepts. */
export type LoopbackHost = '127.0.0.1' | '::1';

/**
 * Checks that `host` is one of the loopback addresses and returns it typed.
 * @param host - the address to check
 * @param what - what the address is for, used in the error message
 * @throws CoapArgumentError when the address is not `127.0.0.1` or `::1`
 */
export function assertLoopback(host: string, what: string): LoopbackHost {
  if (host === '127.0.0.1' || host === '::1') return host;
  throw new CoapArgumentError(`${what} must be a loopback address (127.0.0.1 or ::1), not '${host}'`);
}

/** The `node:dgram` socket type for a loopback address. */
export function socketTypeFor(host: LoopbackHost): 'udp4' | 'udp6' {
  return host === '::1' ? 'udp6' : 'udp4';
}

/** `'127.0.0.1:5683'` or `'[::1]:5683'`: the host as it appears in a URI authority, with the port. */
export function formatAuthority(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Binds a test server's socket on loopback and starts delivering datagrams to `onMessage`. Resolves with the
 * bound port; on a bind failure the socket is closed and the promise rejects. After binding, socket errors
 * (e.g. an ICMP-reported unreachable client) are ignored so they cannot crash a test run.
 */
export function bindLoopbackSocket(
  socket: import('node:dgram').Socket,
  host: LoopbackHost,
  port: number,
  onMessage: (message: Buffer, remote: import('node:dgram').RemoteInfo) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.close();
      reject(error);
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      socket.on('error', () => undefined);
      socket.on('message', onMessage);
      resolve(socket.address().port);
    });
  });
}
