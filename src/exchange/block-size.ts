/**
 * Block size from the path MTU (RFC 7959 §2.2, libcoap `coap_add_data_large_*`): the largest power of two
 * 16..1024 whose block, with the message's token and options, still fits in one CoAP message. The stack owns the
 * header: `maxPduSize` (libcoap `coap_session_max_pdu_size`) already excludes it (4 bytes over UDP, the frame
 * header on TCP/TLS/WebSockets).
 *
 *   (header) +-------+---------+--------------+---+------------------+
 *            | token | options | Block option | FF| block payload    |   <= maxPduSize
 *            |  TKL  |   ...   |   <= 5       | 1 | 16 << SZX        |
 *            +-------+---------+--------------+---+------------------+
 */
import { blockSize, sizeToSzx } from '../codec/block';
import { optionsAndPayloadSize } from '../codec/options';
import { EMPTY_BYTES, type CoapOption } from '../codec/pdu';

/** A Block1/Block2 option at its largest: 1 header byte, 1 delta extension byte, 3 value bytes (RFC 7959 §2.2). */
export const MAX_BLOCK_OPTION_SIZE = 5;

/** The payload marker 0xFF. */
const PAYLOAD_MARKER_SIZE = 1;

/** Largest SZX over datagrams (1024 bytes); 7 is BERT, for reliable transports only (RFC 8323 §6). */
export const MAX_SZX = 6;

/**
 * Bytes a response may spend on options the client cannot predict (token of 8, ETag of 8, Content-Format,
 * Max-Age, Block2, Size2, Observe): reserved when the client chooses the size of the blocks it receives.
 */
export const RESPONSE_OPTIONS_ALLOWANCE = 40;

/**
 * The largest SZX (0..6, block sizes 16..1024) such that a message with `overhead` bytes of token and options,
 * a Block option, the payload marker and one block fits `maxPduSize`, capped by `cap` bytes.
 * Returns 0 (16-byte blocks) when not even those fit: the smallest legal block is still the best try.
 *
 * @param maxPduSize - largest CoAP message to send, header excluded (`session.maxPduSize()`), in bytes
 * @param overhead - token length plus the encoded size of the options (without the Block option), in bytes
 * @param cap - largest block size wanted (the context's `maxBlockSize`, an explicit hint), in bytes
 */
export function chooseBlockSzx(maxPduSize: number, overhead: number, cap = 1024): number {
  // Issue 17: the header was once taken off a second time here, so MTUs 1082-1085 got 512-byte blocks.
  const room = maxPduSize - overhead - MAX_BLOCK_OPTION_SIZE - PAYLOAD_MARKER_SIZE;
  let szx = capToSzx(cap);
  while (szx > 0 && blockSize(szx) > room) szx--;
  return szx;
}

/** SZX 7: BERT (RFC 8323 §6), several 1024-byte blocks per message; over reliable transports only. */
export const BERT_SZX = 7;

/**
 * BERT (RFC 8323 §6): the largest multiple of 1024 bytes of payload that fits one message with `overhead` bytes of
 * token and options, or 0 when not even two blocks fit (then plain 1024-byte blocks are as good).
 */
export function chooseBertSize(maxPduSize: number, overhead: number): number {
  const room = maxPduSize - overhead - MAX_BLOCK_OPTION_SIZE - PAYLOAD_MARKER_SIZE;
  const units = Math.min(Math.floor(room / 1024), MAX_BERT_BLOCKS);
  return units >= 2 ? units * 1024 : 0;
}

/**
 * Most 1024-byte blocks per BERT message. libcoap advertises a Max-Message-Size of 8 MiB: a body that large
 * would then go as one message, with no progress and all of it buffered twice; 16 KiB messages keep the
 * per-message cost low and the transfer block-wise.
 */
export const MAX_BERT_BLOCKS = 16;

/** The SZX of the largest power-of-two block size <= `cap` bytes (clamped to 16..1024). */
export function capToSzx(cap: number): number {
  if (!(cap >= 32)) return 0;
  if (cap >= 1024) return MAX_SZX;
  return sizeToSzx(1 << Math.floor(Math.log2(cap)));
}

/** Token length plus encoded options: the `overhead` of {@link chooseBlockSzx} for a message. */
export function messageOverhead(tokenLength: number, options: readonly CoapOption[]): number {
  return tokenLength + optionsAndPayloadSize(options, EMPTY_BYTES);
}
