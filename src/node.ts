/**
 * rxcoap for Node: everything of the core, plus the UDP and DTLS-PSK transports registered so that
 * `ctx.newClientSession({ server: 'coap://...' })` and `ctx.newClientSessionPsk({ server: 'coaps://...' })` work.
 * @packageDocumentation
 */
// CoapResponse.cbor() works out of the box on Node: installs the CBOR decoder browser bundles leave out.
import './cbor';
import { registerTransport, type TransportTarget } from './session/transport-registry';
import { useDatagramStack } from './session/use-datagram-stack';
import { useStreamFraming } from './session/use-stream-framing';
import { dtlsPskTransport } from './transport/dtls/psk';
import { dtlsPkiTransport } from './transport/dtls/pki';
import { tcpTransport } from './transport/tcp';
import { tlsTransport } from './transport/tls';
import { udpTransport } from './transport/udp';
import { udpMulticastTransport } from './transport/udp-multicast';
import { unixDgramTransport } from './transport/unix-dgram';
import { wsTransport } from './transport/websocket-node';

// UDP, DTLS and Unix datagram sockets run on the message layer, TCP and TLS on RFC 8323 stream framing: browser
// bundles (WebSockets) leave both out.
useDatagramStack();
useStreamFraming();

// coap:// to a host, to a multicast group (RFC 7252 §8), or to a Unix datagram socket path (unix-dgram, loaded
// only then).
registerTransport(
  'udp',
  (target) => {
    if (target.path !== undefined) return unixDgramTransport({ path: target.path, localPath: target.localPath });
    if (target.multicast !== undefined) {
      return udpMulticastTransport({ group: target.host, port: target.port, localAddress: target.localAddress, localPort: target.localPort, interface: target.multicast.interface });
    }
    return udpTransport({ host: target.host, port: target.port, localAddress: target.localAddress, localPort: target.localPort });
  },
  0,
);

registerTransport(
  'dtls',
  (target) => {
    const psk = target.psk;
    if (psk === undefined) {
      // certificates, or anonymous DTLS (no credentials: verified against the context's roots if set, else not)
      return dtlsPkiTransport({
        host: target.host,
        port: target.port,
        localAddress: target.localAddress,
        localPort: target.localPort,
        pki: target.pki,
        rootCas: target.rootCas,
        scheduler: target.scheduler,
      });
    }
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
  // DTLS 1.2 record overhead of the CCM_8 suites offered first (13-byte header, 8-byte nonce, 8-byte tag); the
  // transport reports the negotiated suite's overhead once connected.
  { frameOverhead: 29, credentials: 'psk-or-pki' },
);

// CoAP over TCP and TLS (RFC 8323): signaling instead of the message layer. A TLS session takes a PSK or
// certificates; without either it verifies the server against the trusted roots.
registerTransport(
  'tcp',
  (target) =>
    target.path !== undefined
      ? tcpTransport({ path: target.path, scheduler: target.scheduler })
      : tcpTransport({ host: target.host, port: target.port, localAddress: target.localAddress, localPort: target.localPort, scheduler: target.scheduler }),
  { reliable: true, credentials: 'none' },
);

/** What TLS over TCP and WebSockets over TLS take of a target: the address, and PSK or else PKI. */
function tlsTarget(target: TransportTarget) {
  return {
    host: target.host,
    port: target.port,
    localAddress: target.localAddress,
    localPort: target.localPort,
    psk: target.psk,
    pki: target.psk === undefined ? target.pki : undefined,
    rootCas: target.rootCas,
    scheduler: target.scheduler,
  };
}

registerTransport('tls', (target) => tlsTransport(tlsTarget(target)), { reliable: true, credentials: 'psk-or-pki' });

// CoAP over WebSockets (RFC 8323 §4) on the ws package: coap+ws:// and coaps+ws:// (TLS options as for tls).
registerTransport(
  'ws',
  (target) => wsTransport({ host: target.host, port: target.port, localAddress: target.localAddress, localPort: target.localPort, scheduler: target.scheduler }),
  { reliable: true, credentials: 'none' },
);

registerTransport('wss', (target) => wsTransport({ ...tlsTarget(target), secure: true }), { reliable: true, credentials: 'psk-or-pki' });

export * from './index';
export { wsTransport, type WsTransportOptions } from './transport/websocket-node';
export { udpTransport, type UdpTransportOptions } from './transport/udp';
export { tcpTransport, type TcpTransportOptions, type TcpUnixTransportOptions, type StreamFailureReason } from './transport/tcp';
export { unixDgramTransport, type UnixDgramTransportOptions } from './transport/unix-dgram';
export { udpMulticastTransport, type UdpMulticastTransportOptions } from './transport/udp-multicast';
export { LIBCOAP_UNIX_PATH_MAX } from './transport/unix-path';
export { tlsTransport, DEFAULT_TLS_PSK_CIPHER_SUITES, COAP_ALPN, type TlsTransportOptions, type TlsRootCas } from './transport/tls';
export type { CertificateFailureReason } from './transport/tls-verify';
export { dtlsPskTransport, type DtlsPskTransportOptions, type DtlsPskCredentials } from './transport/dtls/psk';
export { DEFAULT_PSK_CIPHER_SUITES, type DtlsPskCipherSuite } from './transport/dtls/cipher-suites';
export { dtlsPkiTransport, type DtlsPkiTransportOptions, type DtlsGroup } from './transport/dtls/pki';
export { DEFAULT_PKI_CIPHER_SUITES, type DtlsPkiCipherSuite } from './transport/dtls/ecdhe-suites';
