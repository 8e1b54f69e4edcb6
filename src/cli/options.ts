/**
 * Command-line arguments of `rxcoap`, with libcoap `coap-client`'s letters and meanings so its users feel at
 * home, parsed with Node's own `util.parseArgs`. Pure: no I/O here (files named by `-f` and `-h` are read by
 * `main.ts`), so every rule can be tested directly. Anything wrong is a {@link UsageError}: exit status 2.
 */
import { parseArgs } from 'node:util';
import { contentFormatByName } from '../codec/content-format';
import { OptionNumber } from '../codec/option-numbers';
import { Method, type MethodName } from '../codec/pdu';
import { parseCoapUri, type CoapUri } from '../codec/uri';
import type { PkiCredentials } from '../pki-credentials';
import type { RequestOption } from '../session/request-init';

/** A command line that cannot be run: the message says what is wrong; the CLI exits with status 2. */
export class UsageError extends Error {
  /** The code of its `--json` error record: the library's code for a bad argument. */
  readonly code = 'COAP_ERR_ARGUMENT';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Where the request body comes from. */
export type PayloadSource = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'file'; readonly path: string };

/** PSK credentials from `-u` and `-k` (and `-h`), for coaps:// and coaps+tcp://. The key is never printed. */
export interface CliPsk {
  readonly identity: string;
  readonly key: string;
  /** `-h file`: lines of `hint,identity,key`. */
  readonly hintFile: string | undefined;
}

/**
 * Certificate options of a coaps+tcp:// URI, coap-client's PKI letters: `-c certfile`, `-j keyfile`, `-C cafile`,
 * `-R trust_casfile` and `-n`. Files are named here and read by the TLS transport.
 */
export interface CliPki {
  /** `-c certfile`: the client's own certificate (PEM), for mutual authentication. */
  readonly certFile: string | undefined;
  /** `-j keyfile`, or the `-c` file when `-j` is absent (coap-client: the key may sit in the certificate's PEM file). */
  readonly keyFile: string | undefined;
  /** `-C cafile`: the CA (and intermediates) that signed the server's certificate. */
  readonly caFile: string | undefined;
  /** `-R trust_casfile`: a PEM file, or a directory of them, of trusted root CAs. */
  readonly rootCas: string | undefined;
  /** False with `-n`: the server's certificate is not checked. */
  readonly verifyPeerCert: boolean;
}

/** Everything a command line asks for, checked. */
export interface CliOptions {
  /** The URI as given. */
  readonly uri: string;
  /** The URI parsed (scheme `coap`, `coaps`, `coap+tcp` or `coaps+tcp`). */
  readonly target: CoapUri;
  readonly method: MethodName;
  readonly payload: PayloadSource | undefined;
  /** `-o file` (`'-'` = stdout, raw bytes). */
  readonly output: string | undefined;
  /** `-s seconds`: observe for this long. */
  readonly observeSeconds: number | undefined;
  /** `-b [num,]size`. */
  readonly block: { readonly num: number | undefined; readonly size: number } | undefined;
  /** `-t type`: Content-Format number of the body. */
  readonly contentFormat: number | undefined;
  /** `-A type`: Accept. */
  readonly accept: number | undefined;
  /** `-O num[,text]` (repeatable) and `-H hops` as options. */
  readonly options: readonly RequestOption[];
  /** `-T token` as bytes: the characters' UTF-8 bytes, or hex after `0x`. */
  readonly token: Uint8Array | undefined;
  /** False with `-N`. */
  readonly confirmable: boolean;
  /** `-B seconds`: give up after this long. */
  readonly breakAfterSeconds: number;
  /** `-a addr`. */
  readonly localAddress: string | undefined;
  /** `-p port`. */
  readonly localPort: number | undefined;
  /** `-u`/`-k`/`-h` for coaps:// and coaps+tcp:// URIs. */
  readonly psk: CliPsk | undefined;
  /**
   * `-c`/`-j`/`-C`/`-R`/`-n` for coaps+tcp:// URIs; undefined without them (a coaps+tcp:// URI without PSK or
   * certificate options verifies the server against the system's trust store).
   */
  readonly pki: CliPki | undefined;
  /** `-U`: no Uri-Host/Uri-Port. */
  readonly omitUriHost: boolean;
  /** `-v num`: 0..9. At 7 and above every PDU is traced on stderr. */
  readonly verbosity: number;
  /** `-w`: newline after the body. */
  readonly newline: boolean;
  /** `--json`: one JSON object per response or notification on stdout. */
  readonly json: boolean;
}

