/**
 * The raw floor over TLS-PSK (RFC 8323 §3 on TLS 1.2, RFC 4279): a `node:tls` connection with a pre-shared key,
 * then exactly the raw stream client of raw-net.ts (our CSM, the server's CSM, pre-encoded GETs, corked writes).
 *
 * libcoap's openssl server takes PSK-AES128-GCM-SHA256 (also PSK-AES256-GCM-SHA384, PSK-AES128-CCM and the
 * CHACHA20 PSK suites; not CCM8, not CBC), TLS 1.2 only for PSK. Node checks the server name against a
 * certificate by default, which fails a certificate-less PSK handshake: `checkServerIdentity` is turned off.
 */
import { connect } from 'node:tls';
import type { Contender } from '../measure';
import { rawStreamGetContender, type StreamConnector } from './raw-net';

/** The suite offered by default: the first libcoap's openssl server takes. */
export const RAW_TLS_PSK_CIPHERS = 'PSK-AES128-GCM-SHA256';

export interface RawTlsPskOptions {
  readonly host: string;
  readonly port: number;
  readonly identity: string;
  readonly key: string;
  /** OpenSSL cipher list. @defaultValue {@link RAW_TLS_PSK_CIPHERS} */
  readonly ciphers?: string;
}

/** A TLS 1.2 PSK connection to `host:port`, TCP_NODELAY on, resolved after the handshake. */
export function tlsPskConnector(options: RawTlsPskOptions): StreamConnector {
  return () =>
    new Promise((resolve, reject) => {
      const socket = connect({
        host: options.host,
        port: options.port,
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        ciphers: options.ciphers ?? RAW_TLS_PSK_CIPHERS,
        pskCallback: () => ({ identity: options.identity, psk: Buffer.from(options.key) }),
        checkServerIdentity: () => undefined,
      });
      socket.setNoDelay(true);
      socket.once('error', reject);
      socket.once('secureConnect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
}

/** The raw TLS-PSK client as a contender (`info()`: the negotiated version and suite). */
export function rawTlsGetContender(options: RawTlsPskOptions & { readonly path: string; readonly inFlight: number }): Contender & { info(): string } {
  return rawStreamGetContender({ name: 'raw node:tls', connect: tlsPskConnector(options), path: options.path, inFlight: options.inFlight });
}
