import { asyncScheduler } from 'rxjs';
import { createPdu, MessageType, ResponseCode } from '../../src/codec/pdu';
import { reset } from '../../src/message-layer/acknowledge';
import { createFakeTransport } from '../../src/testing/fake-transport';
import { startTestPeer, type TestPeer } from '../../src/testing/test-peer';
import { dtlsPskTransport } from '../../src/transport/dtls/psk';
import { udpTransport } from '../../src/transport/udp';
import { describeInterop, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';
import { datagramPingContract } from '../../src/testing/transport-contract';
import { describeTransportContract } from './transport-contract';

/** Datagram framing: a CON GET of `/`, answered by an ACK (or RST) with the same message ID. */
const datagram = datagramPingContract;

describeTransportContract('fake', async () => ({
  ...datagram,
  factory: createFakeTransport({
    scheduler: asyncScheduler,
    respond: (pdu) => (pdu.type === MessageType.CON ? createPdu({ type: MessageType.ACK, code: ResponseCode.NotFound, messageId: pdu.messageId }) : undefined),
  }).factory,
}));

let peer: TestPeer | undefined;
describeTransportContract(
  'udp (test peer on 127.0.0.1)',
  async () => {
    peer = await startTestPeer();
    return { ...datagram, factory: udpTransport({ host: '127.0.0.1', port: peer.address.port }) };
  },
  async () => {
    await peer?.close();
  },
);

describeTransportContract(
  'udp (test peer on ::1)',
  async () => {
    peer = await startTestPeer({ host: '::1' });
    return { ...datagram, factory: udpTransport({ host: '::1', port: peer.address.port }) };
  },
  async () => {
    await peer?.close();
  },
);

describeInterop('DTLS-PSK transport contract (coap-server-openssl)', 'openssl', () => {
  let server: LibcoapServer | undefined;
  describeTransportContract(
    'dtls-psk (coap-server-openssl -k)',
    async () => {
      server = await startLibcoapServer({ flavor: 'openssl', args: ['-k', 'contract-key'] });
      return {
        ...datagram,
        factory: dtlsPskTransport({ host: '127.0.0.1', port: server.securePort, psk: { identity: 'contract', key: 'contract-key' } }),
      };
    },
    async () => {
      await server?.stop();
    },
  );
});

it('matches answers by message ID', () => {
  expect(datagram.isAnswer(reset(7), 7)).toBe(true);
  expect(datagram.isAnswer(reset(7), 8)).toBe(false);
  expect(datagram.isAnswer(datagram.request(7), 7)).toBe(false); // a CON is not an answer
  expect(datagram.isAnswer(Uint8Array.of(0xff), 7)).toBe(false); // nor are bytes that are not CoAP
});
