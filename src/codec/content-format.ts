/**
 * Content-Format numbers (RFC 7252 §12.3, IANA "CoAP Content-Formats") with the short names that
 * libcoap's `coap-client -t`/`-A` accepts, so the CLI takes the same words.
 */

/** One registered content format. */
export interface ContentFormatInfo {
  /** The Content-Format number (0..65535). */
  readonly number: number;
  /** Media type with parameters and content coding, as registered; undefined for an unregistered number. */
  readonly mediaType: string | undefined;
  /** Short names accepted by {@link contentFormatByName} (libcoap's `coap-client` words and ours). */
  readonly shortNames: readonly string[];
}

/** Numbers of the content formats used in the code. */
export const ContentFormat = {
  TextPlain: 0,
  LinkFormat: 40,
  Xml: 41,
  OctetStream: 42,
  Exi: 47,
  Json: 50,
  JsonPatchJson: 51,
  MergePatchJson: 52,
  Cbor: 60,
  Cwt: 61,
  CborSeq: 63,
  SenmlJson: 110,
  SensmlJson: 111,
  SenmlCbor: 112,
  SensmlCbor: 113,
  SenmlExi: 114,
  SensmlExi: 115,
  CoapGroupJson: 256,
  MissingBlocksCborSeq: 272,
} as const;

function format(number: number, mediaType: string, ...shortNames: string[]): ContentFormatInfo {
  return { number, mediaType, shortNames };
}

/** The registry, in number order. */
export const CONTENT_FORMATS: readonly ContentFormatInfo[] = [
  format(0, 'text/plain;charset=utf-8', 'text', 'plain', 'text/plain'),
  format(16, 'application/cose;cose-type="cose-encrypt0"', 'cose-encrypt0'),
  format(17, 'application/cose;cose-type="cose-mac0"', 'cose-mac0'),
  format(18, 'application/cose;cose-type="cose-sign1"', 'cose-sign1'),
  format(19, 'application/ace+cbor', 'ace+cbor'),
  format(21, 'image/gif', 'gif'),
  format(22, 'image/jpeg', 'jpeg'),
  format(23, 'image/png', 'png'),
  format(40, 'application/link-format', 'link', 'link-format'),
  format(41, 'application/xml', 'xml'),
  format(42, 'application/octet-stream', 'binary', 'octet', 'octet-stream'),
  format(47, 'application/exi', 'exi'),
  format(50, 'application/json', 'json'),
  format(51, 'application/json-patch+json', 'json-patch+json', 'json-patch'),
  format(52, 'application/merge-patch+json', 'merge-patch+json', 'merge-patch'),
  format(60, 'application/cbor', 'cbor'),
  format(61, 'application/cwt', 'cwt'),
  format(62, 'application/multipart-core', 'multipart-core'),
  format(63, 'application/cbor-seq', 'cbor-seq'),
  format(96, 'application/cose;cose-type="cose-encrypt"', 'cose-encrypt'),
  format(97, 'application/cose;cose-type="cose-mac"', 'cose-mac'),
  format(98, 'application/cose;cose-type="cose-sign"', 'cose-sign'),
  format(101, 'application/cose-key', 'cose-key'),
  format(102, 'application/cose-key-set', 'cose-key-set'),
  format(110, 'application/senml+json', 'senml+json', 'senml-json'),
  format(111, 'application/sensml+json', 'sensml+json', 'sensml-json'),
  format(112, 'application/senml+cbor', 'senml+cbor', 'senml-cbor'),
  format(113, 'application/sensml+cbor', 'sensml+cbor', 'sensml-cbor'),
  format(114, 'application/senml-exi', 'senml-exi'),
  format(115, 'application/sensml-exi', 'sensml-exi'),
  format(140, 'application/yang-data+cbor;id=sid', 'yang-data+cbor;id=sid'),
  format(256, 'application/coap-group+json', 'coap-group+json'),
  format(257, 'application/concise-problem-details+cbor', 'concise-problem-details+cbor', 'problem-details'),
  format(258, 'application/swid+cbor', 'swid+cbor'),
  format(271, 'application/dots+cbor', 'dots+cbor'),
  format(272, 'application/missing-blocks+cbor-seq', 'missing-blocks+cbor-seq', 'missing-blocks'),
  format(280, 'application/pkcs7-mime;smime-type=server-generated-key', 'pkcs7-server-generated-key'),
  format(281, 'application/pkcs7-mime;smime-type=certs-only', 'pkcs7-certs-only'),
  format(284, 'application/pkcs8', 'pkcs8'),
  format(285, 'application/csrattrs', 'csrattrs'),
  format(286, 'application/pkcs10', 'pkcs10'),
  format(287, 'application/pkix-cert', 'pkix-cert'),
  format(290, 'application/aif+cbor', 'aif+cbor'),
  format(291, 'application/aif+json', 'aif+json'),
  format(310, 'application/senml+xml', 'senml+xml'),
  format(311, 'application/sensml+xml', 'sensml+xml'),
  format(320, 'application/senml-etch+json', 'senml-etch+json'),
  format(322, 'application/senml-etch+cbor', 'senml-etch+cbor'),
  format(340, 'application/yang-data+cbor', 'yang-data+cbor'),
  format(341, 'application/yang-data+cbor;id=name', 'yang-data+cbor;id=name'),
  format(432, 'application/td+json', 'td+json'),
  format(10000, 'application/vnd.ocf+cbor', 'vnd.ocf+cbor'),
  format(10001, 'application/oscore', 'oscore'),
  format(10002, 'application/javascript', 'javascript'),
  format(11050, 'application/json;deflate', 'json-deflate'),
  format(11060, 'application/cbor;deflate', 'cbor-deflate'),
  format(11542, 'application/vnd.oma.lwm2m+tlv', 'lwm2m+tlv'),
  format(11543, 'application/vnd.oma.lwm2m+json', 'lwm2m+json'),
  format(11544, 'application/vnd.oma.lwm2m+cbor', 'lwm2m+cbor'),
  format(20000, 'text/css', 'css'),
  format(30000, 'image/svg+xml', 'svg+xml', 'svg'),
];

