/**
 * The DTLS transport with certificates (`dtlsPkiTransport`): its arguments, the transport contract suite against
 * coap-server-openssl with certificates and against the DTLS test listener, sessions over the hostile peer's
 * responder behind DTLS, and mutual authentication against the listener.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { catchError, firstValueFrom, lastValueFrom, of, take, timeout, toArray, TimeoutError } from 'rxjs';
import { createPdu, MessageType, ResponseCode } from '../../src/codec/pdu';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import { CoapContext, CoapError } from '../../src/node';
import { startDtlsListener, hostileDtlsHandler, type DtlsListener } from '../../src/testing/dtls-listener';
import { datagramPingContract } from '../../src/testing/transport-contract';
import { dtlsPkiTransport } from '../../src/transport/dtls/pki';
import { tlsTransport } from '../../src/transport/tls';
import { describeInterop, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';
import { describeTransportContract } from './transport-contract';

jest.setTimeout(60_000);

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pki');
const fixture = (name: string): string => path.join(FIXTURES, name);
const der = (name: string): Uint8Array => new Uint8Array(new X509Certificate(fs.readFileSync(fixture(name))).raw);
const PKI = { pkiKey: { caFile: fixture('ca.pem') } };

/** Answers a CON with an ACK 4.04 of the same message ID (the contract's ping), everything else not at all. */
const notFound = (frame: Uint8Array): { frame: Uint8Array; delay: number }[] => {
  const pdu = decodeDatagram(frame);
  return pdu.type === MessageType.CON ? [{ frame: encodeDatagram(createPdu({ type: MessageType.ACK, code: ResponseCode.NotFound, messageId: pdu.messageId })), delay: 0 }] : [];
};

