/**
 * CoRE Link Format (RFC 6690): what `/.well-known/core` returns.
 *
 *   Link       = link-value-list
 *   link-value = "<" URI-Reference ">" *( ";" link-param )
 *   link-param = parmname [ "=" ( ptoken / quoted-string ) ]
 *   e.g.  </sensors/temp>;rt="temperature-c";if="sensor";ct=0,</large>;sz=1280;obs
 *
 * Values may be quoted strings holding `,` and `;` (RFC 6690 §2, RFC 2616 quoted-string with
 * backslash escapes). An attribute given twice keeps every value, in order, as an array.
 */
import { CoapDecodeError } from '../errors';

/** One attribute value: text, `true` for a bare flag (`;obs`), or every value of a repeated attribute. */
export type LinkAttributeValue = string | true | string[];

/** One link of a link-format document. */
export interface Link {
  /** The URI reference between `<` and `>`, as written (not resolved). */
  readonly target: string;
  /** Attributes by name (names lowercased, RFC 8288 §3: parameter names are case-insensitive). */
  readonly attributes: Record<string, LinkAttributeValue>;
}

function malformed(message: string, offset: number): CoapDecodeError {
  return new CoapDecodeError('BAD_PAYLOAD', `link format: ${message}`, { offset });
}

// RFC 6690 §2 / RFC 8288 §3: ptoken characters (no quotes needed) and parmname characters.
const PTOKEN = /^[!#$%&'()*+\-./0-9:<=>?@A-Z[\]^_`a-z{|}~]+$/;
const PTOKEN_CHAR = /[!#$%&'()*+\-./0-9:<=>?@A-Z[\]^_`a-z{|}~]/;
const PARMNAME_CHAR = /[!#$&+\-.^_`|~0-9A-Za-z*]/;

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/**
 * Parses a link-format document (`application/link-format`, Content-Format 40).
 * Tolerates whitespace around separators (some servers pretty-print); anything else malformed throws
 * {@link CoapDecodeError} with reason `'BAD_PAYLOAD'` and the offset of the problem.
 */
export function parseLinkFormat(text: string): Link[] {
  const links: Link[] = [];
  const length = text.length;
  let offset = 0;
  const skipSpace = (): void => {
    while (offset < length && isSpace(text.charCodeAt(offset))) offset++;
  };
  skipSpace();
  if (offset === length) return links;
  for (;;) {
    skipSpace();
    if (text[offset] !== '<') throw malformed(`expected '<' at offset ${offset}`, offset);
    const close = text.indexOf('>', offset + 1);
    if (close < 0) throw malformed('unterminated link target', offset);
    const target = text.slice(offset + 1, close);
    offset = close + 1;
    const attributes: Record<string, LinkAttributeValue> = Object.create(null);
    skipSpace();
    while (text[offset] === ';') {
      offset++;
      skipSpace();
      const nameStart = offset;
      while (offset < length && PARMNAME_CHAR.test(text[offset])) offset++;
      if (offset === nameStart) throw malformed(`expected an attribute name at offset ${offset}`, offset);
      const name = text.slice(nameStart, offset).toLowerCase();
      skipSpace();
      let value: string | true = true;
      if (text[offset] === '=') {
        offset++;
        skipSpace();
        if (text[offset] === '"') {
          let parsed = '';
          offset++;
          for (;;) {
            if (offset >= length) throw malformed('unterminated quoted string', nameStart);
            const char = text[offset++];
            if (char === '"') break;
            if (char === '\\') {
              if (offset >= length) throw malformed('unterminated quoted string', nameStart);
              parsed += text[offset++];
            } else parsed += char;
          }
          value = parsed;
        } else {
          const valueStart = offset;
          while (offset < length && PTOKEN_CHAR.test(text[offset]) && text[offset] !== ',' && text[offset] !== ';') offset++;
          value = text.slice(valueStart, offset);
        }
        skipSpace();
      }
      const previous = attributes[name];
      if (previous === undefined) attributes[name] = value;
      else if (Array.isArray(previous)) previous.push(value === true ? '' : value);
      else attributes[name] = [previous === true ? '' : previous, value === true ? '' : value];
    }
    links.push({ target, attributes });
    if (offset === length) return links;
    if (text[offset] !== ',') throw malformed(`expected ',' or ';' at offset ${offset}`, offset);
    offset++;
  }
}

/** Writes one value: bare when it is a ptoken, else a quoted string with `"` and `\` escaped. */
function formatValue(value: string): string {
  if (PTOKEN.test(value) && !value.includes(',') && !value.includes(';')) return value;
  return `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
}

/** Writes links as a link-format document; the inverse of {@link parseLinkFormat}. */
export function formatLinkFormat(links: readonly Link[]): string {
  const parts: string[] = [];
  for (const link of links) {
    let text = `<${link.target}>`;
    for (const name of Object.keys(link.attributes)) {
      const value = link.attributes[name];
      if (value === true) text += `;${name}`;
      else if (Array.isArray(value)) for (const item of value) text += `;${name}=${formatValue(item)}`;
      else text += `;${name}=${formatValue(value)}`;
    }
    parts.push(text);
  }
  return parts.join(',');
}

/** Every space-separated value of an attribute, over repeats (`rt`, `if`, `rel` are lists, RFC 6690 §3). */
export function linkAttributeValues(link: Link, name: string): string[] {
  const value = link.attributes[name.toLowerCase()];
  if (value === undefined || value === true) return [];
  const values: string[] = [];
  for (const item of Array.isArray(value) ? value : [value]) {
    for (const word of item.split(/\s+/)) if (word !== '') values.push(word);
  }
  return values;
}

/** Resource types (`rt`) of a link. */
export function linkResourceTypes(link: Link): string[] {
  return linkAttributeValues(link, 'rt');
}

/** Interface descriptions (`if`) of a link. */
export function linkInterfaces(link: Link): string[] {
  return linkAttributeValues(link, 'if');
}

/**
 * Content-Format numbers (`ct`) of a link: `ct=40`, `ct="0 41"` (RFC 7252 §7.2.1) and repeated `ct`
 * all count; words that are not numbers in 0..65535 are skipped.
 */
export function linkContentFormats(link: Link): number[] {
  const formats: number[] = [];
  for (const word of linkAttributeValues(link, 'ct')) {
    if (/^[0-9]{1,5}$/.test(word) && Number(word) <= 0xffff) formats.push(Number(word));
  }
  return formats;
}
