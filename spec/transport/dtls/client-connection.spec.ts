/**
 * rxcoap's DTLS 1.2 client against the test server of `rxcoap/testing` (`DtlsTestServer`), in virtual time: the
 * whole handshake, every suite, retransmission on RFC 6347's timer, loss, duplication, reordering,
 * fragmentation, the server lying (Finished, ServerKeyExchange signature, suite), mutual authentication, replay
 * and tampering of application records, close_notify.
 */
import { generateKeyPairSync, X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { CoapDtlsError } from '../../../src/errors';
import { DtlsTestServer, type DtlsTestServerFaults, type DtlsTestServerOptions } from '../../../src/testing/dtls-test-server';
import { DtlsClientConnection, type DtlsClientConnectionOptions, type IdentityVerdict, type PresentedIdentity } from '../../../src/transport/dtls/client-connection';
import { ecdheSuiteByName, NamedGroup, DEFAULT_PKI_CIPHER_SUITES, type DtlsPkiCipherSuite, type EcdheSuiteInfo } from '../../../src/transport/dtls/ecdhe-suites';
import { HandshakeType } from '../../../src/transport/dtls/handshake-codec';
import { seededRandom } from '../../../src/testing/seeded-random';
import type { TransportEvent } from '../../../src/transport/transport';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'pki');
const der = (name: string): Uint8Array => new Uint8Array(new X509Certificate(fs.readFileSync(path.join(FIXTURES, name))).raw);
const key = (name: string): KeyObject => createPrivateKey(fs.readFileSync(path.join(FIXTURES, name)));
const suites = (...names: DtlsPkiCipherSuite[]): EcdheSuiteInfo[] => names.map((name) => ecdheSuiteByName(name)!);
const ALL = suites(...DEFAULT_PKI_CIPHER_SUITES);
const LATENCY = 5;

/** How the link between client and server treats each datagram: deliver (after `LATENCY` ms) or drop, and how often. */
type Link = (datagram: Uint8Array, index: number) => number;

interface Harness {
  readonly scheduler: VirtualTimeScheduler;
  readonly client: DtlsClientConnection;
  readonly server: DtlsTestServer;
  readonly events: TransportEvent[];
  readonly received: Uint8Array[];
  readonly toServer: { at: number; datagram: Uint8Array }[];
  readonly toClient: { at: number; datagram: Uint8Array }[];
  opened?: EcdheSuiteInfo;
  failed?: CoapDtlsError;
  presented?: PresentedIdentity;
}

const acceptAny = (identity: PresentedIdentity): IdentityVerdict =>
  identity.kind === 'x509' ? { ok: true, publicKey: new X509Certificate(identity.certificates[0]).publicKey } : { ok: false, error: new CoapDtlsError('untrusted', 'no'), alert: 43 };

function harness(
  options: {
    client?: Partial<DtlsClientConnectionOptions>;
    server?: Partial<DtlsTestServerOptions>;
    faults?: DtlsTestServerFaults;
    toServer?: Link;
    toClient?: Link;
  } = {},
): Harness {
  const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
  const h = { scheduler, events: [], received: [], toServer: [], toClient: [] } as unknown as Harness & { client: DtlsClientConnection; server: DtlsTestServer };
  const deliver = (link: Link | undefined, log: { at: number; datagram: Uint8Array }[], to: () => { receive(d: Uint8Array): void }) => (datagram: Uint8Array): void => {
    const copy = Uint8Array.from(datagram);
    const copies = link === undefined ? 1 : link(copy, log.length);
    log.push({ at: scheduler.now(), datagram: copy });
    for (let i = 0; i < copies; i++) scheduler.schedule(() => to().receive(copy), LATENCY + i);
  };
  const server = new DtlsTestServer({
    certificates: [der('server.pem')],
    privateKey: key('server.key'),
    suites: DEFAULT_PKI_CIPHER_SUITES,
    faults: options.faults,
    send: deliver(options.toClient, h.toClient, () => h.client),
    onData: (data) => Uint8Array.from([...data].reverse()),
    ...options.server,
  });
  const client = new DtlsClientConnection({
    peer: { host: '127.0.0.1', port: 5684 },
    serverName: undefined,
    suites: ALL,
    groups: [NamedGroup.x25519, NamedGroup.secp256r1],
    verifyServer: (identity) => {
      h.presented = identity;
      return acceptAny(identity);
    },
    scheduler,
    handshakeDeadline: 30_000,
    maxDatagram: 1152,
    send: deliver(options.toServer, h.toServer, () => server),
    onOpen: (suite) => (h.opened = suite),
    onData: (data) => h.received.push(data),
    onFailed: (error) => (h.failed = error),
    onEvent: (event) => h.events.push(event),
    ...options.client,
  });
  Object.assign(h, { client, server });
  return h;
}

