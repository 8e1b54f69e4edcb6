import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import * as path from 'node:path';
import { connect as connectTls } from 'node:tls';
import { OptionNumber, SignalOption } from '../../src/codec/option-numbers';
import { decodeUint, encodeString } from '../../src/codec/option-values';
import { EMPTY_BYTES, Method, ResponseCode, SignalCode, createPdu, getOption, type CoapPdu } from '../../src/codec/pdu';
import { StreamDeframer, encodeStreamFrame } from '../../src/codec/stream-codec';
import { CoapArgumentError } from '../../src/errors';
import { HostileStreamScript, hostileStreamConnectionSeed, startHostileStreamPeer, type HostileStreamAction, type HostileStreamPeer } from '../../src/testing/hostile-stream-peer';
import { MUTATION_KINDS } from '../../src/testing/mutate';
import { waitFor } from './dgram-client';

const csm = createPdu({ code: SignalCode.CSM, options: [{ number: SignalOption.MaxMessageSize, value: Uint8Array.of(0x04, 0x80) }] });
const get = (token: number, segment = 'small'): CoapPdu => createPdu({ code: Method.GET, token: Uint8Array.of(0xee, token & 0xff), options: [{ number: OptionNumber.UriPath, value: encodeString(segment) }] });
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Every write a script makes for `requests` GETs (with a tick after each), as text. */
function run(seed: number, requests = 150): { lines: string[]; actions: HostileStreamAction[]; script: HostileStreamScript } {
  const script = new HostileStreamScript(seed, { csmFaultRate: 0.5, hazardRate: 0.3 });
  const actions: HostileStreamAction[] = [...script.start()];
  for (let i = 0; i < requests; i++) {
    actions.push(...script.receive(i === 0 ? csm : get(i, i % 3 === 0 ? 'large' : i % 3 === 1 ? 'obs' : 'small')));
    actions.push(...script.tick());
  }
  const lines = actions.map((action) => (action.type === 'write' ? `${action.kind}:${action.delay}:${hex(action.bytes)}` : `close:${action.how}:${action.delay}`));
  return { lines, actions, script };
}

