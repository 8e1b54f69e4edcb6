import { CoapDecodeError } from '../../src/errors';
import { createPdu, Method, ResponseCode, SignalCode, type CoapPdu } from '../../src/codec/pdu';
import { OptionNumber, SignalOption } from '../../src/codec/option-numbers';
import { encodeString, encodeUint } from '../../src/codec/option-values';
import { decodeStreamFrame, DEFAULT_MAX_MESSAGE_SIZE, encodeStreamFrame, StreamDeframer } from '../../src/codec/stream-codec';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Fields that survive stream framing (no type or message ID). */
const fields = (pdu: CoapPdu) => ({
  code: pdu.code,
  token: toHex(pdu.token),
  options: pdu.options.map((o) => [o.number, toHex(o.value)]),
  payload: toHex(pdu.payload),
});

function pushError(deframer: StreamDeframer, bytes: Uint8Array): CoapDecodeError {
  try {
    deframer.push(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(CoapDecodeError);
    return error as CoapDecodeError;
  }
  throw new Error('expected a CoapDecodeError');
}

/** Hex fixtures: each frame and the PDU it carries. */
const fixtures: { name: string; frame: string; pdu: CoapPdu }[] = [
  {
    name: 'GET with a token and Uri-Path (Len 5)',
    frame: '52 01 a1b2 b4 74656d70',
    pdu: createPdu({ code: Method.GET, token: hex('a1b2'), options: [{ number: OptionNumber.UriPath, value: encodeString('temp') }] }),
  },
  {
    name: '2.05 with a 20-byte payload (Len 13 + 1 byte)',
    frame: 'd1 09 45 01 c0 ff' + '61'.repeat(20),
    pdu: createPdu({ code: ResponseCode.Content, token: hex('01'), options: [{ number: OptionNumber.ContentFormat, value: encodeUint(0) }], payload: new Uint8Array(20).fill(0x61) }),
  },
  {
    name: '2.05 with a 300-byte payload (Len 14 + 2 bytes)',
    frame: 'e0 0020 45 ff' + '62'.repeat(300),
    pdu: createPdu({ code: ResponseCode.Content, payload: new Uint8Array(300).fill(0x62) }),
  },
  {
    name: 'CSM with Max-Message-Size and Block-Wise-Transfer (RFC 8323 §5.3)',
    frame: '40 e1 22 1000 20',
    pdu: createPdu({ code: SignalCode.CSM, options: [
      { number: SignalOption.MaxMessageSize, value: encodeUint(4096) },
      { number: SignalOption.BlockWiseTransfer, value: new Uint8Array(0) },
    ] }),
  },
  { name: 'Ping with Custody', frame: '10 e2 20', pdu: createPdu({ code: SignalCode.Ping, options: [{ number: SignalOption.Custody, value: new Uint8Array(0) }] }) },
  { name: 'Pong with a token', frame: '01 e3 42', pdu: createPdu({ code: SignalCode.Pong, token: hex('42') }) },
  { name: 'Release with Hold-Off', frame: '20 e4 41 3c', pdu: createPdu({ code: SignalCode.Release, options: [{ number: SignalOption.HoldOff, value: encodeUint(60) }] }) },
  { name: 'Abort with a diagnostic payload', frame: '30 e5 ff 6f6b', pdu: createPdu({ code: SignalCode.Abort, payload: encodeString('ok') }) },
  { name: 'empty message 0.00', frame: '00 00', pdu: createPdu({ code: 0 }) },
  {
    name: 'extended token of 14 bytes (RFC 8974: TKL 13, extension after the code)',
    frame: '0d 01 01' + 'cd'.repeat(14),
    pdu: createPdu({ code: Method.GET, token: new Uint8Array(14).fill(0xcd) }),
  },
];

describe('stream codec: encodeStreamFrame (RFC 8323 §3.2)', () => {
  it.each(fixtures)('encodes $name exactly', ({ frame, pdu }) => {
    expect(toHex(encodeStreamFrame(pdu))).toBe(frame.replace(/\s+/g, ''));
  });

  it('encodes a body of 65805 bytes with Len 15 and a 4-byte extension of 0', () => {
    const frame = encodeStreamFrame(createPdu({ code: ResponseCode.Content, payload: new Uint8Array(65804) }));
    expect(toHex(frame.subarray(0, 6))).toBe('f000000000' + '45');
    expect(frame.length).toBe(1 + 4 + 1 + 65805);
    expect(decodeStreamFrame(frame).payload.length).toBe(65804);
  });

  it('encodes 65804 bytes of body with Len 14 (ffff)', () => {
    const frame = encodeStreamFrame(createPdu({ code: ResponseCode.Content, payload: new Uint8Array(65803) }));
    expect(toHex(frame.subarray(0, 4))).toBe('e0ffff45');
  });

  it('ignores the type and message ID', () => {
    expect(toHex(encodeStreamFrame(createPdu({ code: Method.GET, type: 2, messageId: 999 })))).toBe('0001');
  });
});

describe('stream codec: StreamDeframer', () => {
  it.each(fixtures)('decodes $name in one chunk', ({ frame, pdu }) => {
    const pdus = new StreamDeframer({ maxMessageSize: 100_000 }).push(hex(frame));
    expect(pdus.map(fields)).toEqual([fields(pdu)]);
    expect(pdus[0]).toMatchObject({ type: 0, messageId: 0 });
  });

  it.each(fixtures)('decodes $name split at every offset', ({ frame, pdu }) => {
    const bytes = hex(frame);
    for (let split = 0; split <= bytes.length; split++) {
      const deframer = new StreamDeframer({ maxMessageSize: 100_000 });
      const pdus = [...deframer.push(bytes.slice(0, split)), ...deframer.push(bytes.slice(split))];
      expect(pdus.map(fields)).toEqual([fields(pdu)]);
      expect(deframer.idle).toBe(true);
    }
  });

  it.each(fixtures)('decodes $name fed one byte at a time', ({ frame, pdu }) => {
    const bytes = hex(frame);
    const deframer = new StreamDeframer({ maxMessageSize: 100_000 });
    const pdus: CoapPdu[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const out = deframer.push(bytes.slice(i, i + 1));
      if (i < bytes.length - 1) expect(out).toEqual([]);
      pdus.push(...out);
    }
    expect(pdus.map(fields)).toEqual([fields(pdu)]);
  });

  it('decodes every fixture from one chunk, in order', () => {
    const all = Buffer.concat(fixtures.map((f) => Buffer.from(hex(f.frame))));
    const pdus = new StreamDeframer({ maxMessageSize: 100_000 }).push(Uint8Array.from(all));
    expect(pdus.map(fields)).toEqual(fixtures.map((f) => fields(f.pdu)));
  });

  it('decodes every fixture from one stream split at every offset', () => {
    const all = Uint8Array.from(Buffer.concat(fixtures.map((f) => Buffer.from(hex(f.frame)))));
    for (let split = 0; split <= all.length; split += 7) {
      const deframer = new StreamDeframer({ maxMessageSize: 100_000 });
      const pdus = [...deframer.push(all.subarray(0, split)), ...deframer.push(all.subarray(split))];
      expect(pdus.map(fields)).toEqual(fixtures.map((f) => fields(f.pdu)));
    }
  });

  it('reports buffered bytes of a partial frame', () => {
    const deframer = new StreamDeframer();
    expect(deframer.push(hex('52 01 a1'))).toEqual([]);
    expect(deframer.bufferedBytes).toBe(1);
    expect(deframer.idle).toBe(false);
  });

  it('defaults to the RFC 8323 base Max-Message-Size of 1152', () => {
    expect(DEFAULT_MAX_MESSAGE_SIZE).toBe(1152);
    const deframer = new StreamDeframer();
    expect(deframer.maxMessageSize).toBe(1152);
    const fits = encodeStreamFrame(createPdu({ code: ResponseCode.Content, payload: new Uint8Array(1152 - 5) }));
    expect(fits.length).toBe(1152);
    expect(deframer.push(fits)).toHaveLength(1);
  });

  it('rejects an oversized frame from its header alone, before buffering the body', () => {
    const deframer = new StreamDeframer({ maxMessageSize: 1024 });
    // Len 14 announcing 2000 bytes of body: only the 3 header bytes are pushed.
    const error = pushError(deframer, hex('e0 0663'));
    expect(error).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'MESSAGE_TOO_LARGE', fatal: true, offset: 0 });
    expect(deframer.bufferedBytes).toBe(0);
  });

  it('rejects a 4 GiB frame announced by Len 15 without buffering', () => {
    const deframer = new StreamDeframer({ maxMessageSize: 1 << 20 });
    expect(pushError(deframer, hex('f0 ffffffff'))).toMatchObject({ reason: 'MESSAGE_TOO_LARGE', fatal: true });
  });

  it('counts the extended token against the limit once the code byte arrives', () => {
    const deframer = new StreamDeframer({ maxMessageSize: 300 });
    expect(deframer.push(hex('0e 01'))).toEqual([]);
    expect(pushError(deframer, hex('0100'))).toMatchObject({ reason: 'MESSAGE_TOO_LARGE', fatal: true });
  });

  it('reports the stream offset of the frame that is too large', () => {
    const deframer = new StreamDeframer({ maxMessageSize: 20 });
    expect(pushError(deframer, hex('0001 0001 d0 ff'))).toMatchObject({ reason: 'MESSAGE_TOO_LARGE', offset: 4 });
  });

  it.each([9, 10, 11, 12, 15])('rejects reserved TKL %i as fatal', (tkl) => {
    expect(pushError(new StreamDeframer(), Uint8Array.of(tkl, 1))).toMatchObject({ reason: 'RESERVED_TOKEN_LENGTH', fatal: true });
  });

  it('rejects malformed options as fatal with the stream offset', () => {
    const deframer = new StreamDeframer();
    expect(deframer.push(hex('0001'))).toHaveLength(1);
    expect(pushError(deframer, hex('1001f1'))).toMatchObject({ reason: 'RESERVED_DELTA', fatal: true, offset: 4 });
  });

  it('rejects a payload marker with nothing after it, and a truncated option, as fatal', () => {
    expect(pushError(new StreamDeframer(), hex('1045ff'))).toMatchObject({ reason: 'EMPTY_PAYLOAD', fatal: true, offset: 2 });
    expect(pushError(new StreamDeframer(), hex('2045b361'))).toMatchObject({ reason: 'TRUNCATED_OPTION', fatal: true });
  });

  it('stays failed after an error', () => {
    const deframer = new StreamDeframer();
    const first = pushError(deframer, Uint8Array.of(0x0f, 0x01));
    expect(pushError(deframer, hex('0001'))).toBe(first);
  });

  it('returns token, options and payload as views when a frame lies in one chunk', () => {
    const chunk = hex('52 01 a1b2 b4 74656d70');
    const [pdu] = new StreamDeframer().push(chunk);
    expect(pdu.token.buffer).toBe(chunk.buffer);
    expect(pdu.options[0].value.buffer).toBe(chunk.buffer);
  });

  it('ignores empty chunks', () => {
    expect(new StreamDeframer().push(new Uint8Array(0))).toEqual([]);
  });

  it('reports the stream offset of a malformed frame after another in the same chunk, and across chunks', () => {
    expect(pushError(new StreamDeframer(), hex('0001 1001f1'))).toMatchObject({ reason: 'RESERVED_DELTA', fatal: true, offset: 4 });
    const split = new StreamDeframer();
    expect(split.push(hex('0001 10'))).toHaveLength(1);
    expect(pushError(split, hex('01f1'))).toMatchObject({ reason: 'RESERVED_DELTA', fatal: true, offset: 4 });
  });

  it('returns token, options and payload as views into the chunk for a frame in the middle of it', () => {
    const chunk = hex('0001 52 01 a1b2 b4 74656d70 0002');
    const [, pdu] = new StreamDeframer().push(chunk);
    expect(fields(pdu)).toEqual({ code: 1, token: 'a1b2', options: [[11, '74656d70']], payload: '' });
    expect(pdu.token.buffer).toBe(chunk.buffer);
    expect(pdu.token.byteOffset).toBe(4);
    expect(pdu.options[0].value.byteOffset).toBe(7);
  });
});