/** The parsed command line: a request to run, `--help`, or `--version`. */
export type CliCommand = { readonly kind: 'run'; readonly options: CliOptions } | { readonly kind: 'help' } | { readonly kind: 'version' };

/** coap-client's default for `-B` (seconds). */
export const DEFAULT_BREAK_SECONDS = 90;
/** coap-client's default for `-v`. */
export const DEFAULT_VERBOSITY = 3;
/** `-v` level from which every PDU is printed. */
export const TRACE_VERBOSITY = 7;

/** `rxcoap --help`. */
export const USAGE = `Usage: rxcoap [options] URI

A CoAP client on rxcoap, with libcoap coap-client's options. URI is coap://, coaps:// (DTLS),
coap+tcp://, coaps+tcp:// (TLS), coap+ws:// or coaps+ws:// (WebSockets, RFC 8323 §4).
Exit status: 0 on a 2.xx response, 1 otherwise (the code and any diagnostic on stderr), 2 on bad arguments.

Request
  -m, --method method     get, put, post, delete, fetch, patch, ipatch (default get)
  -e, --text text         send text as the body (UTF-8)
  -f, --file file         send the file as the body ('-' = stdin)
  -t, --content-format t  Content-Format of the body: a name (text, json, cbor, link, senml+cbor, ...) or a number
  -A, --accept type       Accept: a name or a number
  -O, --option num[,text] add option num; text starting with 0x is hex (repeatable)
  -T, --token token       token: its characters (as coap-client), or hex after 0x (up to 8 bytes)
  -N, --non               send a NON request (default CON)
  -U, --no-uri-host       never send Uri-Host or Uri-Port
  -H, --hop-limit hops    Hop-Limit option (1..255)
  -b, --block [num,]size  block size 16..1024 (a power of two); with num > 0, only that block

Response
  -o, --output file       write the body to file ('-' = stdout), byte for byte
  -s, --subscribe secs    observe the resource for that many seconds, then cancel
  -B, --break secs        give up after that many seconds (default ${DEFAULT_BREAK_SECONDS})
  -w, --newline           print a newline after the body
      --json              one JSON object per response or notification: code, type, options, decoded payload

Session
  -a, --local-address a   local address to send from
  -p, --local-port port   local port to send from
  -v, --verbose num       log level 0..9 (default ${DEFAULT_VERBOSITY}); 7 and above print every PDU sent and received

PSK (coaps://, coaps+tcp://, coaps+ws://)
  -u, --identity id       PSK identity
  -k, --key key           pre-shared key; never printed
  -h, --hint-file file    lines of hint,identity,key: credentials per server identity hint

Certificates (coaps+tcp://, coaps+ws://; without these or -k the server is checked against the system's trust store)
  -c, --cert file         own certificate (PEM), for mutual authentication; also the key file unless -j
  -j, --cert-key file     private key (PEM) of the -c certificate
  -C, --ca file           CA (PEM) that signed the server's certificate: the server must chain to it
  -R, --root-cas path     trusted root CAs: a PEM file or a directory of them (the server may chain to any)
  -n, --no-verify         do not check the server's certificate (insecure)

      --help              this text
      --version           the version

Not in this version: certificates over DTLS (coaps://), Unix sockets, multicast.

Examples
  rxcoap coap://127.0.0.1/.well-known/core
  rxcoap -m put -t json -e '{"on":true}' coap://127.0.0.1/lamp
  rxcoap -s 10 coap://127.0.0.1/sensors/temperature
  rxcoap -o firmware.bin coap://127.0.0.1/firmware
  rxcoap -u client -k secret coaps://127.0.0.1/secret
  rxcoap -C ca.pem -c client.pem -j client-key.pem coaps+tcp://localhost/secret
  rxcoap -s 10 coap+ws://127.0.0.1:8080/sensors/temperature
`;

