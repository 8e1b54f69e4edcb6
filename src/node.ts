/**
 * rxcoap for Node: everything of the core, plus the UDP (and DTLS) transports registered so that
 * `ctx.newClientSession({ server: 'coap://...' })` works.
 * @packageDocumentation
 */
import { registerTransport } from './session/transport-registry';
import { udpTransport } from './transport/udp';

registerTransport(
  'udp',
  (target) => udpTransport({ host: target.host, port: target.port, localAddress: target.localAddress, localPort: target.localPort }),
  0,
);

export * from './index';
export { udpTransport, type UdpTransportOptions } from './transport/udp';
