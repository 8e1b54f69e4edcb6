/**
 * What kind of body a Content-Format holds (IANA "CoAP Content-Formats", by registered media type), for code that
 * decodes or prints bodies: the CLI, and the `decodeBody()` operator.
 */
import { ContentFormat, contentFormatName } from './content-format';

/** What kind of body a Content-Format holds. */
export type BodyKind = 'cbor' | 'json' | 'link-format' | 'text' | 'binary';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Classifies a Content-Format by its registered media type: `application/cbor`, `+cbor` and `cbor-seq` types
 * are CBOR (not the deflate-coded one); `application/json` and `+json` types are JSON; 40 is link-format;
 * `text/*`, XML and JavaScript are text. No Content-Format: text when the bytes are UTF-8.
 */
export function bodyKind(contentFormat: number | undefined, payload: Uint8Array): BodyKind {
  if (contentFormat === undefined) return isUtf8Text(payload) ? 'text' : 'binary';
  if (contentFormat === ContentFormat.LinkFormat) return 'link-format';
  const mediaType = contentFormatName(contentFormat);
  if (mediaType === undefined || mediaType.includes('deflate')) return 'binary';
  const type = mediaType.split(';')[0];
  if (type === 'application/cbor' || type === 'application/cbor-seq' || type.endsWith('+cbor') || type.endsWith('+cbor-seq')) return 'cbor';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (type.startsWith('text/') || type.endsWith('/xml') || type.endsWith('+xml') || type === 'application/javascript') return 'text';
  return 'binary';
}

/** True for UTF-8 without control characters other than tab, CR and LF. */
export function isUtf8Text(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return true;
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return false;
  }
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text);
}
