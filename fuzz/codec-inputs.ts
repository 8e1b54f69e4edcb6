/**
 * Valid inputs for the codec part, drawn from the seeded source: PDUs every framing can encode, URIs,
 * link-format documents and CBOR payloads. Mutating valid inputs reaches deeper than random bytes do.
 */
import { cborPayload } from '../src/codec/payload';
import { OPTION_REGISTRY } from '../src/codec/option-registry';
import { createPdu, type CoapOption, type CoapPdu, type MessageType } from '../src/codec/pdu';
import { chance, pick, randomBytes, randomInt } from '../src/testing/mutate';
import type { RandomSource } from '../src/testing/seeded-random';

const KNOWN_NUMBERS = OPTION_REGISTRY.map((info) => info.number);

/** A random option: mostly registered numbers with values of a plausible length. */
function randomOption(random: RandomSource): CoapOption {
  const number = chance(random, 0.8) ? pick(random, KNOWN_NUMBERS) : randomInt(random, 0, chance(random, 0.5) ? 300 : 65535);
  const length = chance(random, 0.8) ? randomInt(random, 0, 4) : pick(random, [8, 12, 13, 14, 40, 268, 269, 270, 600]);
  return { number, value: randomBytes(random, length) };
}

/** Any PDU the encoders accept (tokens of 0..8 bytes or RFC 8974 extended ones, code 0 only when empty). */
export function randomPdu(random: RandomSource): CoapPdu {
  const empty = chance(random, 0.05);
  const tokenLength = chance(random, 0.9) ? randomInt(random, 0, 8) : randomInt(random, 13, chance(random, 0.8) ? 268 : 400);
  const options: CoapOption[] = [];
  for (let count = empty ? 0 : randomInt(random, 0, 8); count > 0; count--) options.push(randomOption(random));
  return createPdu({
    type: randomInt(random, 0, 3) as MessageType,
    code: empty ? 0 : randomInt(random, 1, 255),
    messageId: randomInt(random, 0, 0xffff),
    token: empty ? new Uint8Array(0) : randomBytes(random, tokenLength),
    options,
    payload: empty || chance(random, 0.4) ? new Uint8Array(0) : randomBytes(random, chance(random, 0.9) ? randomInt(random, 1, 64) : randomInt(random, 65, 2000)),
  });
}

const SCHEMES = ['coap', 'coaps', 'coap+tcp', 'coaps+tcp', 'coap+ws', 'coaps+ws', 'http', 'COAP', ''];
const HOSTS = ['127.0.0.1', '[::1]', '[fe80::1%25eth0]', 'example.com', 'EXAMPLE.org', '%2Ftmp%2Fcoap.sock', '[::ffff:1.2.3.4]', 'a..b', '[::1', '999.1.1.1', ''];
const SEGMENTS = ['', '.', '..', 'a', 'sensors', 'temp%20c', '%2F', '%zz', '%', '%e2%82%ac', 'ä', '?', '#', ';x=1', 'a'.repeat(300)];

/** A URI made of plausible and hostile pieces. */
export function randomUri(random: RandomSource): string {
  let uri = `${pick(random, SCHEMES)}://${pick(random, HOSTS)}`;
  if (chance(random, 0.5)) uri += `:${pick(random, ['5683', '0', '65535', '65536', '-1', 'x', ''])}`;
  for (let count = randomInt(random, 0, 4); count > 0; count--) uri += '/' + pick(random, SEGMENTS);
  if (chance(random, 0.4)) uri += '?' + [pick(random, SEGMENTS), pick(random, SEGMENTS)].join(pick(random, ['&', '&&', '=']));
  if (chance(random, 0.1)) uri += '#frag';
  return uri;
}

const ATTRIBUTES = ['rt="temperature-c"', 'if=sensor', 'ct=0', 'ct="0 40"', 'sz=1280', 'obs', 'title="a, b; c"', 'rt="a\\"b"', 'anchor="/x"', 'ct=70000', 'ct=x', '=', ';'];

/** A link-format document (RFC 6690) of a few links. */
export function randomLinkFormat(random: RandomSource): string {
  const links: string[] = [];
  for (let count = randomInt(random, 0, 5); count > 0; count--) {
    let link = `<${pick(random, ['/sensors/temp', '/', '', 'coap://h/x', '/a>b', '/ä'])}>`;
    for (let attributes = randomInt(random, 0, 3); attributes > 0; attributes--) link += ';' + pick(random, ATTRIBUTES);
    links.push(link);
  }
  return links.join(pick(random, [',', ', ', ',\n']));
}

function randomValue(random: RandomSource, depth: number): unknown {
  switch (randomInt(random, 0, depth > 3 ? 4 : 7)) {
    case 0:
      return randomInt(random, -1000, 1000);
    case 1:
      return random() * 1e6;
    case 2:
      return pick(random, ['', 'temp', 'ä€', 'x'.repeat(40)]);
    case 3:
      return pick(random, [true, false, null]);
    case 4:
      return randomBytes(random, randomInt(random, 0, 8));
    case 5: {
      const list: unknown[] = [];
      for (let count = randomInt(random, 0, 4); count > 0; count--) list.push(randomValue(random, depth + 1));
      return list;
    }
    default: {
      const record: Record<string, unknown> = {};
      for (let count = randomInt(random, 0, 4); count > 0; count--) record[pick(random, ['a', 'temp', 'n', '1'])] = randomValue(random, depth + 1);
      return record;
    }
  }
}

/** A CBOR encoding of a random value. */
export function randomCbor(random: RandomSource): Uint8Array {
  return cborPayload(randomValue(random, 0));
}

/** A random string of printable ASCII, control characters and some non-ASCII. */
export function randomText(random: RandomSource, maxLength = 80): string {
  let text = '';
  for (let length = randomInt(random, 0, maxLength); length > 0; length--) {
    text += chance(random, 0.9) ? String.fromCharCode(randomInt(random, 0x20, 0x7e)) : String.fromCharCode(randomInt(random, 0, 0x3000));
  }
  return text;
}