const argumentSpec = {
  method: { type: 'string', short: 'm' },
  text: { type: 'string', short: 'e' },
  file: { type: 'string', short: 'f' },
  output: { type: 'string', short: 'o' },
  subscribe: { type: 'string', short: 's' },
  block: { type: 'string', short: 'b' },
  'content-format': { type: 'string', short: 't' },
  accept: { type: 'string', short: 'A' },
  option: { type: 'string', short: 'O', multiple: true },
  token: { type: 'string', short: 'T' },
  non: { type: 'boolean', short: 'N' },
  break: { type: 'string', short: 'B' },
  'local-address': { type: 'string', short: 'a' },
  'local-port': { type: 'string', short: 'p' },
  key: { type: 'string', short: 'k' },
  identity: { type: 'string', short: 'u' },
  'hint-file': { type: 'string', short: 'h' },
  cert: { type: 'string', short: 'c' },
  'cert-key': { type: 'string', short: 'j' },
  ca: { type: 'string', short: 'C' },
  'root-cas': { type: 'string', short: 'R' },
  'no-verify': { type: 'boolean', short: 'n' },
  'hop-limit': { type: 'string', short: 'H' },
  'no-uri-host': { type: 'boolean', short: 'U' },
  verbose: { type: 'string', short: 'v' },
  newline: { type: 'boolean', short: 'w' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
  version: { type: 'boolean' },
} as const;

const methods: Readonly<Record<string, MethodName>> = {
  get: 'GET',
  put: 'PUT',
  post: 'POST',
  delete: 'DELETE',
  fetch: 'FETCH',
  patch: 'PATCH',
  ipatch: 'IPATCH',
};

/** Turns parseArgs' own errors into one short sentence. */
function describeParseError(error: unknown): string {
  const message = (error as Error).message;
  const code = (error as { code?: string }).code;
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== null) return `unknown option '${unknown[1]}'`;
  const missing = /Option '([^']+)' argument missing/.exec(message);
  if (missing !== null) return `option '${missing[1].split(',')[0].trim()}' needs a value`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return message.replace(/\.$/, '');
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return message.split('.')[0];
  return message.split('\n')[0].replace(/\.$/, '');
}

/** A non-negative decimal number (fractions allowed), for seconds. */
function seconds(value: string, what: string, allowZero: boolean): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value)) throw new UsageError(`${what} must be a number of seconds, got '${value}'`);
  const number = Number(value);
  if (!allowZero && number === 0) throw new UsageError(`${what} must be more than 0 seconds`);
  return number;
}