describe('stream codec: StreamDeframer write and read (one message at a time)', () => {
  const all = Uint8Array.from(Buffer.concat(fixtures.map((f) => Buffer.from(hex(f.frame)))));

  /** Everything `read` returns after writing `chunks`, one by one. */
  function readAll(deframer: StreamDeframer, chunk: Uint8Array): CoapPdu[] {
    deframer.write(chunk);
    const pdus: CoapPdu[] = [];
    for (let pdu = deframer.read(); pdu !== undefined; pdu = deframer.read()) pdus.push(pdu);
    return pdus;
  }

  it('reads every fixture from one stream split at every offset', () => {
    for (let split = 0; split <= all.length; split += 5) {
      const deframer = new StreamDeframer({ maxMessageSize: 100_000 });
      const pdus = [...readAll(deframer, all.subarray(0, split)), ...readAll(deframer, all.subarray(split))];
      expect(pdus.map(fields)).toEqual(fixtures.map((f) => fields(f.pdu)));
      expect(deframer.idle).toBe(true);
    }
  });

  it('returns undefined until a frame is complete, and nothing is decoded by write', () => {
    const deframer = new StreamDeframer();
    deframer.write(hex('52 01 a1'));
    expect(deframer.read()).toBeUndefined();
    deframer.write(hex('b2 b4 74656d70'));
    expect(fields(deframer.read()!)).toEqual({ code: 1, token: 'a1b2', options: [[11, '74656d70']], payload: '' });
    expect(deframer.read()).toBeUndefined();
  });

  it('returns the messages before a malformed frame, then fails for good', () => {
    const deframer = new StreamDeframer();
    deframer.write(hex('0001 0f01'));
    expect(fields(deframer.read()!)).toMatchObject({ code: 1 });
    let error: unknown;
    try {
      deframer.read();
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'RESERVED_TOKEN_LENGTH', fatal: true, offset: 2 });
    expect(() => deframer.read()).toThrow(error as Error);
    expect(() => deframer.write(hex('0001'))).toThrow(error as Error);
    expect(deframer.bufferedBytes).toBe(0);
  });
});