// Media types compare without spaces around ';' and without case (RFC 6838 §4.2; the parameter
// value of cose-type keeps its quotes in the registry, so quotes are dropped for matching too).
function key(text: string): string {
  return text.trim().toLowerCase().replace(/\s*;\s*/g, ';').replace(/"/g, '');
}

const byNumber = new Map<number, ContentFormatInfo>();
const byName = new Map<string, ContentFormatInfo>();
for (const info of CONTENT_FORMATS) {
  byNumber.set(info.number, info);
  byName.set(key(info.mediaType as string), info);
  for (const name of info.shortNames) byName.set(key(name), info);
}

/**
 * Finds a content format by short name (`'text'`, `'plain'`, `'link'`, `'xml'`, `'binary'`, `'octet'`,
 * `'exi'`, `'json'`, `'cbor'`, `'senml+json'`, `'senml+cbor'`, `'cbor-seq'`, ...), by media type
 * (`'application/json'`), or by number as text (`'60'`; an unregistered number in 0..65535 gives an
 * entry without media type). Returns undefined for anything else.
 */
export function contentFormatByName(nameOrNumber: string): ContentFormatInfo | undefined {
  const text = nameOrNumber.trim();
  if (/^[0-9]{1,5}$/.test(text)) {
    const number = Number(text);
    if (number > 0xffff) return undefined;
    return byNumber.get(number) ?? { number, mediaType: undefined, shortNames: [] };
  }
  return byName.get(key(text));
}

/** The registered media type of a Content-Format number (`'application/json'` for 50), or undefined. */
export function contentFormatName(number: number): string | undefined {
  return byNumber.get(number)?.mediaType;
}

/** The registry entry of a Content-Format number, or undefined when it is not registered. */
export function contentFormatInfo(number: number): ContentFormatInfo | undefined {
  return byNumber.get(number);
}
