import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { firstValueFrom, take, toArray, VirtualTimeScheduler, type Subscription } from 'rxjs';
import { SignalCode } from '../../src/codec/pdu';
import { CoapArgumentError, CoapTlsError, CoapTransportError } from '../../src/errors';
import type { PkiCredentials } from '../../src/pki-credentials';
import { tlsTransport, type TlsTransportOptions } from '../../src/transport/tls';
import type { Transport, TransportEvent, TransportFactory } from '../../src/transport/transport';
import { describeTransportContract } from './transport-contract';
import { messagesOf, ping, startStreamPeer, streamContract, type StreamPeer } from './stream-test-peer';

/** Test PKI made by spec/fixtures/pki/make.sh (see its README). */
const PKI = join(__dirname, '..', 'fixtures', 'pki');
const pkiFile = (name: string): string => join(PKI, name);
const pkiBytes = (name: string): Buffer => readFileSync(pkiFile(name));

const KEY = 'tls-psk-secret';
const PSK_SERVER: TlsOptions = {
  pskCallback: (_socket: TLSSocket, identity: string) => (identity === 'rxcoap' ? Buffer.from(KEY) : identity === 'other' ? Buffer.from('other-key') : null),
  pskIdentityHint: 'rxcoap-hint',
  ciphers: 'PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:PSK-CHACHA20-POLY1305',
  maxVersion: 'TLSv1.2',
  ALPNProtocols: ['coap'],
};

/** A certificate server: `cert`/`key` are fixture names. */
function certServer(cert: string, key: string, extra: TlsOptions = {}): TlsOptions {
  return { cert: pkiBytes(cert), key: pkiBytes(key), ALPNProtocols: ['coap'], ...extra };
}

const trusted: PkiCredentials = { pkiKey: { caFile: pkiFile('ca.pem') } };

let contractPeer: StreamPeer | undefined;
describeTransportContract(
  'tls-psk (node:tls PSK peer)',
  async () => {
    contractPeer = await startStreamPeer({ tls: PSK_SERVER });
    return { ...streamContract, factory: tlsTransport({ host: '127.0.0.1', port: contractPeer.port, psk: { identity: 'rxcoap', key: KEY } }) };
  },
  async () => {
    await contractPeer?.close();
  },
);