function integer(value: string, what: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${what} must be an integer in ${min}..${max}, got '${value}'`);
  }
  return Number(value);
}

function contentFormat(value: string, flag: string): number {
  const info = contentFormatByName(value);
  if (info === undefined) {
    throw new UsageError(`${flag}: unknown content format '${value}' (use a name such as text, json, cbor, link, senml+cbor, or a number)`);
  }
  return info.number;
}

/** Hex text (`'cafe'`, `'0xcafe'`) to bytes; undefined when it is not hex. */
export function parseHex(text: string): Uint8Array | undefined {
  const digits = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) return undefined;
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** `-O num[,text]`: coap-client's form; text starting with `0x` is hex, no text is an empty value. */
export function parseOptionArgument(value: string): RequestOption {
  const comma = value.indexOf(',');
  const numberText = comma < 0 ? value : value.slice(0, comma);
  const number = integer(numberText.trim(), `-O option number in '${value}'`, 0, 65535);
  if (comma < 0) return { number, value: new Uint8Array(0) };
  const text = value.slice(comma + 1);
  if (text.startsWith('0x') || text.startsWith('0X')) {
    const bytes = parseHex(text);
    if (bytes === undefined) throw new UsageError(`-O ${numberText}: '${text}' is not hex (two digits per byte)`);
    return { number, value: bytes };
  }
  return { number, value: text };
}

/** RFC 7252 §3: TKL 0..8 (coap-client takes up to 24 with RFC 8974 extended tokens, which UDP sessions here do not offer). */
const MAX_TOKEN_LENGTH = 8;

/**
 * `-T token`: the characters' bytes (UTF-8), as coap-client's `cmdline_token` copies them, so `-T cafe` is
 * `63616665`; text starting with `0x` is hex (`-T 0xcafe` is `cafe`), as `-O` and coap-client's `-k` read it.
 * coap-client seeds its token counter with the value and sends one more (`63616666`); rxcoap sends it as given.
 */
export function parseTokenArgument(value: string): Uint8Array {
  let token: Uint8Array;
  if (value.startsWith('0x') || value.startsWith('0X')) {
    const bytes = parseHex(value);
    if (bytes === undefined) throw new UsageError(`-T: '${value}' is not hex (two digits per byte after 0x)`);
    token = bytes;
  } else {
    token = new TextEncoder().encode(value);
  }
  if (token.length > MAX_TOKEN_LENGTH) throw new UsageError(`-T: a token is at most ${MAX_TOKEN_LENGTH} bytes, '${value}' is ${token.length}`);
  return token;
}

/** `-b [num,]size`: size a power of two in 16..1024 (RFC 7959 §2.2). */
export function parseBlockArgument(value: string): { num: number | undefined; size: number } {
  const parts = value.split(',');
  if (parts.length > 2) throw new UsageError(`-b takes [num,]size, got '${value}'`);
  const sizeText = parts[parts.length - 1].trim();
  const size = integer(sizeText, '-b block size', 16, 1024);
  if ((size & (size - 1)) !== 0) throw new UsageError(`-b block size must be a power of two in 16..1024, got ${size}`);
  const num = parts.length === 2 ? integer(parts[0].trim(), '-b block number', 0, 0xfffff) : undefined;
  return { num, size };
}

/** The schemes this version runs: UDP, DTLS, and RFC 8323 over TCP, TLS, WebSockets and secure WebSockets. */
const SUPPORTED_SCHEMES: ReadonlySet<string> = new Set(['coap', 'coaps', 'coap+tcp', 'coaps+tcp', 'coap+ws', 'coaps+ws']);

function parseTarget(uri: string): CoapUri {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  // Checked before parsing so the message names the real problem, not a URI detail.
  if (scheme !== undefined && !SUPPORTED_SCHEMES.has(scheme)) {
    throw new UsageError(`'${scheme}' is not a CoAP scheme: use coap://, coaps://, coap+tcp://, coaps+tcp://, coap+ws:// or coaps+ws://`);
  }
  let target: CoapUri;
  try {
    target = parseCoapUri(uri);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!SUPPORTED_SCHEMES.has(target.scheme)) throw new UsageError(`${target.scheme}:// is not supported by this version`);
  // libcoap's Unix-domain sockets (coap://%2Fpath, coap+tcp://%2Fpath): datagram and stream, not secured.
  if (target.unixPath !== undefined && target.scheme !== 'coap' && target.scheme !== 'coap+tcp') {
    throw new UsageError(`a Unix socket path takes coap:// (datagram) or coap+tcp:// (stream), not ${target.scheme}://`);
  }
  return target;
}

/** A file option's value: never empty. */
function fileName(value: string | undefined, flag: string): string | undefined {
  if (value === '') throw new UsageError(`${flag} needs a file name`);
  return value;
}