describe('stream codec: decodeStreamFrame', () => {
  it('rejects a truncated frame and trailing bytes', () => {
    expect(() => decodeStreamFrame(hex('52 01 a1'))).toThrow(expect.objectContaining({ reason: 'BAD_FRAME', fatal: true }));
    expect(() => decodeStreamFrame(hex('0001 00'))).toThrow(expect.objectContaining({ reason: 'BAD_FRAME', fatal: true }));
    expect(() => decodeStreamFrame(new Uint8Array(0))).toThrow(CoapDecodeError);
  });
});

describe('stream codec: unrepresentable tokens', () => {
  it('rejects a 12-byte token on encode', () => {
    expect(() => encodeStreamFrame(createPdu({ code: Method.GET, token: new Uint8Array(12) }))).toThrow(expect.objectContaining({ code: 'COAP_ERR_ENCODE' }));
  });
});

describe('stream codec: option numbers beyond 16 bits (issue 16)', () => {
  it('rejects option 65804 as fatal with BAD_OPTION_NUMBER', () => {
    expect(pushError(new StreamDeframer(), hex('30 01 e0ffff'))).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'BAD_OPTION_NUMBER', fatal: true, offset: 2 });
  });

  it('accepts option 65535', () => {
    expect(new StreamDeframer().push(hex('30 01 e0fef2'))[0].options.map((o) => o.number)).toEqual([65535]);
  });

  it.each([65536, 1.5])('refuses option number %p on encode', (number) => {
    const pdu = { ...createPdu({ code: Method.GET }), options: [{ number, value: new Uint8Array(0) }] };
    expect(() => encodeStreamFrame(pdu)).toThrow(expect.objectContaining({ code: 'COAP_ERR_ENCODE', message: expect.stringContaining('option number') }));
  });
});
