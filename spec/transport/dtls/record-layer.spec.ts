/**
 * The DTLS record layer's anti-replay window (RFC 6347 §4.1.2.6) and record sealing across epochs.
 */
import { ecdheSuiteByName } from '../../../src/transport/dtls/ecdhe-suites';
import { ContentType, RecordLayer, ReplayWindow } from '../../../src/transport/dtls/record-layer';

describe('ReplayWindow', () => {
  it('takes each sequence number once, in any order within 64, and refuses what is older than the window', () => {
    const window = new ReplayWindow();
    const take = (n: number): boolean => {
      const fresh = window.fresh(n);
      if (fresh) window.mark(n);
      return fresh;
    };
    expect([0, 2, 1, 2, 0].map(take)).toEqual([true, true, true, false, false]);
    expect(take(100)).toBe(true);
    expect(take(37)).toBe(true); // 100 - 63
    expect(take(36)).toBe(false); // out of the window
    expect(take(99)).toBe(true);
    expect(take(99)).toBe(false);
    expect(take(2 ** 48 - 1)).toBe(true);
    expect(take(2 ** 48 - 2)).toBe(true);
    expect(take(100)).toBe(false);
  });

  it('forgets the marks of numbers the window slid past (a number n + 64 is new)', () => {
    const window = new ReplayWindow();
    window.mark(5);
    window.mark(69);
    expect(window.fresh(5)).toBe(false); // too old now
    expect(window.fresh(68)).toBe(true);
    window.mark(200);
    expect(window.fresh(136)).toBe(false);
    expect(window.fresh(137)).toBe(true);
    expect(window.fresh(199)).toBe(true);
  });
});

describe('RecordLayer', () => {
  const keys = { key: Buffer.alloc(16, 7), salt: Buffer.alloc(4, 9), aead: ecdheSuiteByName('TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8')!.aead };

  it('seals epoch 0 in plaintext and epoch 1 with AEAD, opens both once, drops a replay and a tampered record', () => {
    const writer = new RecordLayer();
    const reader = new RecordLayer();
    reader.setReadKeys(1, keys);
    const hello = writer.seal(ContentType.handshake, Uint8Array.of(1, 2, 3))!;
    writer.nextWriteEpoch(keys);
    const data = writer.seal(ContentType.applicationData, Uint8Array.of(4, 5))!;
    const retransmitted = writer.seal(ContentType.handshake, Uint8Array.of(1, 2, 3), 0)!;
    expect(Array.from(hello.subarray(3, 11))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(retransmitted.subarray(3, 11))).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(Array.from(data.subarray(3, 5))).toEqual([0, 1]);
    expect(data.length).toBe(13 + 8 + 2 + 8);
    const opened = [...reader.open(Buffer.concat([hello, data, retransmitted]))];
    expect(opened.map((r) => [r.type, r.epoch, r.sequence, Array.from(r.fragment)])).toEqual([
      [22, 0, 0, [1, 2, 3]],
      [23, 1, 0, [4, 5]],
      [22, 0, 1, [1, 2, 3]],
    ]);
    expect([...reader.open(data)]).toEqual([]);
    const tampered = Uint8Array.from(writer.seal(ContentType.applicationData, Uint8Array.of(6))!);
    tampered[tampered.length - 1] ^= 1;
    expect([...reader.open(tampered)]).toEqual([]);
    reader.closePlaintext();
    expect([...reader.open(writer.seal(ContentType.handshake, Uint8Array.of(9), 0)!)]).toEqual([]);
  });
});