/**
 * The certificate options (`-c`, `-j`, `-C`, `-R`, `-n`) as coap-client reads them: for the secure schemes
 * (coaps:// over DTLS too), never together with PSK options, `-j` only with `-c`.
 */
function parsePki(values: Readonly<Record<string, unknown>>, target: CoapUri, hasPsk: boolean): CliPki | undefined {
  const certFile = fileName(values.cert as string | undefined, '-c');
  const keyFile = fileName(values['cert-key'] as string | undefined, '-j');
  const caFile = fileName(values.ca as string | undefined, '-C');
  const rootCas = fileName(values['root-cas'] as string | undefined, '-R');
  const noVerify = values['no-verify'] === true;
  if (certFile === undefined && keyFile === undefined && caFile === undefined && rootCas === undefined && !noVerify) return undefined;
  if (!target.secure) throw new UsageError(`-c, -j, -C, -R and -n are for coaps+tcp:// and coaps+ws:// URIs, not ${target.scheme}://`);
  if (hasPsk) throw new UsageError('-u/-k/-h (PSK) and -c/-j/-C/-R/-n (certificates) are two ways to secure coaps+tcp:// and coaps+ws://: use one');
  if (keyFile !== undefined && certFile === undefined) throw new UsageError('-j names the private key of the -c certificate: give -c certfile too');
  // coap-client: the private key may sit in the certificate's PEM file when -j is absent.
  return { certFile, keyFile: keyFile ?? certFile, caFile, rootCas, verifyPeerCert: !noVerify };
}

/**
 * The library's certificate credentials for the CLI's certificate options, with coap-client's rules
 * (`setup_pki`): `-C` makes the server chain to that CA (checkCommonCa) unless `-R` is given too, whose roots
 * then widen the trust to any of them; `-n` switches verification off. `-R` itself goes to
 * `ctx.setPkiRootCas`, not here. Everything else keeps the library's strict defaults (an expired or
 * self-signed server certificate is refused, where coap-client allows both).
 */
export function pkiCredentials(pki: CliPki): PkiCredentials {
  const pkiKey = {
    ...(pki.caFile === undefined ? {} : { caFile: pki.caFile }),
    ...(pki.certFile === undefined ? {} : { publicCert: pki.certFile, privateKey: pki.keyFile ?? pki.certFile }),
  };
  return {
    verifyPeerCert: pki.verifyPeerCert,
    // coap-client: check_common_ca = !root_ca_file.
    ...(pki.caFile === undefined && pki.rootCas === undefined ? {} : { checkCommonCa: pki.rootCas === undefined }),
    ...(Object.keys(pkiKey).length === 0 ? {} : { pkiKey }),
  };
}

/**
 * Parses `rxcoap`'s arguments (without `node` and the script).
 * @param argv - e.g. `process.argv.slice(2)`
 * @throws UsageError when they cannot be run
 */
