import { CoapOptionError } from '../../src/errors';
import { OptionNumber, SignalOption } from '../../src/codec/option-numbers';
import {
  findUnknownCritical,
  formatOptionValue,
  OPTION_REGISTRY,
  optionByName,
  optionInfo,
  optionName,
  optionValueProblem,
  SIGNAL_OPTION_REGISTRY,
  validateOptionValue,
} from '../../src/codec/option-registry';
import { SignalCode } from '../../src/codec/pdu';
import { encodeString, encodeUint } from '../../src/codec/option-values';
import { encodeBlock } from '../../src/codec/block';

const option = (number: number, value: Uint8Array = new Uint8Array(0)) => ({ number, value });

describe('option registry', () => {
  it('knows every option of RFC 7252, 7641, 7959, 8613, 8768, 9177, 7967, 9175 and EDHOC', () => {
    const numbers = OPTION_REGISTRY.map((info) => info.number);
    expect(numbers).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 19, 20, 21, 23, 27, 28, 31, 35, 39, 60, 252, 258, 292]);
    for (const name of Object.keys(OptionNumber) as (keyof typeof OptionNumber)[]) {
      expect(optionInfo(OptionNumber[name])).toBeDefined();
    }
  });

  it('lists options in number order with names unique', () => {
    const numbers = OPTION_REGISTRY.map((info) => info.number);
    expect([...numbers].sort((a, b) => a - b)).toEqual(numbers);
    expect(new Set(OPTION_REGISTRY.map((info) => info.name)).size).toBe(OPTION_REGISTRY.length);
  });

  it('describes Uri-Path, ETag and Proxy-Uri as RFC 7252 §5.10 does', () => {
    expect(optionInfo(11)).toMatchObject({ name: 'Uri-Path', format: 'string', minLength: 0, maxLength: 255, repeatable: true, critical: true, unsafe: true, noCacheKey: false });
    expect(optionInfo(4)).toMatchObject({ name: 'ETag', format: 'opaque', minLength: 1, maxLength: 8, repeatable: true, critical: false });
    expect(optionInfo(35)).toMatchObject({ name: 'Proxy-Uri', minLength: 1, maxLength: 1034, critical: true, unsafe: true });
    expect(optionInfo(60)).toMatchObject({ name: 'Size1', format: 'uint', maxLength: 4, noCacheKey: true });
  });

  it('describes the later options: Observe, Block, Hop-Limit, OSCORE, Echo, Request-Tag, No-Response, Q-Block, EDHOC', () => {
    expect(optionInfo(6)).toMatchObject({ name: 'Observe', format: 'uint', maxLength: 3, critical: false });
    expect(optionInfo(23)).toMatchObject({ name: 'Block2', maxLength: 3, critical: true, unsafe: true });
    expect(optionInfo(27)).toMatchObject({ name: 'Block1', critical: true });
    expect(optionInfo(16)).toMatchObject({ name: 'Hop-Limit', minLength: 1, maxLength: 1, critical: false, unsafe: false });
    expect(optionInfo(9)).toMatchObject({ name: 'OSCORE', format: 'opaque', maxLength: 255, critical: true });
    expect(optionInfo(252)).toMatchObject({ name: 'Echo', minLength: 1, maxLength: 40, critical: false, noCacheKey: true });
    expect(optionInfo(292)).toMatchObject({ name: 'Request-Tag', maxLength: 8, repeatable: true, critical: false });
    expect(optionInfo(258)).toMatchObject({ name: 'No-Response', maxLength: 1, unsafe: true });
    expect(optionInfo(19)).toMatchObject({ name: 'Q-Block1', critical: true, unsafe: true });
    expect(optionInfo(31)).toMatchObject({ name: 'Q-Block2', critical: true, repeatable: true });
    expect(optionInfo(21)).toMatchObject({ name: 'EDHOC', format: 'empty', critical: true });
  });

  it('scopes signaling options by signal code (RFC 8323 §5)', () => {
    expect(optionInfo(2, SignalCode.CSM)).toMatchObject({ name: 'Max-Message-Size', format: 'uint', signalCode: SignalCode.CSM });
    expect(optionInfo(4, SignalCode.CSM)?.name).toBe('Block-Wise-Transfer');
    expect(optionInfo(6, SignalCode.CSM)?.name).toBe('Extended-Token-Length');
    expect(optionInfo(2, SignalCode.Ping)?.name).toBe('Custody');
    expect(optionInfo(2, SignalCode.Pong)?.name).toBe('Custody');
    expect(optionInfo(2, SignalCode.Release)).toMatchObject({ name: 'Alternative-Address', repeatable: true });
    expect(optionInfo(4, SignalCode.Release)?.name).toBe('Hold-Off');
    expect(optionInfo(2, SignalCode.Abort)?.name).toBe('Bad-CSM-Option');
    expect(optionInfo(4, SignalCode.Ping)).toBeUndefined();
    expect(SIGNAL_OPTION_REGISTRY).toHaveLength(8);
  });

  it('finds options by name ignoring case, dashes and underscores', () => {
    expect(optionByName('Uri-Path')?.number).toBe(11);
    expect(optionByName('uri-path')?.number).toBe(11);
    expect(optionByName('UriPath')?.number).toBe(11);
    expect(optionByName('content_format')?.number).toBe(12);
    expect(optionByName('Max-Message-Size', SignalCode.CSM)?.number).toBe(SignalOption.MaxMessageSize);
    expect(optionByName('Max-Message-Size')).toBeUndefined();
    expect(optionByName('nope')).toBeUndefined();
  });

  it('names unknown options by number', () => {
    expect(optionName(11)).toBe('Uri-Path');
    expect(optionName(2049)).toBe('Option 2049');
  });

  it('finds the first unknown critical option', () => {
    expect(findUnknownCritical([option(11), option(12), option(15)])).toBeUndefined();
    expect(findUnknownCritical([option(11), option(13), option(25), option(29)])).toBe(13);
    // Even numbers are elective: unknown but not critical.
    expect(findUnknownCritical([option(2), option(2048)])).toBeUndefined();
    expect(findUnknownCritical([option(2053)])).toBe(2053);
    expect(findUnknownCritical([])).toBeUndefined();
  });

  it('finds unknown critical signaling options within the signal code scope', () => {
    expect(findUnknownCritical([option(2), option(4)], SignalCode.CSM)).toBeUndefined();
    expect(findUnknownCritical([option(3)], SignalCode.CSM)).toBe(3);
    // Option 11 is Uri-Path in a request, but unknown in a Ping.
    expect(findUnknownCritical([option(11)], SignalCode.Ping)).toBe(11);
  });

  it('checks value lengths (RFC 7252 §5.4.3)', () => {
    expect(optionValueProblem(4, new Uint8Array(0))).toBe('ETag value is 0 bytes, not 1..8');
    expect(optionValueProblem(4, new Uint8Array(9))).toBe('ETag value is 9 bytes, not 1..8');
    expect(optionValueProblem(4, new Uint8Array(8))).toBeUndefined();
    expect(optionValueProblem(5, new Uint8Array(1))).toBe('If-None-Match value is 1 bytes, not 0');
    expect(optionValueProblem(3, encodeString('a'.repeat(256)))).toMatch(/Uri-Host value is 256 bytes/);
    expect(optionValueProblem(16, new Uint8Array(0))).toMatch(/Hop-Limit/);
    expect(optionValueProblem(2, new Uint8Array(5), SignalCode.CSM)).toMatch(/Max-Message-Size/);
    expect(optionValueProblem(9999, new Uint8Array(5000))).toBeUndefined();
  });

  it('rejects string options that are not UTF-8', () => {
    expect(optionValueProblem(11, Uint8Array.of(0xff))).toBe('Uri-Path value is not valid UTF-8');
    expect(optionValueProblem(11, encodeString('größe'))).toBeUndefined();
  });

  it('throws CoapOptionError with the option number', () => {
    expect(() => validateOptionValue(23, new Uint8Array(4))).toThrow(CoapOptionError);
    try {
      validateOptionValue(23, new Uint8Array(4));
    } catch (error) {
      expect(error).toMatchObject({ code: 'COAP_ERR_OPTION', optionNumber: 23 });
    }
    expect(() => validateOptionValue(23, new Uint8Array(3))).not.toThrow();
  });

  it('formats values for logs: uint, string, opaque, empty, block, content format', () => {
    expect(formatOptionValue(OptionNumber.MaxAge, encodeUint(3600))).toBe(3600);
    expect(formatOptionValue(OptionNumber.UriPath, encodeString('temp'))).toBe('temp');
    expect(formatOptionValue(OptionNumber.ETag, Uint8Array.of(0xde, 0xad, 0x01))).toBe('0xdead01');
    expect(formatOptionValue(OptionNumber.IfNoneMatch, new Uint8Array(0))).toBe('');
    expect(formatOptionValue(OptionNumber.Block2, encodeBlock({ num: 2, more: true, szx: 6 }))).toBe('2/1/1024');
    expect(formatOptionValue(OptionNumber.Block1, encodeBlock({ num: 0, more: false, szx: 0 }))).toBe('0/0/16');
    expect(formatOptionValue(OptionNumber.Block2, encodeBlock({ num: 3, more: false, szx: 7 }))).toBe('3/0/BERT');
    expect(formatOptionValue(OptionNumber.ContentFormat, encodeUint(50))).toBe('application/json');
    expect(formatOptionValue(OptionNumber.Accept, encodeUint(0))).toBe('text/plain;charset=utf-8');
    expect(formatOptionValue(OptionNumber.ContentFormat, encodeUint(9999))).toBe(9999);
    expect(formatOptionValue(2049, Uint8Array.of(1, 2))).toBe('0x0102');
    expect(formatOptionValue(OptionNumber.Block2, new Uint8Array(4))).toBe('0x00000000');
    expect(formatOptionValue(SignalOption.MaxMessageSize, encodeUint(1152), SignalCode.CSM)).toBe(1152);
    expect(formatOptionValue(SignalOption.BlockWiseTransfer, new Uint8Array(0), SignalCode.CSM)).toBe('');
  });
});