describeTransportContract(
  'tls-pki (node:tls certificate peer)',
  async () => {
    contractPeer = await startStreamPeer({ tls: certServer('server.pem', 'server.key') });
    return { ...streamContract, factory: tlsTransport({ host: 'localhost', port: contractPeer.port, pki: trusted }) };
  },
  async () => {
    await contractPeer?.close();
  },
);

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('TLS transport', () => {
  const subscriptions: Subscription[] = [];
  const peers: StreamPeer[] = [];
  const servers: Server[] = [];

  afterEach(async () => {
    for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
    for (const peer of peers.splice(0)) await peer.close();
    for (const server of servers.splice(0)) server.close();
  });

  async function peer(tls: TlsOptions): Promise<StreamPeer> {
    const started = await startStreamPeer({ tls });
    peers.push(started);
    return started;
  }

  /** Resolves with the transport once emitted; rejects with the factory's error if it comes first. */
  function open(factory: TransportFactory): Promise<Transport> {
    return new Promise((resolve, reject) => {
      subscriptions.push(factory().subscribe({ next: resolve, error: reject }));
    });
  }

  /** Resolves with the factory's error, whether or not a transport was emitted before it. */
  function failure(factory: TransportFactory): Promise<unknown> {
    return new Promise((resolve) => {
      subscriptions.push(factory().subscribe({ error: resolve }));
    });
  }

  /** Opens, pings and expects the Pong: the connection really carries CoAP. */
  async function roundTrip(options: TlsTransportOptions): Promise<Transport> {
    const transport = await open(tlsTransport(options));
    const chunks = firstValueFrom(transport.frames$.pipe(take(1), toArray()));
    transport.send(ping(42));
    expect(messagesOf(...(await chunks)).map((pdu) => pdu.code)).toEqual([SignalCode.Pong]);
    return transport;
  }

  describe('with a pre-shared key', () => {
    it('connects with a PSK suite, ALPN coap and no certificate', async () => {
      const server = await peer(PSK_SERVER);
      const transport = await roundTrip({ host: '127.0.0.1', port: server.port, psk: { identity: 'rxcoap', key: KEY } });
      expect(transport).toMatchObject({ reliable: true, framing: 'stream', maxFrameOverhead: 0, remote: { host: '127.0.0.1', port: server.port } });
      const serverSide = (await server.nextConnection()).socket as TLSSocket;
      expect(serverSide.getCipher().name).toBe('PSK-AES128-GCM-SHA256');
      expect(serverSide.alpnProtocol).toBe('coap');
      expect(serverSide.servername).toBeFalsy(); // no SNI for an IP address
    });

    it('passes the identity hint to validateIdentityHint and uses the identity and key it returns', async () => {
      const hints: string[] = [];
      const identities: string[] = [];
      const serverCallback = PSK_SERVER.pskCallback!;
      const recording = await peer({
        ...PSK_SERVER,
        pskCallback: (socket: TLSSocket, identity: string) => {
          identities.push(identity);
          return serverCallback(socket, identity);
        },
      });
      await roundTrip({
        host: '127.0.0.1',
        port: recording.port,
        psk: {
          identity: 'unused',
          key: 'unused-key',
          validateIdentityHint: (hint) => {
            hints.push(hint);
            return { identity: 'other', key: 'other-key' };
          },
        },
      });
      expect(hints).toEqual(['rxcoap-hint']);
      expect(identities).toEqual(['other']);
    });

    it('aborts with identity-hint-rejected when validateIdentityHint returns null', async () => {
      const server = await peer(PSK_SERVER);
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, psk: { identity: 'rxcoap', key: KEY, validateIdentityHint: () => null } }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ code: 'COAP_ERR_TLS', reason: 'identity-hint-rejected', peer: { host: '127.0.0.1', port: server.port } });
    });

    it('fails with bad-psk for a wrong key, and the message holds no key', async () => {
      const server = await peer(PSK_SERVER);
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, psk: { identity: 'rxcoap', key: 'wrong-secret-key' } }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ reason: 'bad-psk' });
      expect((error as Error).message).toContain('the PSK identity or key is probably wrong');
      expect((error as Error).message).not.toContain('wrong-secret-key');
    });

    it('fails with bad-psk for an identity the server does not know', async () => {
      const server = await peer(PSK_SERVER);
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, psk: { identity: 'stranger', key: KEY } }));
      expect(error).toMatchObject({ reason: 'bad-psk' });
    });

    it('sends the frames of one tick as one write: one data event at the server carries them all', async () => {
      const server = await peer(PSK_SERVER);
      const transport = await open(tlsTransport({ host: '127.0.0.1', port: server.port, psk: { identity: 'rxcoap', key: KEY } }));
      const connection = await server.nextConnection();
      const answers = firstValueFrom(transport.frames$);
      for (const mid of [1, 2, 3]) transport.send(ping(mid));
      await answers;
      await delay(20);
      expect(connection.chunks).toHaveLength(1);
      expect(messagesOf(connection.chunks[0]).map((pdu) => pdu.code)).toEqual([SignalCode.Ping, SignalCode.Ping, SignalCode.Ping]);
    });

    it('sends psk.clientSni as the server name', async () => {
      const server = await peer(PSK_SERVER);
      await roundTrip({ host: '127.0.0.1', port: server.port, psk: { identity: 'rxcoap', key: KEY, clientSni: 'coap.example' } });
      expect(((await server.nextConnection()).socket as TLSSocket).servername).toBe('coap.example');
    });

    it('refuses suites without PSK, both psk and pki, and identities Node cannot send', () => {
      const base = { host: '127.0.0.1', port: 5684 };
      const cases: [() => unknown, string][] = [
        [() => tlsTransport({ ...base, psk: { identity: 'a', key: 'b' }, pskCipherSuites: ['ECDHE-RSA-AES128-GCM-SHA256'] }), 'pskCipherSuites[0]'],
        [() => tlsTransport({ ...base, psk: { identity: 'a', key: 'b' }, pki: {} }), 'pki'],
        [() => tlsTransport({ ...base, psk: { identity: Uint8Array.of(0xff, 0xfe), key: 'b' } }), 'psk.identity'],
        [() => tlsTransport({ ...base, psk: { identity: 'a', key: '' } }), 'psk.key'],
        [() => tlsTransport({ ...base, handshakeTimeout: 0 }), 'handshakeTimeout'],
        [() => tlsTransport({ ...base, pki: { certChainVerifyDepth: -1 } }), 'pki.certChainVerifyDepth'],
      ];
      for (const [make, field] of cases) {
        let error: unknown;
        try {
          make();
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(CoapArgumentError);
        expect(error).toMatchObject({ field });
      }
    });
  });

  describe('with certificates', () => {
    it('connects to a server whose certificate chains to pkiKey.caFile and names it (by IP and by host name)', async () => {
      const server = await peer(certServer('server.pem', 'server.key'));
      const transport = await roundTrip({ host: '127.0.0.1', port: server.port, pki: trusted });
      expect(transport).toMatchObject({ reliable: true, framing: 'stream' });
      await roundTrip({ host: 'localhost', port: server.port, family: 4, pki: trusted });
      const serverSide = (await server.nextConnection()).socket as TLSSocket;
      expect(serverSide.alpnProtocol).toBe('coap');
      // SNI: the host name, never an IP address
      expect(((await server.nextConnection()).socket as TLSSocket).servername).toBe('localhost');
    });

    it('trusts the roots of rootCas (caFile or caDir) when the session gives no CA', async () => {
      const server = await peer(certServer('server.pem', 'server.key'));
      await roundTrip({ host: '127.0.0.1', port: server.port, rootCas: { caFile: pkiFile('ca.pem') } });
      const dir = mkdtempSync(join(tmpdir(), 'rxcoap-cadir-'));
      try {
        writeFileSync(join(dir, 'README'), 'not a certificate');
        writeFileSync(join(dir, 'root.der'), new X509Certificate(pkiBytes('ca.pem')).raw);
        await roundTrip({ host: '127.0.0.1', port: server.port, rootCas: { caDir: dir } });
      } finally {
        rmSync(dir, { recursive: true });
      }
    });

    it('accepts CA material given as PEM text or DER bytes', async () => {
      const server = await peer(certServer('server.pem', 'server.key'));
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { pkiKey: { caFile: pkiBytes('ca.pem').toString() } } });
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { pkiKey: { caFile: new X509Certificate(pkiBytes('ca.pem')).raw, keyType: 'asn1' } } });
    });

    it('rejects a server of another CA as untrusted', async () => {
      const server = await peer(certServer('untrusted.pem', 'untrusted.key'));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: trusted }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ reason: 'untrusted', peer: { host: '127.0.0.1', port: server.port } });
      expect((error as Error).message).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });

    it('verifies against the default trust store when no roots are given (a test CA is untrusted there)', async () => {
      const server = await peer(certServer('server.pem', 'server.key'));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port }));
      expect(error).toMatchObject({ reason: 'untrusted' });
    });

    it('rejects a self-signed certificate unless allowSelfSigned (without a common CA to check)', async () => {
      const server = await peer(certServer('self-signed.pem', 'self-signed.key'));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port }));
      expect(error).toMatchObject({ reason: 'untrusted' });
      expect((error as Error).message).toContain('self-signed');
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { allowSelfSigned: true } });
      // libcoap: allow_self_signed is ignored while check_common_ca is set
      const common = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: { ...trusted, allowSelfSigned: true } }));
      expect(common).toMatchObject({ reason: 'untrusted' });
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { ...trusted, allowSelfSigned: true, checkCommonCa: false } });
    });

    it('rejects an expired certificate, and accepts it with allowExpiredCerts', async () => {
      const server = await peer(certServer('expired.pem', 'expired.key'));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: trusted }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ reason: 'expired' });
      expect((error as Error).message).toContain('CERT_HAS_EXPIRED');
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { ...trusted, allowExpiredCerts: true } });
    });

    it('still rejects an expired certificate of an untrusted CA with allowExpiredCerts', async () => {
      const server = await peer(certServer('expired.pem', 'expired.key'));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: { pkiKey: { caFile: pkiFile('other-ca.pem') }, allowExpiredCerts: true } }));
      expect(error).toMatchObject({ reason: 'untrusted' });
    });

    it('rejects a certificate for another name (name-mismatch), and accepts it under that name via clientSni', async () => {
      const server = await peer(certServer('wrong-name.pem', 'wrong-name.key'));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: trusted }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ reason: 'name-mismatch' });
      expect((error as Error).message).toContain('is not for 127.0.0.1');
      const byName = await failure(tlsTransport({ host: 'localhost', port: server.port, family: 4, pki: trusted }));
      expect(byName).toMatchObject({ reason: 'name-mismatch' });
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { ...trusted, clientSni: 'example.com' } });
      expect((server.connections.at(-1)!.socket as TLSSocket).servername).toBe('example.com');
    });

    it('falls back to the CN when the certificate has no subjectAltName', async () => {
      const server = await peer(certServer('cn-only.pem', 'cn-only.key'));
      await roundTrip({ host: 'localhost', port: server.port, family: 4, pki: trusted });
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: trusted }));
      expect(error).toMatchObject({ reason: 'name-mismatch' });
    });

    it('calls validateCn for each certificate of the chain, and rejects with cn-rejected when it says no', async () => {
      const server = await peer(certServer('server-chain.pem', 'leaf.key'));
      const calls: [string, number, boolean, string][] = [];
      await roundTrip({
        host: '127.0.0.1',
        port: server.port,
        pki: {
          ...trusted,
          validateCn: (cn, derCert, depth, validated) => {
            calls.push([cn, depth, validated, new X509Certificate(derCert).subject]);
            return true;
          },
        },
      });
      expect(calls).toEqual([
        ['localhost', 0, true, 'CN=localhost'],
        ['rxcoap test intermediate', 1, true, 'CN=rxcoap test intermediate'],
        ['rxcoap test ca', 2, true, 'CN=rxcoap test ca'],
      ]);
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: { ...trusted, validateCn: (cn) => cn !== 'rxcoap test intermediate' } }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ reason: 'cn-rejected' });
      expect((error as Error).message).toContain('depth 1 (CN rxcoap test intermediate)');
    });

    it('limits the chain to certChainVerifyDepth intermediate CAs', async () => {
      const server = await peer(certServer('server-chain.pem', 'leaf.key'));
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { ...trusted, certChainVerifyDepth: 1 } });
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: { ...trusted, certChainVerifyDepth: 0 } }));
      expect(error).toMatchObject({ reason: 'untrusted' });
      expect((error as Error).message).toContain('more than certChainVerifyDepth 0 allows');
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { ...trusted, certChainVerifyDepth: 0, certChainValidation: false } });
    });

    it('checks revocation against crlFiles: a revoked certificate fails, a good one passes', async () => {
      const revoked = await peer(certServer('revoked.pem', 'revoked.key'));
      const good = await peer(certServer('server.pem', 'server.key'));
      const pki: PkiCredentials = { ...trusted, checkCertRevocation: true, crlFiles: [pkiFile('crl.pem')] };
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: revoked.port, pki }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ reason: 'revoked' });
      await roundTrip({ host: '127.0.0.1', port: good.port, pki });
      // without a CRL there is nothing to check against
      const missing = await failure(tlsTransport({ host: '127.0.0.1', port: good.port, pki: { ...trusted, checkCertRevocation: true } }));
      expect(missing).toBeInstanceOf(CoapArgumentError);
      expect(missing).toMatchObject({ field: 'pki.crlFiles' });
    });

    it.each(['TLSv1.3', 'TLSv1.2'] as const)('fails with client-cert-required when a %s server demands a certificate we lack', async (maxVersion) => {
      const server = await peer(certServer('server.pem', 'server.key', { requestCert: true, rejectUnauthorized: true, ca: pkiBytes('ca.pem'), maxVersion }));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: trusted }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ reason: 'client-cert-required' });
    });

    it.each(['TLSv1.3', 'TLSv1.2'] as const)('authenticates itself with a client certificate (mutual auth, %s)', async (maxVersion) => {
      const server = await peer(certServer('server.pem', 'server.key', { requestCert: true, rejectUnauthorized: true, ca: pkiBytes('ca.pem'), maxVersion }));
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { pkiKey: { caFile: pkiFile('ca.pem'), publicCert: pkiFile('client.pem'), privateKey: pkiFile('client.key') } } });
      const serverSide = (await server.nextConnection()).socket as TLSSocket;
      expect(serverSide.authorized).toBe(true);
      expect(serverSide.getPeerCertificate().subject.CN).toBe('rxcoap-client');
    });

    it('reads a DER certificate and DER keys (PKCS#8 and SEC1)', async () => {
      const server = await peer(certServer('server.pem', 'server.key', { requestCert: true, rejectUnauthorized: true, ca: pkiBytes('ca.pem') }));
      const certDer = new X509Certificate(pkiBytes('client.pem')).raw;
      const key = createPrivateKey(pkiBytes('client.key'));
      for (const type of ['pkcs8', 'sec1'] as const) {
        const keyDer = key.export({ format: 'der', type }) as Buffer;
        await roundTrip({ host: '127.0.0.1', port: server.port, pki: { pkiKey: { keyType: 'asn1', caFile: pkiFile('ca.pem'), publicCert: certDer, privateKey: keyDer } } });
      }
      // SEC1 PEM text too
      const sec1Pem = key.export({ format: 'pem', type: 'sec1' }) as string;
      await roundTrip({ host: '127.0.0.1', port: server.port, pki: { pkiKey: { caFile: pkiFile('ca.pem'), publicCert: pkiFile('client.pem'), privateKey: sec1Pem } } });
    });

    it('reports unreadable material as CoapArgumentError naming the field, without quoting the key', async () => {
      const server = await peer(certServer('server.pem', 'server.key'));
      const missing = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: { pkiKey: { publicCert: pkiFile('client.pem'), privateKey: join(PKI, 'no-such.key') } } }));
      expect(missing).toBeInstanceOf(CoapArgumentError);
      expect(missing).toMatchObject({ field: 'pki.pkiKey.privateKey' });
      const wrongKey = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: { pkiKey: { publicCert: pkiFile('client.pem'), privateKey: pkiFile('server.key') } } }));
      expect(wrongKey).toBeInstanceOf(CoapArgumentError);
      expect(wrongKey).toMatchObject({ field: 'pki.pkiKey' });
      const garbage = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: { pkiKey: { publicCert: pkiFile('client.pem'), privateKey: Buffer.from('secret-but-not-a-key') } } }));
      expect(garbage).toMatchObject({ field: 'pki.pkiKey.privateKey' });
      expect((garbage as Error).message).not.toContain('secret');
    });

    it('connects without any check when verifyPeerCert is false, and says so in a warning event', async () => {
      const server = await peer(certServer('untrusted.pem', 'untrusted.key'));
      const transport = await roundTrip({ host: '127.0.0.1', port: server.port, pki: { verifyPeerCert: false } });
      const events = await firstValueFrom(transport.events$.pipe(toArray()));
      expect(events).toEqual<TransportEvent[]>([
        { type: 'warning', message: `certificate checks are off (verifyPeerCert: false): the identity of the TLS server 127.0.0.1:${server.port} is not verified` },
      ]);
    });

    it('emits no events when the server is verified', async () => {
      const server = await peer(certServer('server.pem', 'server.key'));
      const transport = await roundTrip({ host: '127.0.0.1', port: server.port, pki: trusted });
      expect(await firstValueFrom(transport.events$.pipe(toArray()))).toEqual([]);
    });
  });

  describe('failures', () => {
    it('fails with handshake-timeout when the server never answers the ClientHello', async () => {
      const silent = createNetServer((socket) => socket.on('error', () => undefined));
      servers.push(silent);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as { port: number }).port;
      const started = Date.now();
      const error = await failure(tlsTransport({ host: '127.0.0.1', port, handshakeTimeout: 200 }));
      expect(Date.now() - started).toBeLessThan(1000);
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ reason: 'handshake-timeout', message: `the TLS handshake with 127.0.0.1:${port} did not finish within 200 ms` });
    });

    it('runs the handshake timeout on the scheduler', () => {
      const scheduler = new VirtualTimeScheduler();
      const errors: unknown[] = [];
      subscriptions.push(tlsTransport({ host: '127.0.0.1', port: 9, scheduler, handshakeTimeout: 5000 })().subscribe({ error: (e) => errors.push(e) }));
      scheduler.flush();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ reason: 'handshake-timeout', message: 'no TCP connection to 127.0.0.1:9 within 5000 ms (the TLS handshake did not start)' });
    });

    it('fails with an alert when the server does not speak ALPN coap', async () => {
      const server = await peer(certServer('server.pem', 'server.key', { ALPNProtocols: ['h2'] }));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: server.port, pki: trusted }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ reason: 'alert' });
      expect((error as Error).message).toContain('no_application_protocol');
    });

    it('fails with handshake-failed when the server does not speak TLS', async () => {
      const plain = createNetServer((socket) => {
        socket.on('error', () => undefined);
        socket.end('this is not TLS\n');
      });
      servers.push(plain);
      await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port: (plain.address() as { port: number }).port }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(['handshake-failed', 'closed-by-peer']).toContain((error as CoapTlsError).reason);
    });

    it('fails with CoapTransportError reason refused when nothing listens', async () => {
      const probe = createNetServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as { port: number }).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      const error = await failure(tlsTransport({ host: '127.0.0.1', port, pki: trusted }));
      expect(error).toBeInstanceOf(CoapTransportError);
      expect(error).toMatchObject({ reason: 'refused', syscallCode: 'ECONNREFUSED' });
    });

    it('fails within milliseconds with CoapTransportError when the server drops an established connection', async () => {
      const server = await peer(PSK_SERVER);
      let settle: (error: unknown) => void = () => undefined;
      const lost = new Promise<unknown>((resolve) => (settle = resolve));
      const transport = await new Promise<Transport>((resolve) => {
        subscriptions.push(tlsTransport({ host: '127.0.0.1', port: server.port, psk: { identity: 'rxcoap', key: KEY } })().subscribe({ next: resolve, error: settle }));
      });
      const connection = await server.nextConnection();
      const started = Date.now();
      connection.socket.destroy();
      const error = await lost;
      expect(Date.now() - started).toBeLessThan(200);
      expect(error).toBeInstanceOf(CoapTransportError);
      expect(['closed-by-peer', 'reset']).toContain((error as { reason?: string }).reason);
      expect(() => transport.send(ping(1))).not.toThrow();
    });

    it('closes with close_notify and FIN on unsubscribe', async () => {
      const server = await peer(PSK_SERVER);
      const subscription = tlsTransport({ host: '127.0.0.1', port: server.port, psk: { identity: 'rxcoap', key: KEY } })().subscribe();
      const connection = await server.nextConnection();
      await delay(20);
      subscription.unsubscribe();
      await connection.ended;
      await connection.closed;
    });
  });
});
