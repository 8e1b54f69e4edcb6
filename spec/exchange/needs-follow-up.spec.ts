import { encodeBlock } from '../../src/codec/block';
import { OptionNumber } from '../../src/codec/option-numbers';
import { EMPTY_BYTES, MessageType, ResponseCode, type CoapOption, type CoapPdu } from '../../src/codec/pdu';
import { needsFollowUp } from '../../src/exchange/blockwise';

const response = (...options: CoapOption[]): CoapPdu => ({
  type: MessageType.ACK,
  code: ResponseCode.Content,
  messageId: 1,
  token: Uint8Array.of(1),
  options,
  payload: EMPTY_BYTES,
});
const block2 = (more: boolean, num = 0): CoapOption => ({ number: OptionNumber.Block2, value: encodeBlock({ num, more, szx: 6 }) });
const echo: CoapOption = { number: OptionNumber.Echo, value: Uint8Array.of(9, 9) };
const contentFormat: CoapOption = { number: OptionNumber.ContentFormat, value: EMPTY_BYTES };

describe('needsFollowUp (the one pass over a response its request checks)', () => {
  it('is false for a plain response', () => {
    expect(needsFollowUp(response())).toBe(false);
    expect(needsFollowUp(response(contentFormat))).toBe(false);
  });

  it('is true for more blocks, false for the last block', () => {
    expect(needsFollowUp(response(contentFormat, block2(true)))).toBe(true);
    expect(needsFollowUp(response(contentFormat, block2(false, 3)))).toBe(false);
  });

  it('is true for an Echo, also after a last block (Block2 sorts before Echo)', () => {
    expect(needsFollowUp(response(echo))).toBe(true);
    expect(needsFollowUp(response(block2(false), echo))).toBe(true);
  });

  it('reads the first Block2 only, as getOption does', () => {
    expect(needsFollowUp(response(block2(false), block2(true)))).toBe(false);
    expect(needsFollowUp(response(block2(true), block2(false)))).toBe(true);
  });
});
