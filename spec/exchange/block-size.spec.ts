import { capToSzx, chooseBertSize, chooseBlockSzx, messageOverhead } from '../../src/exchange/block-size';
import { OptionNumber } from '../../src/codec/option-numbers';
import { encodeString } from '../../src/codec/option-values';

describe('chooseBlockSzx', () => {
  it('picks 1024-byte blocks when the default MTU leaves room', () => {
    expect(chooseBlockSzx(1148, 30)).toBe(6);
  });

  it('picks the largest power of two that fits with token, options, Block option and marker (maxPduSize excludes the header)', () => {
    // 20 overhead + 5 Block option + 1 marker = 26 bytes around the block.
    expect(chooseBlockSzx(26 + 256, 20)).toBe(4);
    expect(chooseBlockSzx(26 + 255, 20)).toBe(3);
    expect(chooseBlockSzx(26 + 64, 20)).toBe(2);
    expect(chooseBlockSzx(26 + 16, 20)).toBe(0);
  });

  it('gives 1024-byte blocks at MTUs 1082-1085, where the header was once taken off twice (issue 17)', () => {
    // The overhead reserved for the blocks a client receives: token 8 + RESPONSE_OPTIONS_ALLOWANCE 40 = 48.
    // MTU 1082 on UDP: maxPduSize 1078 = 48 + 5 Block option + 1 marker + 1024 exactly.
    for (const mtu of [1082, 1083, 1084, 1085]) expect(chooseBlockSzx(mtu - 4, 48)).toBe(6);
    expect(chooseBlockSzx(1081 - 4, 48)).toBe(5);
  });

  it('falls back to 16-byte blocks when nothing fits', () => {
    expect(chooseBlockSzx(20, 40)).toBe(0);
  });

  it('is capped by the context maximum and by a hint', () => {
    expect(chooseBlockSzx(1148, 30, 256)).toBe(4);
    expect(chooseBlockSzx(1148, 30, 300)).toBe(4);
    expect(chooseBlockSzx(1148, 30, 16)).toBe(0);
    expect(chooseBlockSzx(1148, 30, 4096)).toBe(6);
  });
});

describe('capToSzx', () => {
  it('rounds a byte cap down to a power of two in 16..1024', () => {
    expect([8, 16, 31, 32, 100, 512, 1023, 1024, 65536].map(capToSzx)).toEqual([0, 0, 0, 1, 2, 5, 5, 6, 6]);
  });
});

describe('messageOverhead', () => {
  it('counts the token and the encoded options', () => {
    // Uri-Path "upload-test": 1 header byte + 11 value bytes.
    expect(messageOverhead(8, [{ number: OptionNumber.UriPath, value: encodeString('upload-test') }])).toBe(20);
  });
});

describe('chooseBertSize (RFC 8323 §6)', () => {
  it('is the largest multiple of 1024 that fits, at most 16 blocks, and 0 when fewer than two fit', () => {
    expect(chooseBertSize(8192, 20)).toBe(7 * 1024); // 8192 - 20 - 6 = 8166
    expect(chooseBertSize(8 * 1024 * 1024, 20)).toBe(16 * 1024);
    expect(chooseBertSize(2048 + 26, 20)).toBe(2048);
    expect(chooseBertSize(2048 + 25, 20)).toBe(0);
  });
});
