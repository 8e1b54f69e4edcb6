/**
 * rxcoap for Node: everything of the core, plus the UDP and DTLS-PSK transports registered so that
 * `ctx.newClientSession({ server: 'coap://...' })` and `ctx.newClientSessionPsk({ server: 'coaps://...' })` work.
 * @packageDocumentation
 */
import { registerTransport } from './session/transport-registry';
import { dtlsPskTransport } from './transport/dtls/psk';
import { tcpTransport } from './transport/tcp';
import { tlsTransport } from './transport/tls';
import { udpTransport } from './transport/udp';

registerTransport(
  'udp',
  (target) => udpTransport({ host: target.host, port: target.port, localAddress: target.localAddress, localPort: target.localPort }),
  0,
);

registerTransport(
  'dtls',
  (target) => {
    const psk = target.psk!; // the context checks that a dtls session has credentials
    return dtlsPskTransport({
      host: target.host,
      port: target.port,
      localAddress: target.localAddress,
      localPort: target.localPort,
      psk: { identity: psk.identity, key: psk.key },
      validateIdentityHint: psk.validateIdentityHint,
      clientSni: psk.clientSni,
      scheduler: target.scheduler,
    });
  },
  // DTLS 1.2 record overhead of TLS_PSK_WITH_AES_128_CCM_8 (13-byte header, 8-byte nonce, 8-byte tag), the suite
  // offered first; the transport reports the negotiated suite's overhead once connected.
  29,
);

// CoAP over TCP and TLS (RFC 8323): signaling instead of the message layer. A TLS session takes a PSK or
// certificates; without either it verifies the server against the trusted roots.
registerTransport(
  'tcp',
  (target) => tcpTransport({ host: target.host, port: target.port, localAddress: target.localAddress, localPort: target.localPort, scheduler: target.scheduler }),
  { reliable: true, credentials: 'none' },
);

registerTransport(
  'tls',
  (target) =>
    tlsTransport({
      host: target.host,
      port: target.port,
      localAddress: target.localAddress,
      localPort: target.localPort,
      psk: target.psk,
      pki: target.psk === undefined ? target.pki : undefined,
      rootCas: target.rootCas,
      scheduler: target.scheduler,
    }),
  { reliable: true, credentials: 'psk-or-pki' },
);

export * from './index';
export { udpTransport, type UdpTransportOptions } from './transport/udp';
export { tcpTransport, type TcpTransportOptions, type StreamFailureReason } from './transport/tcp';
export { tlsTransport, DEFAULT_TLS_PSK_CIPHER_SUITES, COAP_ALPN, type TlsTransportOptions, type TlsRootCas } from './transport/tls';
export type { CertificateFailureReason } from './transport/tls-verify';
export { dtlsPskTransport, type DtlsPskTransportOptions, type DtlsPskCredentials } from './transport/dtls/psk';
export { DEFAULT_PSK_CIPHER_SUITES, type DtlsPskCipherSuite } from './transport/dtls/cipher-suites';