export function parseCliArgs(argv: readonly string[]): CliCommand {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof argumentSpec; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: argumentSpec, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  const values = parsed.values;
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  if (parsed.positionals.length === 0) {
    // `-s coap://...`: the URI was taken as the option's value.
    for (const [name, value] of Object.entries(values)) {
      if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
        const short = (argumentSpec as Record<string, { short?: string }>)[name]?.short;
        throw new UsageError(`no URI given: ${short === undefined ? `--${name}` : `-${short}`} took '${value}' as its value`);
      }
    }
    throw new UsageError('no URI given');
  }
  if (parsed.positionals.length > 1) throw new UsageError(`one URI expected, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`);
  const uri = parsed.positionals[0];
  const target = parseTarget(uri);

  const methodText = values.method ?? 'get';
  const method = methods[methodText.toLowerCase()];
  if (method === undefined || !(method in Method)) {
    throw new UsageError(`-m: unknown method '${methodText}' (get, put, post, delete, fetch, patch, ipatch)`);
  }

  if (values.text !== undefined && values.file !== undefined) throw new UsageError('-e and -f both give a body: use one');
  const payload: PayloadSource | undefined =
    values.text !== undefined ? { kind: 'text', text: values.text } : values.file !== undefined ? { kind: 'file', path: values.file } : undefined;
  if (values.file === '') throw new UsageError('-f needs a file name (or - for stdin)');
  if (values.output === '') throw new UsageError('-o needs a file name (or - for stdout)');

  const observeSeconds = values.subscribe === undefined ? undefined : seconds(values.subscribe, '-s', false);
  if (observeSeconds !== undefined && method !== 'GET' && method !== 'FETCH') throw new UsageError(`-s observes with GET or FETCH, not ${method}`);
  const breakAfterSeconds = values.break === undefined ? DEFAULT_BREAK_SECONDS : seconds(values.break, '-B', false);
  const block = values.block === undefined ? undefined : parseBlockArgument(values.block);

  const options: RequestOption[] = (values.option ?? []).map(parseOptionArgument);
  if (values['hop-limit'] !== undefined) {
    // RFC 8768 §3: Hop-Limit is 1..255.
    options.push({ number: OptionNumber.HopLimit, value: integer(values['hop-limit'], '-H hop limit', 1, 255) });
  }

  const token = values.token === undefined ? undefined : parseTokenArgument(values.token);

  const verbosity = values.verbose === undefined ? DEFAULT_VERBOSITY : integer(values.verbose, '-v', 0, 9);
  const localPort = values['local-port'] === undefined ? undefined : integer(values['local-port'], '-p local port', 0, 65535);

  let psk: CliPsk | undefined;
  const hasPsk = values.key !== undefined || values.identity !== undefined || values['hint-file'] !== undefined;
  const pki = parsePki(values, target, hasPsk);
  if (!target.secure && hasPsk) throw new UsageError(`-u, -k and -h are for coaps://, coaps+tcp:// and coaps+ws:// URIs, not ${target.scheme}://`);
  // A secure scheme takes a PSK, certificates, or neither (coaps:// without credentials is anonymous DTLS, as coap-client).
  if (target.secure && hasPsk) {
    if (values.key === undefined || values.identity === undefined) throw new UsageError('a PSK needs both -u identity and -k key');
    // The key's value never appears in a message.
    if (values.key.length === 0) throw new UsageError('-k: the key is empty');
    psk = { identity: values.identity, key: values.key, hintFile: values['hint-file'] };
  }

  if (values.json === true && values.output !== undefined) throw new UsageError('--json writes to stdout: it cannot be used with -o');

  return {
    kind: 'run',
    options: {
      uri,
      target,
      method,
      payload,
      output: values.output,
      observeSeconds,
      block,
      contentFormat: values['content-format'] === undefined ? undefined : contentFormat(values['content-format'], '-t'),
      accept: values.accept === undefined ? undefined : contentFormat(values.accept, '-A'),
      options,
      token,
      confirmable: values.non !== true,
      breakAfterSeconds,
      localAddress: values['local-address'],
      localPort,
      psk,
      pki,
      omitUriHost: values['no-uri-host'] === true,
      verbosity,
      newline: values.newline === true,
      json: values.json === true,
    },
  };
}

/**
 * Parses an identity-hint file (`-h`): one `hint,identity,key` per line; blank lines and `#` comments are
 * skipped. Errors name the line, never the key.
 */
export function parseHintFile(text: string, fileName: string): Map<string, { identity: string; key: string }> {
  const hints = new Map<string, { identity: string; key: string }>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const first = line.indexOf(',');
    const second = first < 0 ? -1 : line.indexOf(',', first + 1);
    if (second < 0) throw new UsageError(`${fileName}:${i + 1}: expected hint,identity,key`);
    const key = line.slice(second + 1);
    if (key.length === 0) throw new UsageError(`${fileName}:${i + 1}: the key is empty`);
    hints.set(line.slice(0, first), { identity: line.slice(first + 1, second), key });
  }
  return hints;
}