describe('dtlsPkiTransport arguments', () => {
  it.each([
    [{ host: '', port: 5684 }, 'host'],
    [{ host: '127.0.0.1', port: 0 }, 'port'],
    [{ host: '127.0.0.1', port: 5684, cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'] }, 'cipherSuites'],
    [{ host: '127.0.0.1', port: 5684, groups: ['secp384r1'] }, 'groups'],
    [{ host: '127.0.0.1', port: 5684, maxDatagram: 100 }, 'maxDatagram'],
    [{ host: '127.0.0.1', port: 5684, handshakeDeadline: -1 }, 'handshakeDeadline'],
    [{ host: '127.0.0.1', port: 5684, pki: { checkCertRevocation: 'yes' } }, 'pki.checkCertRevocation'],
    [{ host: '127.0.0.1', port: 5684, pki: { pkiKey: { publicCert: fixture('client.pem') } } }, 'pki.pkiKey.privateKey'],
  ])('throws CoapArgumentError for %j (field %s)', (options, field) => {
    expect(() => dtlsPkiTransport(options as never)).toThrow(expect.objectContaining({ name: 'CoapArgumentError', field }));
  });

  it('is the only transport for raw public keys: tlsTransport refuses pki.isRpkNotCert with a CoapArgumentError', () => {
    expect(() => tlsTransport({ host: '127.0.0.1', port: 5684, pki: { isRpkNotCert: true } })).toThrow(expect.objectContaining({ name: 'CoapArgumentError', field: 'pki.isRpkNotCert' }));
    expect(() => dtlsPkiTransport({ host: '127.0.0.1', port: 5684, pki: { isRpkNotCert: true } })).not.toThrow();
  });

  it('errors the subscription with a CoapArgumentError naming the field for an unreadable file, and never quotes key material', async () => {
    const error = await firstValueFrom(dtlsPkiTransport({ host: '127.0.0.1', port: 5684, pki: { pkiKey: { caFile: '/nonexistent/ca.pem' } } })().pipe(catchError((e: unknown) => of(e))));
    expect(error).toMatchObject({ name: 'CoapArgumentError', field: 'pki.pkiKey.caFile' });
    const pem = fs.readFileSync(fixture('server.key'), 'latin1');
    const wrong = await firstValueFrom(
      dtlsPkiTransport({ host: '127.0.0.1', port: 5684, pki: { pkiKey: { publicCert: fixture('client.pem'), privateKey: pem } } })().pipe(catchError((e: unknown) => of(e))),
    );
    expect(wrong).toMatchObject({ name: 'CoapArgumentError', field: 'pki.pkiKey.privateKey' });
    expect(String((wrong as Error).message)).not.toContain('PRIVATE KEY');
  });
});

describe('dtlsPkiTransport without a server', () => {
  it('fails fast with CoapTransportError ECONNREFUSED when nothing listens on the port (ICMP port unreachable)', async () => {
    const socket = await new Promise<Socket>((resolve) => {
      const s = createSocket('udp4');
      s.bind(0, '127.0.0.1', () => resolve(s));
    });
    const { port } = socket.address();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    const started = Date.now();
    const error = await firstValueFrom(dtlsPkiTransport({ host: '127.0.0.1', port, pki: PKI })().pipe(catchError((e: unknown) => of(e))));
    expect(error).toMatchObject({ name: 'CoapTransportError', syscallCode: 'ECONNREFUSED', message: expect.stringContaining('no DTLS server on that port') });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

let listener: DtlsListener | undefined;
describeTransportContract(
  'dtls-pki (the DTLS test listener)',
  async () => {
    listener = await startDtlsListener({ certificates: [der('server.pem')], privateKey: createPrivateKey(fs.readFileSync(fixture('server.key'))), handler: notFound });
    return { ...datagramPingContract, factory: dtlsPkiTransport({ host: '127.0.0.1', port: listener.address.port, pki: PKI }) };
  },
  async () => {
    await listener?.close();
  },
);

describeInterop('DTLS-PKI transport contract (coap-server-openssl with certificates)', 'openssl', () => {
  let server: LibcoapServer | undefined;
  describeTransportContract(
    'dtls-pki (coap-server-openssl -c -j)',
    async () => {
      server = await startLibcoapServer({ flavor: 'openssl', args: ['-c', fixture('server.pem'), '-j', fixture('server.key')] });
      return { ...datagramPingContract, factory: dtlsPkiTransport({ host: '127.0.0.1', port: server.securePort, pki: PKI }) };
    },
    async () => {
      await server?.stop();
    },
  );
});

describe('sessions over DTLS with certificates against the DTLS test listener', () => {
  let context: CoapContext;
  afterEach(async () => {
    await context?.free();
    await listener?.close();
    listener = undefined;
  });

  it('authenticates with a client certificate the listener requires, and fails client-cert-required without one', async () => {
    listener = await startDtlsListener({
      certificates: [der('server.pem')],
      privateKey: createPrivateKey(fs.readFileSync(fixture('server.key'))),
      clientCertificate: 'require',
      handler: (frame) => {
        const pdu = decodeDatagram(frame);
        return [{ frame: encodeDatagram(createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: pdu.messageId, token: pdu.token, payload: new TextEncoder().encode('hi') })), delay: 0 }];
      },
    });
    context = new CoapContext();
    const server = `coaps://127.0.0.1:${listener.address.port}`;
    const mutual = context.newClientSessionPki({ server, pki: { pkiKey: { ...PKI.pkiKey, publicCert: fixture('client.pem'), privateKey: fixture('client.key') } } });
    expect((await lastValueFrom(mutual.get('/x').pipe(timeout(5000)))).text()).toBe('hi');
    const without = context.newClientSessionPki({ server, pki: PKI });
    await expect(lastValueFrom(without.get('/x').pipe(timeout(5000)))).rejects.toMatchObject({ name: 'CoapDtlsError', reason: 'client-cert-required' });
  });

  it('survives the hostile responder behind DTLS: every request ends in a response or a typed CoapError, nothing escapes', async () => {
    const hostile = hostileDtlsHandler({ seed: 19, correctRate: 0.5, unsolicitedRate: 0.05 });
    listener = await startDtlsListener({ certificates: [der('server.pem')], privateKey: createPrivateKey(fs.readFileSync(fixture('server.key'))), handler: hostile.handler, tick: hostile.tick });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    try {
      context = new CoapContext({ transmission: { ackTimeout: 0.2, maxRetransmit: 2 } });
      const session = context.newClientSessionPki({ server: `coaps://127.0.0.1:${listener.address.port}`, pki: PKI });
      const outcomes: string[] = [];
      const settle = (work: Promise<unknown>): Promise<void> =>
        work.then(
          () => void outcomes.push('response'),
          // rxjs's TimeoutError is this spec's own limit (a hostile peer may never send an observation's second notification)
          (error: unknown) => void outcomes.push(error instanceof CoapError ? (error as CoapError).code : error instanceof TimeoutError ? 'spec-timeout' : `untyped ${String(error)}`),
        );
      for (let round = 0; round < 3; round++) {
        await Promise.all([
          ...['/small', '/large', '/missing'].map((uri) => settle(lastValueFrom(session.get(uri).pipe(timeout(5000))))),
          settle(lastValueFrom(session.observe('/obs').pipe(take(2), toArray(), timeout(5000)))),
          settle(lastValueFrom(session.put('/upload', { payload: new Uint8Array(1500) }).pipe(timeout(5000)))),
        ]);
      }
      expect(outcomes).toHaveLength(15);
      expect(outcomes.filter((outcome) => outcome.startsWith('untyped'))).toEqual([]);
      expect(outcomes).toContain('response');
      expect(hostile.stats().requests).toBeGreaterThan(10);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    }
  });
});
