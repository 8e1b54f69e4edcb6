/**
 * The PSK cipher suites the DTLS engine (node-dtls-client) implements, with the bytes each one adds to a
 * DTLS 1.2 record. Used to offer suites in a sensible order and to compute `maxFrameOverhead`.
 *
 * DTLS 1.2 record (RFC 6347 §4.1):
 *
 *    +------+---------+-------+-----------------+--------+----------------------+---------------+
 *    | type | version | epoch | sequence number | length | explicit nonce / IV  | data ... MAC  |
 *    |  1   |    2    |   2   |        6        |   2    | 8 (AEAD) / 16 (CBC)  | tag / MAC+pad |
 *    +------+---------+-------+-----------------+--------+----------------------+---------------+
 *
 * AEAD (RFC 5288 GCM, RFC 6655 CCM): 13 header + 8 explicit nonce + tag (16, or 8 for CCM_8).
 * CBC (RFC 5246 §6.2.3.2): 13 header + 16 IV + MAC + 1..16 bytes of padding (counted at the worst, 16).
 */

/** One supported suite. */
export interface DtlsCipherSuiteInfo {
  /** IANA name, as node-dtls-client spells it. */
  readonly name: DtlsPskCipherSuite;
  /** IANA code point. */
  readonly id: number;
  /** Worst-case bytes added to each record: header + explicit nonce/IV + tag/MAC (+ padding). */
  readonly overhead: number;
}

/** Names of the PSK cipher suites this transport can offer. */
export type DtlsPskCipherSuite =
  | 'TLS_PSK_WITH_AES_128_CCM_8'
  | 'TLS_PSK_WITH_AES_256_CCM_8'
  | 'TLS_PSK_WITH_AES_128_CCM'
  | 'TLS_PSK_WITH_AES_256_CCM'
  | 'TLS_PSK_WITH_AES_128_GCM_SHA256'
  | 'TLS_PSK_WITH_AES_256_GCM_SHA384'
  | 'TLS_PSK_WITH_AES_128_CBC_SHA256'
  | 'TLS_PSK_WITH_AES_256_CBC_SHA384';

const RECORD_HEADER = 13;
const AEAD_NONCE = 8;
const CBC_IV = 16;
const CBC_MAX_PADDING = 16;

const table: readonly DtlsCipherSuiteInfo[] = [
  // RFC 7925 §4.2: TLS_PSK_WITH_AES_128_CCM_8 is the mandatory suite for constrained devices (and CoAP, RFC 7252 §9.1.3.1).
  { name: 'TLS_PSK_WITH_AES_128_CCM_8', id: 0xc0a8, overhead: RECORD_HEADER + AEAD_NONCE + 8 },
  { name: 'TLS_PSK_WITH_AES_256_CCM_8', id: 0xc0a9, overhead: RECORD_HEADER + AEAD_NONCE + 8 },
  { name: 'TLS_PSK_WITH_AES_128_CCM', id: 0xc0a4, overhead: RECORD_HEADER + AEAD_NONCE + 16 },
  { name: 'TLS_PSK_WITH_AES_256_CCM', id: 0xc0a5, overhead: RECORD_HEADER + AEAD_NONCE + 16 },
  { name: 'TLS_PSK_WITH_AES_128_GCM_SHA256', id: 0x00a8, overhead: RECORD_HEADER + AEAD_NONCE + 16 },
  { name: 'TLS_PSK_WITH_AES_256_GCM_SHA384', id: 0x00a9, overhead: RECORD_HEADER + AEAD_NONCE + 16 },
  { name: 'TLS_PSK_WITH_AES_128_CBC_SHA256', id: 0x00ae, overhead: RECORD_HEADER + CBC_IV + 32 + CBC_MAX_PADDING },
  { name: 'TLS_PSK_WITH_AES_256_CBC_SHA384', id: 0x00af, overhead: RECORD_HEADER + CBC_IV + 48 + CBC_MAX_PADDING },
];

const byName = new Map<string, DtlsCipherSuiteInfo>(table.map((suite) => [suite.name, suite]));
const byId = new Map<number, DtlsCipherSuiteInfo>(table.map((suite) => [suite.id, suite]));

/**
 * The suites offered by default, most preferred first: CCM_8 (RFC 7252's mandatory suite), then CCM and GCM,
 * which OpenSSL 3 servers accept at their default security level where they refuse CCM_8.
 */
export const DEFAULT_PSK_CIPHER_SUITES: readonly DtlsPskCipherSuite[] = [
  'TLS_PSK_WITH_AES_128_CCM_8',
  'TLS_PSK_WITH_AES_128_CCM',
  'TLS_PSK_WITH_AES_128_GCM_SHA256',
  'TLS_PSK_WITH_AES_256_GCM_SHA384',
  'TLS_PSK_WITH_AES_256_CCM_8',
  'TLS_PSK_WITH_AES_256_CCM',
];

/** The suite with this IANA name, or undefined when the engine does not implement it. */
export function cipherSuiteByName(name: string): DtlsCipherSuiteInfo | undefined {
  return byName.get(name);
}

/** The suite with this IANA code point, or undefined. */
export function cipherSuiteById(id: number): DtlsCipherSuiteInfo | undefined {
  return byId.get(id);
}