function run(h: Harness): Harness {
  h.client.start();
  h.scheduler.flush();
  return h;
}

describe('DtlsClientConnection against the DTLS test server (virtual time)', () => {
  it('completes the cookie exchange and the handshake with extended master secret, then carries application data both ways', () => {
    const h = run(harness());
    expect(h.failed).toBeUndefined();
    expect(h.opened?.name).toBe('TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
    expect(h.server.observed).toMatchObject({ clientHellos: 2, extendedMasterSecret: true, connected: true, serverName: undefined });
    expect(h.presented?.kind).toBe('x509');
    const presented = (h.presented as unknown as { certificates: Uint8Array[] }).certificates.map((cert) => Buffer.from(cert));
    expect(presented).toEqual([Buffer.from(der('server.pem'))]);
    expect(h.client.overhead).toBe(29);
    expect(h.client.sendApplicationData(Uint8Array.of(1, 2, 3))).toBe(true);
    h.scheduler.flush();
    expect(h.received).toEqual([Uint8Array.of(3, 2, 1)]);
    expect(h.events.filter((event) => event.type === 'dtls-retry')).toEqual([]);
  });

  it('falls back to the RFC 5246 master secret with a server that does not echo extended_master_secret, and without a cookie exchange', () => {
    const h = run(harness({ faults: { noExtendedMasterSecret: true, noCookie: true } }));
    expect(h.failed).toBeUndefined();
    expect(h.opened).toBeDefined();
    expect(h.server.observed).toMatchObject({ clientHellos: 1, extendedMasterSecret: false, connected: true });
  });

  it('sends SNI for a host name only (RFC 6066 §3)', () => {
    const h = run(harness({ client: { serverName: 'coap.example' } }));
    expect(h.server.observed.serverName).toBe('coap.example');
  });

  it.each([
    ['TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', 29],
    ['TLS_ECDHE_ECDSA_WITH_AES_128_CCM', 37],
    ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 37],
  ] as const)('negotiates %s (record overhead %i) and exchanges data', (name, overhead) => {
    const h = run(harness({ server: { suites: [name] } }));
    expect(h.opened?.name).toBe(name);
    expect(h.client.overhead).toBe(overhead);
    h.client.sendApplicationData(Uint8Array.of(9, 8));
    h.scheduler.flush();
    expect(h.received).toEqual([Uint8Array.of(8, 9)]);
  });

  it('negotiates TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 with an RSA server key, over each group', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const group of [NamedGroup.x25519, NamedGroup.secp256r1]) {
      const h = harness({
        server: { suites: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'], privateKey: rsa.privateKey },
        client: { groups: [group], verifyServer: () => ({ ok: true, publicKey: rsa.publicKey }) },
      });
      run(h);
      expect(h.failed).toBeUndefined();
      expect(h.opened?.name).toBe('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    }
  });

  it('refuses a server Finished that does not verify: CoapDtlsError bad-finished, decrypt_error alert, never open', () => {
    const h = run(harness({ faults: { badFinished: true } }));
    expect(h.opened).toBeUndefined();
    expect(h.failed).toMatchObject({ name: 'CoapDtlsError', reason: 'bad-finished' });
    expect(h.server.observed.alerts).toEqual([51]);
    expect(h.client.sendApplicationData(Uint8Array.of(1))).toBe(false);
  });

  it('refuses a ServerKeyExchange whose signature does not verify: bad-signature, before sending any key', () => {
    const h = run(harness({ faults: { badSignature: true } }));
    expect(h.opened).toBeUndefined();
    expect(h.failed).toMatchObject({ reason: 'bad-signature' });
    expect(h.server.observed.alerts).toEqual([51]);
    // the client's flights: ClientHello twice (the cookie), then only the alert
    expect(h.toServer).toHaveLength(3);
  });

  it('refuses a signature by a key other than the certificate\'s (the verifier decides the key)', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const h = run(harness({ client: { verifyServer: () => ({ ok: true, publicKey: other.publicKey }) } }));
    expect(h.failed).toMatchObject({ reason: 'bad-signature' });
  });

  it('refuses a suite it did not offer, and stops at the verifier\'s verdict with its reason', () => {
    const forced = run(harness({ client: { suites: suites('TLS_ECDHE_ECDSA_WITH_AES_128_CCM') }, faults: { forceSuite: 0xc0ae } }));
    expect(forced.failed).toMatchObject({ reason: 'handshake-failed', message: expect.stringContaining('not offered') });
    const refused = run(harness({ client: { verifyServer: () => ({ ok: false, error: new CoapDtlsError('untrusted', 'the certificate is not trusted'), alert: 48 }) } }));
    expect(refused.failed).toMatchObject({ reason: 'untrusted' });
    expect(refused.server.observed.alerts).toEqual([48]);
  });

  it('retransmits the ClientHello after 1, 2, 4, 8 s ... (RFC 6347 §4.2.4.1) and fails with handshake-timeout at the deadline', () => {
    const h = run(harness({ toServer: () => 0, client: { handshakeDeadline: 20_000 } }));
    expect(h.toServer.map((sent) => sent.at)).toEqual([0, 1000, 3000, 7000, 15000]);
    expect(h.events.filter((event) => event.type === 'dtls-retry').map((event) => (event as { delay: number }).delay)).toEqual([2000, 4000, 8000, 16000]);
    expect(h.failed).toMatchObject({ name: 'CoapDtlsError', reason: 'handshake-timeout', message: expect.stringContaining('no DTLS server') });
    expect(h.scheduler.now()).toBe(20_000);
  });

  it('caps the retransmission timer at maxRetransmitTimeout', () => {
    const h = run(harness({ toServer: () => 0, client: { handshakeDeadline: 10_000, maxRetransmitTimeout: 2000 } }));
    expect(h.toServer.map((sent) => sent.at)).toEqual([0, 1000, 3000, 5000, 7000, 9000]);
  });

  it.each([
    ['the HelloVerifyRequest', (_: Uint8Array, index: number) => (index === 0 ? 0 : 1)],
    ['the server\'s flight 4', (_: Uint8Array, index: number) => (index === 1 ? 0 : 1)],
    ['the server\'s final flight', (_: Uint8Array, index: number) => (index === 2 ? 0 : 1)],
    ['every other server datagram, twice', (_: Uint8Array, index: number) => (index < 4 && index % 2 === 0 ? 0 : 1)],
  ])('completes when %s is lost: the client sends its flight again when its timer runs out', (_, toClient) => {
    const h = run(harness({ toClient }));
    expect(h.failed).toBeUndefined();
    expect(h.opened).toBeDefined();
    expect(h.events.some((event) => event.type === 'dtls-retry')).toBe(true);
  });

  it('completes when the client\'s flights are lost, and when every datagram arrives twice', () => {
    const lossy = run(harness({ toServer: (_, index) => (index === 1 || index === 2 ? 0 : 1) }));
    expect(lossy.opened).toBeDefined();
    const doubled = run(harness({ toServer: () => 2, toClient: () => 2 }));
    expect(doubled.opened).toBeDefined();
    expect(doubled.failed).toBeUndefined();
  });

  it('answers the server\'s repeated flight 4 by sending its flight 5 again at once, not on its timer', () => {
    // lose the client's first flight 5 (its third datagram), then let the server send flight 4 again at 200 ms
    const h = harness({ toServer: (_, index) => (index === 2 ? 0 : 1) });
    h.client.start();
    h.scheduler.maxFrames = 100;
    h.scheduler.flush();
    expect(h.toServer).toHaveLength(3);
    h.scheduler.schedule(() => h.server.retransmit(), 200 - LATENCY - h.scheduler.frame);
    h.scheduler.maxFrames = Infinity;
    h.scheduler.flush();
    expect(h.opened).toBeDefined();
    expect(h.toServer[3].at).toBe(200);
    expect(h.events.some((event) => event.type === 'dtls-retry')).toBe(false);
  });

  it('reassembles a server flight cut into many fragments and records, delivered in reverse order', () => {
    let flight: Uint8Array[] = [];
    const h = harness({
      server: { maxDatagram: 300 },
      toClient: (datagram) => {
        // hold the datagrams of flight 4 and deliver them reversed once the ServerHelloDone's datagram is in
        flight.push(datagram);
        return 0;
      },
    });
    h.client.start();
    for (let round = 0; round < 10 && h.opened === undefined && h.failed === undefined; round++) {
      // run 100 ms of virtual time (less than the retransmission timer), then deliver what the server sent, reversed
      h.scheduler.maxFrames = h.scheduler.frame + 100;
      h.scheduler.flush();
      const held = flight.reverse();
      flight = [];
      for (const datagram of held) h.client.receive(datagram);
    }
    expect(h.failed).toBeUndefined();
    expect(h.opened).toBeDefined();
  });

  it('authenticates with its certificate and CertificateVerify when asked; fragments its own large flight', () => {
    const h = run(
      harness({
        server: { clientCertificate: 'require' },
        client: { clientIdentity: { certificates: [der('client.pem'), der('ca.pem')], privateKey: key('client.key') }, maxDatagram: 300 },
      }),
    );
    expect(h.failed).toBeUndefined();
    expect(h.opened).toBeDefined();
    expect(h.server.observed.clientCertificates).toEqual([der('client.pem'), der('ca.pem')]);
    expect(h.server.observed.clientCertificateVerified).toBe(true);
    expect(h.toServer.every((sent) => sent.datagram.length <= 300)).toBe(true);
  });

  it('fails with client-cert-required when the server demands a certificate it does not have', () => {
    const h = run(harness({ server: { clientCertificate: 'require' } }));
    expect(h.failed).toMatchObject({ reason: 'client-cert-required' });
    expect(h.server.observed.clientCertificates).toEqual([]);
  });

  it('delivers a replayed application record once, and drops a tampered one', () => {
    const h = run(harness());
    h.server.sendApplicationData(Uint8Array.of(7));
    // capture the record the server sent and deliver it again, then a copy with one byte flipped
    const last = h.toClient[h.toClient.length - 1].datagram;
    h.scheduler.flush();
    h.client.receive(last);
    const tampered = Uint8Array.from(last);
    tampered[tampered.length - 1] ^= 0x01;
    h.client.receive(tampered);
    expect(h.received).toEqual([Uint8Array.of(7)]);
    expect(h.failed).toBeUndefined();
  });

  it('ends with closed-by-peer on the server\'s close_notify, and sends its own on close()', () => {
    const h = run(harness());
    h.server.sendAlert(1, 0);
    h.scheduler.flush();
    expect(h.failed).toMatchObject({ reason: 'closed-by-peer' });
    const other = run(harness());
    other.client.close();
    other.scheduler.flush();
    expect(other.server.observed.alerts).toEqual([0]);
  });

  it('never throws and ends open or with a typed CoapDtlsError when server datagrams are mutated at random (300 seeded handshakes)', () => {
    const outcomes = new Map<string, number>();
    for (let seed = 1; seed <= 300; seed++) {
      const random = seededRandom(seed);
      let clean = false;
      const h = harness({
        client: { handshakeDeadline: 8000 },
        toClient: (datagram) => {
          if (clean) return 1;
          // each server datagram: a third get 1 to 3 bytes overwritten, some are cut short, some lost
          if (random() < 0.33) for (let n = 1 + Math.floor(random() * 3); n > 0; n--) datagram[Math.floor(random() * datagram.length)] = Math.floor(random() * 256);
          if (random() < 0.05) return 0;
          return 1;
        },
      });
      expect(() => run(h)).not.toThrow();
      const outcome = h.opened !== undefined ? 'open' : h.failed instanceof CoapDtlsError ? h.failed.reason : 'neither';
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (h.opened !== undefined) {
        // an open association works: nothing tampered was taken for the server's key or Finished
        clean = true;
        h.client.sendApplicationData(Uint8Array.of(4, 5));
        h.scheduler.flush();
        expect(h.received.at(-1)).toEqual(Uint8Array.of(5, 4));
      }
    }
    expect(outcomes.get('neither')).toBeUndefined();
    expect(outcomes.get('open')).toBeGreaterThan(100);
  });

  it('ignores garbage, records from the wrong epoch and unprotected Finished messages without failing', () => {
    const h = harness();
    h.client.start();
    h.client.receive(Uint8Array.of(1, 2, 3));
    h.client.receive(new Uint8Array(200));
    // a handshake record (type 22, epoch 0) whose fragment does not parse
    h.client.receive(Uint8Array.of(22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 3, 1, 2, 3));
    // an application record in epoch 1 before any keys exist
    h.client.receive(Uint8Array.of(23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 24, ...new Uint8Array(24)));
    h.scheduler.flush();
    expect(h.failed).toBeUndefined();
    expect(h.opened).toBeDefined();
    expect(HandshakeType.finished).toBe(20);
  });
});