/** A raw TCP client: sends frames, keeps every byte it gets, undecoded (the peer sends garbage on purpose). */
class RawStream {
  readonly chunks: Buffer[] = [];
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }
  static open(port: number | string): Promise<RawStream> {
    return new Promise((resolve) => {
      const socket = typeof port === 'string' ? connect({ path: port }, () => resolve(new RawStream(socket))) : connect({ host: '127.0.0.1', port }, () => resolve(new RawStream(socket)));
    });
  }
  send(pdu: CoapPdu): void {
    this.socket.write(encodeStreamFrame(pdu));
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

async function activeCount(kind: string): Promise<number> {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((name) => name === kind).length;
}

describe('hostile stream peer', () => {
  let peer: HostileStreamPeer | undefined;
  let client: RawStream | undefined;

  afterEach(async () => {
    client?.socket.destroy();
    await peer?.close();
    client = undefined;
    peer = undefined;
  });

  it('answers some requests correctly and mutates the others, with stream hazards beside them', () => {
    const { actions, script } = run(11, 300);
    const kinds = actions.map((action) => action.kind);
    expect(kinds.filter((kind) => kind === 'correct').length).toBeGreaterThan(30);
    expect(new Set(kinds.filter((kind) => (MUTATION_KINDS as readonly string[]).includes(kind))).size).toBeGreaterThan(5);
    expect(Object.keys(script.hazards).length).toBeGreaterThan(6);
    // The correct answers are RFC 8323 frames for the request's token.
    const deframer = new StreamDeframer({ maxMessageSize: Infinity });
    const correct = actions.find((action): action is Extract<HostileStreamAction, { type: 'write' }> => action.type === 'write' && action.kind === 'correct')!;
    const [pdu] = deframer.push(correct.bytes);
    expect(pdu.code >> 5).toBeGreaterThanOrEqual(2);
  });

  it('writes absurd lengths, reserved TKL 15, and CSMs saying Max-Message-Size 0 or 2^32-1', () => {
    const firstBytes: Uint8Array[] = [];
    const plans = new Set<string>();
    const csms: Uint8Array[] = [];
    for (let seed = 1; seed <= 60; seed++) {
      const { actions, script } = run(seed, 60);
      plans.add(script.csm);
      for (const action of actions) {
        if (action.type !== 'write') continue;
        if (action.kind === 'absurd-length' || action.kind === 'reserved-tkl') firstBytes.push(action.bytes);
        if (action.kind === 'csm-mms-zero' || action.kind === 'csm-mms-huge') csms.push(action.bytes);
      }
    }
    // Len 15 with a 32-bit extended length of 0xffffffff: 4 GB + 65805 bytes announced.
    expect(firstBytes.some((bytes) => bytes[0] >> 4 === 15 && hex(bytes.subarray(1, 5)) === 'ffffffff')).toBe(true);
    expect(firstBytes.some((bytes) => (bytes[0] & 0x0f) === 15)).toBe(true);
    const sizes = csms.map((bytes) => {
      const [pdu] = new StreamDeframer({ maxMessageSize: Infinity }).push(bytes);
      return decodeUint(getOption(pdu, SignalOption.MaxMessageSize) ?? EMPTY_BYTES);
    });
    expect(sizes).toContain(0);
    expect(sizes).toContain(0xffffffff);
    for (const plan of ['normal', 'late', 'mutated', 'missing', 'twice', 'preceded']) expect(plans).toContain(plan);
  });

  it('is reproducible: the same seed and frames give the same writes, another seed others; connections have seeds of their own', () => {
    expect(run(42).lines).toEqual(run(42).lines);
    expect(run(43).lines).not.toEqual(run(42).lines);
    expect(hostileStreamConnectionSeed(42, 1)).toBe(hostileStreamConnectionSeed(42, 1));
    expect(hostileStreamConnectionSeed(42, 2)).not.toBe(hostileStreamConnectionSeed(42, 1));
  });

  it('serves over TCP in random chunks, the CSM first, and names each connection and its seed', async () => {
    peer = await startHostileStreamPeer({ seed: 5, csmFaultRate: 0, hazardRate: 0, correctRate: 1, unsolicitedRate: 0 });
    expect(peer.uri()).toBe(`coap+tcp://127.0.0.1:${peer.address.port}/`);
    client = await RawStream.open(peer.address.port);
    client.send(csm);
    const deframer = new StreamDeframer({ maxMessageSize: Infinity });
    const received: CoapPdu[] = [];
    const answered = () => received.filter((pdu) => pdu.code === ResponseCode.Content).length;
    // One request at a time, so each answer is written alone (and cut as the peer likes).
    for (let i = 1; i <= 20; i++) {
      client.send(get(i));
      await waitFor(() => {
        received.push(...deframer.push(Buffer.concat(client!.chunks.splice(0))));
        return answered() === i;
      }, 2000);
    }
    expect(received[0].code).toBe(SignalCode.CSM);
    expect(peer.stats.writes).toBeGreaterThan(peer.stats.framesSent); // cut into chunks
    const info = peer.connectionFor(client.socket.localPort!)!;
    expect(info).toMatchObject({ id: 1, seed: hostileStreamConnectionSeed(5, 1), csm: 'normal', open: true });
  });

  it('serves on a Unix stream socket path with path, as coap+tcp://%2F…, and frees it on close', async () => {
    const dir = mkdtempSync('/tmp/rxs');
    try {
      const socketPath = path.join(dir, 't');
      peer = await startHostileStreamPeer({ seed: 8, csmFaultRate: 0, hazardRate: 0, correctRate: 1, unsolicitedRate: 0, path: socketPath });
      expect(peer.path).toBe(socketPath);
      expect(peer.uri('/small')).toBe(`coap+tcp://${encodeURIComponent(socketPath)}/small`);
      client = await RawStream.open(socketPath);
      client.send(csm);
      client.send(get(1));
      const deframer = new StreamDeframer({ maxMessageSize: Infinity });
      const received: CoapPdu[] = [];
      await waitFor(() => {
        received.push(...deframer.push(Buffer.concat(client!.chunks.splice(0))));
        return received.some((pdu) => pdu.code === ResponseCode.Content);
      }, 2000);
      expect(received[0].code).toBe(SignalCode.CSM);
      client.socket.destroy();
      client = undefined;
      await peer.close();
      peer = undefined;
      expect(existsSync(socketPath)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('speaks TLS-PSK with tls.psk', async () => {
    peer = await startHostileStreamPeer({ seed: 6, csmFaultRate: 0, tls: { psk: { key: 'secret' } } });
    expect(peer.uri()).toMatch(/^coaps\+tcp:\/\//);
    const socket = connectTls({
      host: '127.0.0.1',
      port: peer.address.port,
      maxVersion: 'TLSv1.2',
      ciphers: 'PSK-AES128-GCM-SHA256',
      checkServerIdentity: () => undefined,
      pskCallback: () => ({ identity: 'spec', psk: Buffer.from('secret') }),
    });
    socket.on('error', () => undefined);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('secureConnect', () => socket.write(encodeStreamFrame(csm)));
    await waitFor(() => {
      try {
        return new StreamDeframer({ maxMessageSize: Infinity }).push(Buffer.concat(chunks)).some((pdu) => pdu.code === SignalCode.CSM);
      } catch {
        return false;
      }
    }, 3000);
    socket.destroy();
  });

  it('refuses a host that is not loopback', async () => {
    await expect(startHostileStreamPeer({ host: '0.0.0.0' as '127.0.0.1' })).rejects.toBeInstanceOf(CoapArgumentError);
  });

  it('leaves no socket or timer open after close()', async () => {
    const servers = await activeCount('TCPServerWrap');
    const sockets = await activeCount('TCPSocketWrap');
    const timers = await activeCount('Timeout');
    peer = await startHostileStreamPeer({ seed: 9, lateDelay: 500, tickInterval: 10, lateCsmDelay: 5000 });
    const clients = await Promise.all([1, 2, 3].map(() => RawStream.open(peer!.address.port)));
    for (const each of clients) {
      each.send(csm);
      for (let i = 1; i <= 10; i++) each.send(get(i, 'obs'));
    }
    await waitFor(() => peer!.stats.requests >= 10, 3000);
    expect(await activeCount('TCPServerWrap')).toBe(servers + 1);
    await peer.close();
    peer = undefined;
    await waitFor(() => clients.every((each) => each.closed), 2000);
    expect(await activeCount('TCPServerWrap')).toBe(servers);
    expect(await activeCount('TCPSocketWrap')).toBe(sockets);
    await waitFor(() => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length <= timers, 1000);
  });
});
