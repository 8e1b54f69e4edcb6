/**
 * The `rxcoap` command line: its argument rules and output forms directly, then the BUILT CLI
 * (`node dist/src/cli/main.js`, what the `bin` entry runs) as a user runs it, against the test peer (UDP, TCP,
 * TLS with a PSK and with certificates) and against libcoap's coap-server-notls / -openssl. `npm test` builds
 * first; by hand, run `npm run build` before.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentFormat } from '../../src/codec/content-format';
import { OptionNumber } from '../../src/codec/option-numbers';
import { decodeUint, encodeString, encodeUint } from '../../src/codec/option-values';
import { Method, MessageType, ResponseCode, SignalCode, createPdu, getOption, tokenToHex } from '../../src/codec/pdu';
import { cborPayload } from '../../src/codec/payload';
import { encodeStreamFrame } from '../../src/codec/stream-codec';
import { encodeDatagram } from '../../src/codec/udp-codec';
import { encodeWsMessage } from '../../src/codec/ws-codec';
import { decodeBlock } from '../../src/codec/block';
import { bodyTerminator, errorLine, errorRecord, pduLine, renderBody, responseRecord } from '../../src/cli/format';
import { DEFAULT_BREAK_SECONDS, UsageError, parseCliArgs, parseHintFile, pkiCredentials, type CliOptions } from '../../src/cli/options';
import { CoapDtlsError, CoapResetError, CoapTimeoutError } from '../../src/errors';
import { startTestPeer, type ReceivedPdu, type TestPeer } from '../../src/testing/test-peer';
import { describeInterop, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';
import { describeWhen } from '../helpers/describe-when';
import { describeUnixDgram } from '../helpers/unix-dgram-socket';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
/** The test peer's certificates (see its README): `ca.pem` signs server and client, `other-ca.pem` signs neither. */
const PKI_DIR = path.join(ROOT, 'spec', 'fixtures', 'test-peer-pki');
const pkiFile = (name: string): string => path.join(PKI_DIR, name);

interface CliRun {
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  /** Wall-clock milliseconds from spawn to exit. */
  readonly elapsed: number;
}

/** Runs the built CLI with pipes for stdin, stdout and stderr (none is a TTY). */
function runCli(args: readonly string[], options: { input?: Uint8Array; timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 20_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(killer);
      resolve({ status, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString(), elapsed: Date.now() - started });
    });
    child.stdin.end(options.input === undefined ? undefined : Buffer.from(options.input));
  });
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

const scriptBinary = ['/usr/bin/script', '/bin/script'].find((candidate) => fs.existsSync(candidate));

/** Runs the built CLI on a pseudo-terminal (util-linux `script`): stdout and stderr are both the TTY. */
function runCliOnTty(args: readonly string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, CLI, ...args].map(shellQuote).join(' ');
    const child = spawn(scriptBinary as string, ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const output: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(killer);
      resolve({ status, output: Buffer.concat(output).toString() });
    });
    child.stdin.end();
  });
}

/** What the terminal cases need: util-linux's `script`, which runs the CLI on a pseudo-terminal. */
const noTty = scriptBinary === undefined ? { what: "util-linux's script", how: 'apt-get install util-linux' } : undefined;

/** Directories made by {@link tmpFile}, removed after the file's cases. */
const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tmpFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxcoap-cli-'));
  tmpDirs.push(dir);
  return path.join(dir, name);
}

function run(argv: string[]): CliOptions {
  const command = parseCliArgs(argv);
  if (command.kind !== 'run') throw new Error(`expected a run, got ${command.kind}`);
  return command.options;
}

function usageError(argv: string[]): string {
  try {
    parseCliArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
}

describe('rxcoap options (coap-client letters)', () => {
  it('maps every coap-client letter to its meaning', () => {
    const options = run([
      '-m', 'PUT', '-e', 'hello', '-o', 'out.bin', '-b', '3,64', '-t', 'json', '-A', 'senml+cbor', '-O', '2048,abc', '-O', '2049,0xcafe',
      '-O', '5', '-T', '0xa1b2', '-N', '-B', '7', '-a', '127.0.0.1', '-p', '40001', '-H', '9', '-U', '-v', '7', '-w',
      'coap://127.0.0.1:5699/some/path?x=1',
    ]);
    expect(options).toMatchObject({
      uri: 'coap://127.0.0.1:5699/some/path?x=1',
      method: 'PUT',
      payload: { kind: 'text', text: 'hello' },
      output: 'out.bin',
      block: { num: 3, size: 64 },
      contentFormat: ContentFormat.Json,
      accept: ContentFormat.SenmlCbor,
      confirmable: false,
      breakAfterSeconds: 7,
      localAddress: '127.0.0.1',
      localPort: 40001,
      omitUriHost: true,
      verbosity: 7,
      newline: true,
      json: false,
      psk: undefined,
    });
    expect(options.target.port).toBe(5699);
    expect([...(options.token ?? [])]).toEqual([0xa1, 0xb2]);
    expect(options.options).toEqual([
      { number: 2048, value: 'abc' },
      { number: 2049, value: Uint8Array.of(0xca, 0xfe) },
      { number: 5, value: new Uint8Array(0) },
      { number: OptionNumber.HopLimit, value: 9 },
    ]);
  });

  it('defaults to a CON GET with a 90 s break and verbosity 3', () => {
    const options = run(['coap://[::1]/']);
    expect(options).toMatchObject({ method: 'GET', confirmable: true, breakAfterSeconds: DEFAULT_BREAK_SECONDS, verbosity: 3, observeSeconds: undefined });
  });

  it('takes -f - (stdin), -s seconds, -u/-k/-h for coaps:// and --json', () => {
    const options = run(['-f', '-', '-m', 'fetch', '-s', '2.5', '--json', '-u', 'me', '-k', 'sekrit', '-h', 'hints.txt', 'coaps://127.0.0.1/x']);
    expect(options.payload).toEqual({ kind: 'file', path: '-' });
    expect(options).toMatchObject({ observeSeconds: 2.5, json: true, psk: { identity: 'me', key: 'sekrit', hintFile: 'hints.txt' } });
  });

  it.each([
    [['-Z', 'coap://h/'], "unknown option '-Z'"],
    [[], 'no URI given'],
    [['-s', 'coap://h/'], "-s took 'coap://h/' as its value"],
    [['coap://h/', 'coap://g/'], 'one URI expected'],
    [['-m', 'brew', 'coap://h/'], "unknown method 'brew'"],
    [['-b', '100', 'coap://h/'], 'power of two'],
    [['-b', '2048', 'coap://h/'], '-b block size must be an integer in 16..1024'],
    [['-t', 'nonsense', 'coap://h/'], "unknown content format 'nonsense'"],
    [['-O', 'x,1', 'coap://h/'], '-O option number'],
    [['-O', '12,0xzz', 'coap://h/'], 'is not hex'],
    [['-T', '0102030405060708ff', 'coap://h/'], 'at most 8 bytes'],
    [['-T', '0xxyz', 'coap://h/'], "-T: '0xxyz' is not hex"],
    [['-T', 'ninechars', 'coap://h/'], "-T: a token is at most 8 bytes, 'ninechars' is 9"],
    [['-H', '0', 'coap://h/'], '-H hop limit must be an integer in 1..255'],
    [['-v', '12', 'coap://h/'], '-v must be an integer in 0..9'],
    [['-s', '0', 'coap://h/'], '-s must be more than 0'],
    [['-B', 'soon', 'coap://h/'], '-B must be a number of seconds'],
    [['-e', 'a', '-f', 'b', 'coap://h/'], '-e and -f both give a body'],
    [['-s', '1', '-m', 'put', 'coap://h/'], '-s observes with GET or FETCH'],
    [['-k', 'key', 'coap://h/'], '-u, -k and -h are for coaps://, coaps+tcp:// and coaps+ws:// URIs, not coap://'],
    [['-u', 'me', '-k', 'key', 'coap+tcp://h/'], '-u, -k and -h are for coaps://, coaps+tcp:// and coaps+ws:// URIs, not coap+tcp://'],
    [['-u', 'me', '-k', 'key', 'coap+ws://h/'], '-u, -k and -h are for coaps://, coaps+tcp:// and coaps+ws:// URIs, not coap+ws://'],
    [['-k', 'key', 'coaps://h/'], 'a PSK needs both -u identity and -k key'],
    [['-k', 'key', 'coaps+tcp://h/'], 'a PSK needs both -u identity and -k key'],
    [['--json', '-o', 'f', 'coap://h/'], '--json writes to stdout'],
    [['-k', 'key', 'coaps+ws://h/'], 'a PSK needs both -u identity and -k key'],
    [['-c', 'me.pem', '-u', 'me', '-k', 'key', 'coaps://h/'], '-u/-k/-h (PSK) and -c/-j/-C/-R/-n (certificates) are two ways'],
    [['-j', 'key.pem', 'coaps://h/'], '-j names the private key of the -c certificate'],
    [['-C', 'ca.pem', 'coap+tcp://h/'], '-c, -j, -C, -R and -n are for coaps+tcp:// and coaps+ws:// URIs, not coap+tcp://'],
    [['-C', 'ca.pem', 'coap+ws://h/'], '-c, -j, -C, -R and -n are for coaps+tcp:// and coaps+ws:// URIs, not coap+ws://'],
    [['-n', 'coap://h/'], '-c, -j, -C, -R and -n are for coaps+tcp:// and coaps+ws:// URIs, not coap://'],
    [['-u', 'me', '-k', 'key', '-C', 'ca.pem', 'coaps+tcp://h/'], '-u/-k/-h (PSK) and -c/-j/-C/-R/-n (certificates) are two ways'],
    [['-j', 'key.pem', 'coaps+tcp://h/'], '-j names the private key of the -c certificate: give -c certfile too'],
    [['-C', '', 'coaps+tcp://h/'], '-C needs a file name'],
    [['-R', '', 'coaps+tcp://h/'], '-R needs a file name'],
    [['http://h/'], "'http' is not a CoAP scheme"],
    [['coap://h/a#frag'], 'fragments'],
  ])('rejects %j: %s', (argv, message) => {
    expect(usageError(argv)).toContain(message);
  });

  it('takes coap+ws:// and coaps+ws:// (RFC 8323 §4) on ports 80 and 443 by default, with -u/-k, -C or nothing', () => {
    expect(run(['coap+ws://127.0.0.1/x']).target).toMatchObject({ scheme: 'coap+ws', reliable: true, secure: false, port: 80 });
    expect(run(['coaps+ws://127.0.0.1/x']).target).toMatchObject({ scheme: 'coaps+ws', reliable: true, secure: true, port: 443 });
    expect(run(['-u', 'me', '-k', 'sekrit', 'coaps+ws://127.0.0.1:8443/x'])).toMatchObject({ target: { port: 8443 }, psk: { identity: 'me' } });
    expect(run(['-C', 'ca.pem', 'coaps+ws://localhost/x']).pki).toMatchObject({ caFile: 'ca.pem' });
  });

  it('takes coap+tcp:// and coaps+tcp:// (RFC 8323), with -u/-k or with no credentials at all', () => {
    const tcp = run(['coap+tcp://127.0.0.1/x']);
    expect(tcp.target).toMatchObject({ scheme: 'coap+tcp', reliable: true, secure: false, port: 5683 });
    expect(tcp).toMatchObject({ psk: undefined, pki: undefined });
    const psk = run(['-u', 'me', '-k', 'sekrit', '-h', 'hints.txt', 'coaps+tcp://127.0.0.1:5700/x']);
    expect(psk.target).toMatchObject({ scheme: 'coaps+tcp', reliable: true, secure: true, port: 5700 });
    expect(psk).toMatchObject({ psk: { identity: 'me', key: 'sekrit', hintFile: 'hints.txt' }, pki: undefined });
    // coap-client: an encrypted scheme without PSK or certificate options checks the server against the trust store.
    expect(run(['coaps+tcp://localhost/x'])).toMatchObject({ psk: undefined, pki: undefined });
    expect(run(['coaps+tcp://localhost/x']).target.port).toBe(5684);
  });

  it('reads coap-client\'s certificate letters -c, -j, -C, -R and -n for coaps+tcp://', () => {
    const options = run(['-c', 'me.pem', '-j', 'me-key.pem', '-C', 'ca.pem', '-R', 'roots.pem', '-n', 'coaps+tcp://localhost/x']);
    expect(options.pki).toEqual({ certFile: 'me.pem', keyFile: 'me-key.pem', caFile: 'ca.pem', rootCas: 'roots.pem', verifyPeerCert: false });
    expect(options.psk).toBeUndefined();
    // coap-client -c: the private key can be in the certificate's PEM file when -j is absent.
    expect(run(['-c', 'both.pem', 'coaps+tcp://localhost/x']).pki).toEqual({
      certFile: 'both.pem', keyFile: 'both.pem', caFile: undefined, rootCas: undefined, verifyPeerCert: true,
    });
    const long = run(['--cert', 'a.pem', '--cert-key', 'k.pem', '--ca', 'ca.pem', '--root-cas', 'dir', '--no-verify', 'coaps+tcp://localhost/x']);
    expect(long.pki).toEqual({ certFile: 'a.pem', keyFile: 'k.pem', caFile: 'ca.pem', rootCas: 'dir', verifyPeerCert: false });
    expect(run(['-n', 'coaps+tcp://localhost/x']).pki).toEqual({ certFile: undefined, keyFile: undefined, caFile: undefined, rootCas: undefined, verifyPeerCert: false });
  });

  it('turns the certificate letters into the library\'s credentials with coap-client\'s rules (setup_pki)', () => {
    const pki = (argv: string[]) => pkiCredentials(run([...argv, 'coaps+tcp://localhost/x']).pki!);
    // -C: the server must chain to that CA (check_common_ca).
    expect(pki(['-C', 'ca.pem'])).toEqual({ verifyPeerCert: true, checkCommonCa: true, pkiKey: { caFile: 'ca.pem' } });
    // -R: roots for any chain; with -C too, check_common_ca = !root_ca_file is off. The roots go to ctx.setPkiRootCas.
    expect(pki(['-R', 'roots.pem'])).toEqual({ verifyPeerCert: true, checkCommonCa: false });
    expect(pki(['-C', 'ca.pem', '-R', 'roots.pem'])).toEqual({ verifyPeerCert: true, checkCommonCa: false, pkiKey: { caFile: 'ca.pem' } });
    // -c with or without -j: own certificate and key for mutual authentication.
    expect(pki(['-c', 'me.pem', '-j', 'key.pem', '-C', 'ca.pem'])).toEqual({
      verifyPeerCert: true, checkCommonCa: true, pkiKey: { caFile: 'ca.pem', publicCert: 'me.pem', privateKey: 'key.pem' },
    });
    expect(pki(['-c', 'both.pem'])).toEqual({ verifyPeerCert: true, pkiKey: { publicCert: 'both.pem', privateKey: 'both.pem' } });
    // -n: no verification at all.
    expect(pki(['-n'])).toEqual({ verifyPeerCert: false });
  });

  it('reads -T as the characters\' bytes, as coap-client does, and 0x... as hex (issue 16 #13)', () => {
    expect([...(run(['-T', 'cafe', 'coap://h/']).token ?? [])]).toEqual([0x63, 0x61, 0x66, 0x65]);
    expect([...(run(['-T', '0xcafe', 'coap://h/']).token ?? [])]).toEqual([0xca, 0xfe]);
    expect([...(run(['--token', '12345678', 'coap://h/']).token ?? [])]).toEqual([...Buffer.from('12345678')]);
    expect([...(run(['-T', 'é', 'coap://h/']).token ?? [])]).toEqual([0xc3, 0xa9]);
    expect(run(['-T', '', 'coap://h/']).token).toEqual(new Uint8Array(0));
  });

  it('never puts the key in a message', () => {
    expect(usageError(['-k', 'TOPSECRET', 'coap://h/'])).not.toContain('TOPSECRET');
    expect(() => parseHintFile('hint,id\n', 'h.txt')).toThrow('h.txt:1: expected hint,identity,key');
    expect(() => parseHintFile('# c\n\nhint,id,\n', 'h.txt')).toThrow('h.txt:3: the key is empty');
    expect([...parseHintFile('# comment\nserver-a,alice,k,with,commas\n\nb,bob,kb\n', 'h').entries()]).toEqual([
      ['server-a', { identity: 'alice', key: 'k,with,commas' }],
      ['b', { identity: 'bob', key: 'kb' }],
    ]);
  });
});

describe('rxcoap output forms', () => {
  const text = (value: string | Uint8Array): string => (typeof value === 'string' ? value : Buffer.from(value).toString());

  it('prints CBOR in diagnostic notation and leaves other bytes alone when not on a TTY', () => {
    const cbor = cborPayload({ temp: 21.5, tags: ['a'], raw: Uint8Array.of(1, 255) });
    expect(renderBody(cbor, ContentFormat.Cbor, false)).toEqual({ data: `{"temp": 21.5, "tags": ["a"], "raw": h'01ff'}\n`, rendered: true });
    expect(text(renderBody(cbor, ContentFormat.SenmlCbor, false).data)).toContain('"temp"');
    const json = Buffer.from('{"a":[1,2]}');
    expect(renderBody(json, ContentFormat.Json, false)).toEqual({ data: json, rendered: false });
    expect(renderBody(json, ContentFormat.Json, true)).toEqual({ data: '{\n  "a": [\n    1,\n    2\n  ]\n}\n', rendered: true });
    const links = Buffer.from('</a>;rt="x";ct=0,</b>;obs');
    expect(renderBody(links, ContentFormat.LinkFormat, true).data).toBe('</a>;rt=x;ct=0\n</b>;obs\n');
    expect(renderBody(Buffer.from('{broken'), ContentFormat.Json, true)).toEqual({ data: Buffer.from('{broken'), rendered: false });
  });

  it('builds the --json record: code, type, options by name, payload decoded by Content-Format', () => {
    const response = createPdu({
      type: MessageType.ACK,
      code: ResponseCode.Content,
      messageId: 7,
      token: Uint8Array.of(0xab),
      options: [
        { number: OptionNumber.ContentFormat, value: encodeUint(ContentFormat.SenmlCbor) },
        { number: OptionNumber.ETag, value: Uint8Array.of(1, 2) },
        { number: OptionNumber.LocationPath, value: encodeString('a') },
        { number: OptionNumber.LocationPath, value: encodeString('b') },
      ],
      payload: cborPayload([new Map<number, unknown>([[0, 'temp'], [2, 21.5]])]),
    });
    expect(responseRecord(response, ContentFormat.SenmlCbor)).toEqual({
      code: '2.05',
      codeName: 'Content',
      type: 'ACK',
      messageId: 7,
      token: 'ab',
      options: { 'Content-Format': 'application/senml+cbor', ETag: '0x0102', 'Location-Path': ['a', 'b'] },
      size: response.payload.length,
      payloadFormat: 'cbor',
      payload: [{ '0': 'temp', '2': 21.5 }],
      diagnostic: '[{0: "temp", 2: 21.5}]',
    });
    const binary = createPdu({ code: ResponseCode.Content, payload: Uint8Array.of(0, 1, 2, 255) });
    expect(responseRecord(binary, ContentFormat.OctetStream)).toMatchObject({ payloadFormat: 'base64', payload: 'AAEC/w==' });
  });

  it('ends a body with a newline on a terminal only when it has none, and -w adds one as coap-client does (issue 16 #13)', () => {
    const raw = (value: string) => ({ data: Buffer.from(value), rendered: false });
    // On a terminal the prompt must start on its own line.
    expect(bodyTerminator(raw('world'), { newline: false, terminal: true })).toBe('\n');
    expect(bodyTerminator(raw('world\n'), { newline: false, terminal: true })).toBe('');
    expect(bodyTerminator({ data: 'world', rendered: false }, { newline: false, terminal: true })).toBe('\n');
    expect(bodyTerminator(raw(''), { newline: false, terminal: true })).toBe('');
    // A pipe gets the server's bytes, untouched.
    expect(bodyTerminator(raw('world'), { newline: false, terminal: false })).toBe('');
    // -w: one newline after the body, wherever it goes (coap-client's add_nl), and the terminal adds no second one.
    expect(bodyTerminator(raw('world'), { newline: true, terminal: false })).toBe('\n');
    expect(bodyTerminator(raw('world\n'), { newline: true, terminal: false })).toBe('\n');
    expect(bodyTerminator(raw('world'), { newline: true, terminal: true })).toBe('\n');
    // A rendering (diagnostic notation, pretty JSON) already ends its last line.
    expect(bodyTerminator({ data: '{"a": 1}\n', rendered: true }, { newline: true, terminal: true })).toBe('');
  });

  it('builds the --json error record: code, name, message and the typed fields (issue 16 #13)', () => {
    const peer = { host: '127.0.0.1', port: 5683 };
    expect(errorRecord(new CoapTimeoutError('no acknowledgement after 5 transmissions', { peer, token: 'ab', messageId: 7, attempts: 5, elapsed: 45000 }))).toEqual({
      error: {
        code: 'COAP_ERR_TIMEOUT',
        name: 'CoapTimeoutError',
        message: 'no acknowledgement after 5 transmissions',
        peer,
        token: 'ab',
        messageId: 7,
        attempts: 5,
        elapsed: 45000,
      },
    });
    expect(errorRecord(new CoapResetError(undefined, { peer, messageId: 9 }))).toEqual({
      error: { code: 'COAP_ERR_RESET', name: 'CoapResetError', message: 'the peer reset the exchange', peer, messageId: 9 },
    });
    const dtls = errorRecord(new CoapDtlsError('bad-psk', 'DTLS handshake failed', { peer, cause: new Error('inner') }));
    expect(dtls).toEqual({ error: { code: 'COAP_ERR_DTLS', name: 'CoapDtlsError', message: 'DTLS handshake failed', reason: 'bad-psk', peer } });
    expect(errorRecord(new UsageError('no URI given'))).toEqual({ error: { code: 'COAP_ERR_ARGUMENT', name: 'UsageError', message: 'no URI given' } });
    expect(errorRecord(new Error('boom'))).toEqual({ error: { code: 'COAP_ERR_UNEXPECTED', name: 'Error', message: 'boom' } });
    expect(errorRecord('odd')).toEqual({ error: { code: 'COAP_ERR_UNEXPECTED', name: 'Error', message: 'odd' } });
    for (const record of [dtls, errorRecord(new Error('x'))]) expect(JSON.stringify(record)).not.toMatch(/stack|inner|    at /);
  });

  it('writes error lines and PDU trace lines', () => {
    expect(errorLine(createPdu({ code: ResponseCode.NotFound }), undefined)).toBe('4.04 Not Found');
    expect(errorLine(createPdu({ code: ResponseCode.BadRequest, payload: Buffer.from('bad query\n') }), 0)).toBe('4.00 Bad Request: bad query');
    const request = createPdu({
      type: MessageType.CON,
      code: 1,
      messageId: 4660,
      token: Uint8Array.of(1, 0xab),
      options: [
        { number: OptionNumber.UriPath, value: encodeString('sensors') },
        { number: OptionNumber.Observe, value: encodeUint(0) },
      ],
    });
    expect(pduLine('sent', encodeDatagram(request))).toBe('-> CON GET mid=4660 token=01ab [Observe:0, Uri-Path:sensors]');
    const reply = createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: 4660, payload: Buffer.from('hi') });
    expect(pduLine('received', encodeDatagram(reply))).toBe('<- ACK 2.05 Content mid=4660 :: 2 B "hi"');
    expect(pduLine('received', Uint8Array.of(0x80))).toMatch(/^<- 1 B not CoAP \(invalid CoAP message/);
    // 'datagram' is the default.
    expect(pduLine('sent', encodeDatagram(request), 'datagram')).toBe('-> CON GET mid=4660 token=01ab [Observe:0, Uri-Path:sensors]');
  });

  it('traces RFC 8323 stream frames without type and message ID', () => {
    const request = createPdu({
      code: Method.GET,
      token: Uint8Array.of(1, 0xab),
      options: [
        { number: OptionNumber.UriPath, value: encodeString('sensors') },
        { number: OptionNumber.Observe, value: encodeUint(0) },
      ],
    });
    expect(pduLine('sent', encodeStreamFrame(request), 'stream')).toBe('-> GET token=01ab [Observe:0, Uri-Path:sensors]');
    const reply = createPdu({
      code: ResponseCode.Content,
      token: Uint8Array.of(1, 0xab),
      options: [{ number: OptionNumber.ContentFormat, value: encodeUint(ContentFormat.TextPlain) }],
      payload: Buffer.from('world'),
    });
    expect(pduLine('received', encodeStreamFrame(reply), 'stream')).toBe('<- 2.05 Content token=01ab [Content-Format:text/plain;charset=utf-8] :: 5 B "world"');
    // A body past 12 bytes takes the extended length (RFC 8323 §3.2): still one frame, one line.
    const large = createPdu({ code: ResponseCode.Content, payload: new Uint8Array(300).fill(0xff) });
    expect(pduLine('received', encodeStreamFrame(large), 'stream')).toBe(`<- 2.05 Content :: 300 B 0x${'ff'.repeat(24)}...`);
  });

  it('traces signaling messages by name, their options in the signal\'s scope and flags by name alone', () => {
    const csm = createPdu({
      code: SignalCode.CSM,
      options: [
        { number: 2, value: encodeUint(65536) },
        { number: 4, value: new Uint8Array(0) },
      ],
    });
    expect(pduLine('sent', encodeStreamFrame(csm), 'stream')).toBe('-> CSM [Max-Message-Size:65536, Block-Wise-Transfer]');
    expect(pduLine('received', encodeStreamFrame(createPdu({ code: SignalCode.Ping, token: Uint8Array.of(7), options: [{ number: 2, value: new Uint8Array(0) }] })), 'stream')).toBe(
      '<- Ping token=07 [Custody]',
    );
    expect(pduLine('sent', encodeStreamFrame(createPdu({ code: SignalCode.Pong })), 'stream')).toBe('-> Pong');
    const release = createPdu({
      code: SignalCode.Release,
      options: [
        { number: 2, value: encodeString('coap+tcp://other:5683') },
        { number: 4, value: encodeUint(30) },
      ],
    });
    expect(pduLine('received', encodeStreamFrame(release), 'stream')).toBe('<- Release [Alternative-Address:coap+tcp://other:5683, Hold-Off:30]');
    const abort = createPdu({ code: SignalCode.Abort, options: [{ number: 2, value: encodeUint(2) }], payload: Buffer.from('bad CSM') });
    expect(pduLine('received', encodeStreamFrame(abort), 'stream')).toBe('<- Abort [Bad-CSM-Option:2] :: 7 B "bad CSM"');
    // An unknown signal code, dotted; its option by number.
    expect(pduLine('received', encodeStreamFrame(createPdu({ code: (7 << 5) | 9, options: [{ number: 8, value: Uint8Array.of(1) }] })), 'stream')).toBe('<- 7.09 [Option 8:0x01]');
  });

  it('traces WebSocket messages like stream frames, and says when a frame is not CoAP', () => {
    const request = createPdu({ code: Method.PUT, token: Uint8Array.of(0xca, 0xfe), options: [{ number: OptionNumber.UriPath, value: encodeString('lamp') }], payload: Buffer.from('on') });
    expect(pduLine('sent', encodeWsMessage(request), 'websocket')).toBe('-> PUT token=cafe [Uri-Path:lamp] :: 2 B "on"');
    expect(pduLine('received', encodeWsMessage(createPdu({ code: SignalCode.CSM, options: [{ number: 2, value: encodeUint(1152) }] })), 'websocket')).toBe(
      '<- CSM [Max-Message-Size:1152]',
    );
    // A truncated stream frame, and a WebSocket message with a Len field.
    expect(pduLine('received', Uint8Array.of(0x50, 0x01), 'stream')).toMatch(/^<- 2 B not CoAP \(.*truncated/);
    expect(pduLine('received', Uint8Array.of(0x10, 0x01, 0xff), 'websocket')).toMatch(/^<- 3 B not CoAP \(.*Len field is 1/);
  });

  it('leaves type and message ID out of the --json record of a coap+tcp:// response', () => {
    const response = createPdu({ code: ResponseCode.Content, token: Uint8Array.of(0xab), payload: Buffer.from('hi') });
    const record = responseRecord(response, ContentFormat.TextPlain, { reliable: true });
    expect(record).toEqual({ code: '2.05', codeName: 'Content', token: 'ab', options: {}, size: 2, payloadFormat: 'text', payload: 'hi' });
    expect(responseRecord(response, ContentFormat.TextPlain)).toHaveProperty('messageId');
  });
});

describe('the built rxcoap CLI against the test peer', () => {
  let peer: TestPeer;
  const big = randomBytes(20_000);
  let stored: Uint8Array = new Uint8Array(0);
  let counter = 0;
  const requests: ReceivedPdu[] = [];
  const onRequest = (pdu: ReceivedPdu): void => void requests.push(pdu);

  beforeAll(async () => {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    peer = await startTestPeer({
      resources: [
        { path: '/hello', contentFormat: ContentFormat.TextPlain, get: 'world' },
        { path: '/json', contentFormat: ContentFormat.Json, get: '{"on":true,"level":[1,2]}' },
        { path: '/cbor', contentFormat: ContentFormat.Cbor, get: cborPayload({ temp: 21.5, ok: true }) },
        { path: '/big', contentFormat: ContentFormat.OctetStream, get: big },
        { path: '/counter', observable: true, notifyEvery: 200, contentFormat: ContentFormat.TextPlain, get: () => String(counter++) },
        {
          path: '/store',
          get: () => stored,
          put: (request) => {
            stored = request.payload;
            return { code: ResponseCode.Changed };
          },
        },
        { path: '/teapot', get: () => ({ code: ResponseCode.BadRequest, payload: 'no coffee here' }) },
      ],
    });
    peer.on('request', onRequest);
  });

  afterAll(async () => {
    await peer?.close();
  });

  beforeEach(() => {
    requests.length = 0;
  });

  it('GETs a resource: body on stdout, nothing on stderr, exit 0', async () => {
    const result = await runCli([peer.uri('/hello')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout.toString()).toBe('world');
    expect((await runCli(['-w', peer.uri('/hello')])).stdout.toString()).toBe('world\n');
  });

  it('gives exit 1 and "4.04 Not Found" on stderr for a missing resource, and the diagnostic payload of an error', async () => {
    const missing = await runCli([peer.uri('/nothing-here')]);
    expect(missing.status).toBe(1);
    expect(missing.stdout.length).toBe(0);
    expect(missing.stderr).toMatch(/^4\.04 Not Found/);
    const teapot = await runCli([peer.uri('/teapot')]);
    expect(teapot).toMatchObject({ status: 1, stderr: '4.00 Bad Request: no coffee here\n' });
  });

  it('prints CBOR in diagnostic notation, and -o - writes the raw bytes', async () => {
    expect((await runCli([peer.uri('/cbor')])).stdout.toString()).toBe('{"temp": 21.5, "ok": true}\n');
    expect((await runCli(['-o', '-', peer.uri('/cbor')])).stdout).toEqual(Buffer.from(cborPayload({ temp: 21.5, ok: true })));
  });

  it('--json writes one parseable object per response', async () => {
    const result = await runCli(['--json', peer.uri('/json')]);
    expect(result.status).toBe(0);
    const lines = result.stdout.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ code: '2.05', type: 'ACK', options: { 'Content-Format': 'application/json' }, payloadFormat: 'json', payload: { on: true, level: [1, 2] } });
    const core = JSON.parse((await runCli(['--json', peer.uri('/.well-known/core')])).stdout.toString());
    expect(core.payload).toEqual(expect.arrayContaining([{ href: '/hello', ct: '0' }, { href: '/counter', obs: true, ct: '0' }]));
  });

  it('PUTs a 20 KB file with -f and GETs it back byte-identical with -o (block-wise both ways)', async () => {
    const input = tmpFile('up.bin');
    const output = tmpFile('down.bin');
    fs.writeFileSync(input, big);
    const put = await runCli(['-m', 'put', '-f', input, peer.uri('/store')]);
    expect(put).toMatchObject({ status: 0, stderr: '' });
    expect(Buffer.from(stored)).toEqual(big);
    expect(requests.filter((request) => getOption(request, OptionNumber.Block1) !== undefined).length).toBeGreaterThan(1);
    const get = await runCli(['-o', output, peer.uri('/store')]);
    expect(get).toMatchObject({ status: 0, stderr: '' });
    expect(fs.readFileSync(output)).toEqual(big);
  });

  it('reads the body from stdin with -f -', async () => {
    const result = await runCli(['-m', 'put', '-f', '-', peer.uri('/store')], { input: Buffer.from('from stdin') });
    expect(result.status).toBe(0);
    expect(Buffer.from(stored).toString()).toBe('from stdin');
  });

  it('sends what -N, -T, -O, -H, -A, -t and -U ask for', async () => {
    const result = await runCli(['-m', 'put', '-N', '-T', '0xc0ffee', '-O', '65000,0x0102', '-H', '5', '-A', 'cbor', '-t', 'text', '-U', '-e', 'x', peer.uri('/store')]);
    expect(result.status).toBe(0);
    const request = requests.at(-1) as ReceivedPdu;
    expect(request.type).toBe(MessageType.NON);
    expect(tokenToHex(request.token)).toBe('c0ffee');
    expect(getOption(request, 65000)).toEqual(Uint8Array.of(1, 2));
    expect(decodeUint(getOption(request, OptionNumber.HopLimit) as Uint8Array)).toBe(5);
    expect(decodeUint(getOption(request, OptionNumber.Accept) as Uint8Array)).toBe(ContentFormat.Cbor);
    expect(decodeUint(getOption(request, OptionNumber.ContentFormat) as Uint8Array)).toBe(ContentFormat.TextPlain);
    expect(getOption(request, OptionNumber.UriPort)).toBeUndefined();
    // Without -U the non-default port is sent (RFC 7252 §6.4).
    await runCli([peer.uri('/hello')]);
    expect(getOption(requests.at(-1) as ReceivedPdu, OptionNumber.UriPort)).toEqual(encodeUint(peer.address.port));
  });

  it('-T cafe sends the token 63616665, its characters, as coap-client reads it (issue 16 #13)', async () => {
    expect((await runCli(['-T', 'cafe', peer.uri('/hello')])).status).toBe(0);
    expect(tokenToHex((requests.at(-1) as ReceivedPdu).token)).toBe('63616665');
  });

  it('-b sets the block size of a download and still gets the whole body', async () => {
    const output = tmpFile('big.bin');
    const result = await runCli(['-b', '64', '-o', output, peer.uri('/big')]);
    expect(result.status).toBe(0);
    expect(fs.readFileSync(output)).toEqual(big);
    const sizes = requests.map((request) => getOption(request, OptionNumber.Block2)).filter((value) => value !== undefined).map((value) => decodeBlock(value as Uint8Array).szx);
    expect(sizes.length).toBeGreaterThan(100);
    expect(new Set(sizes)).toEqual(new Set([2])); // SZX 2 = 64 bytes
  });

  it('-b 4,256 fetches block 4 alone (random access), prints it and exits 0 (issue 16 #13)', async () => {
    const result = await runCli(['-b', '4,256', peer.uri('/big')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toEqual(big.subarray(1024, 1280));
    const asked = requests.map((request) => getOption(request, OptionNumber.Block2)).filter((value) => value !== undefined);
    expect(asked.map((value) => decodeBlock(value as Uint8Array))).toEqual([{ num: 4, more: false, szx: 4 }]);
    // The last block (M=0) too, and -o writes it byte for byte.
    const output = tmpFile('last.bin');
    expect(await runCli(['-b', '78,256', '-o', output, peer.uri('/big')])).toMatchObject({ status: 0, stderr: '' });
    expect(fs.readFileSync(output)).toEqual(big.subarray(78 * 256));
    // --json: the block's record, Block2 option included.
    const json = JSON.parse((await runCli(['--json', '-b', '4,256', peer.uri('/big')])).stdout.toString());
    expect(json).toMatchObject({ code: '2.05', size: 256, options: { Block2: '4/1/256' }, payloadFormat: 'base64' });
  });

  it('stops quietly with exit 0 when the reader of stdout goes away (| head): no EPIPE trace, observation cancelled (issue 16 #13)', async () => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, '-s', '10', '-w', peer.uri('/counter')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // Like `head -1`: read the first line, then close the pipe.
    child.stdout.once('data', () => child.stdout.destroy());
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(killer);
    expect(Buffer.concat(stderr).toString()).toBe('');
    expect(status).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    // The observation was cancelled on the way out, not left to time out on the server.
    for (let i = 0; i < 20 && peer.observerCount('/counter') > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(peer.observerCount('/counter')).toBe(0);
  });

  it('reports an -o file it cannot write in one line, exit 2, no stack trace (issue 16 #13)', async () => {
    const result = await runCli(['-o', '/nonexistent/dir/out.bin', peer.uri('/hello')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe("rxcoap: -o: cannot write /nonexistent/dir/out.bin: ENOENT\nTry 'rxcoap --help' for more information.\n");
  });

  it('--json writes one error record on stdout for a reset, and for -B giving up (issue 16 #13)', async () => {
    peer.setFault({ path: '/hello', reset: true });
    try {
      const reset = await runCli(['--json', peer.uri('/hello')]);
      expect(reset.status).toBe(1);
      expect(reset.stderr).toMatch(/^rxcoap: .*(RST|reset).*\n$/);
      const lines = reset.stdout.toString().trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0])).toEqual({
        error: { code: 'COAP_ERR_RESET', name: 'CoapResetError', message: expect.any(String), peer: { host: '127.0.0.1', port: peer.address.port }, messageId: expect.any(Number) },
      });
    } finally {
      peer.setFault(null);
    }
    peer.setFault({ path: '/hello', drop: 1 });
    try {
      const gaveUp = await runCli(['--json', '-B', '1', peer.uri('/hello')]);
      expect(gaveUp.status).toBe(1);
      expect(gaveUp.stderr).toContain('no answer');
      expect(JSON.parse(gaveUp.stdout.toString())).toEqual({
        error: { code: 'COAP_ERR_TIMEOUT', name: 'BreakTimeout', message: expect.stringContaining('within 1 s (-B)'), uri: peer.uri('/hello'), elapsed: 1000 },
      });
    } finally {
      peer.setFault(null);
    }
  });

  it('--json with bad arguments: exit 2, the reason on stderr and an error record on stdout (issue 16 #13)', async () => {
    const result = await runCli(['--json', '-m', 'brew', 'coap://127.0.0.1/x']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("rxcoap: -m: unknown method 'brew'");
    expect(JSON.parse(result.stdout.toString())).toEqual({ error: { code: 'COAP_ERR_ARGUMENT', name: 'UsageError', message: "-m: unknown method 'brew' (get, put, post, delete, fetch, patch, ipatch)" } });
  });

  it('-s observes, prints each notification, exits on time and deregisters', async () => {
    const result = await runCli(['-s', '2', '-w', peer.uri('/counter')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    const values = result.stdout.toString().trimEnd().split('\n').map(Number);
    expect(values.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]);
    expect(result.elapsed).toBeGreaterThanOrEqual(2000);
    expect(result.elapsed).toBeLessThan(6000);
    expect(peer.observerCount('/counter')).toBe(0);
  });

  it('-s with --json writes one line per notification', async () => {
    const result = await runCli(['-s', '1', '--json', peer.uri('/counter')]);
    const records = result.stdout.toString().trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(records.length).toBeGreaterThanOrEqual(3);
    for (const record of records) expect(record).toMatchObject({ code: '2.05', payloadFormat: 'text', options: { Observe: expect.any(Number) } });
  });

  it('-v 7 prints every PDU sent and received as one line', async () => {
    const result = await runCli(['-v', '7', peer.uri('/hello')]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/^-> CON GET mid=\d+ token=[0-9a-f]{16} \[Uri-Port:\d+, Uri-Path:hello.*\]$/m);
    expect(result.stderr).toMatch(/^<- ACK 2\.05 Content mid=\d+ token=[0-9a-f]{16} \[Content-Format:text\/plain;charset=utf-8.*\] :: 5 B "world"$/m);
    expect((await runCli([peer.uri('/hello')])).stderr).toBe('');
  });

  it('-B gives up when nothing answers: exit 1 with a message', async () => {
    peer.setFault({ path: '/hello', drop: 1 });
    try {
      const result = await runCli(['-B', '1', peer.uri('/hello')]);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('no answer');
      expect(result.elapsed).toBeLessThan(5000);
    } finally {
      peer.setFault(null);
    }
  });

  it('draws no progress bar when stderr is not a TTY', async () => {
    const result = await runCli(['-o', tmpFile('big.bin'), peer.uri('/big')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
  });

  describeWhen('on a terminal', noTty, () => {
    it('draws a progress bar on a TTY, and pretty-prints JSON there', async () => {
      const download = await runCliOnTty(['-o', tmpFile('big.bin'), peer.uri('/big')]);
      expect(download.status).toBe(0);
      expect(download.output).toContain('100%');
      expect(download.output).toContain('/big [');
      const json = await runCliOnTty([peer.uri('/json')]);
      expect(json.output.replace(/\r\n/g, '\n')).toContain('{\n  "on": true,\n  "level": [\n    1,\n    2\n  ]\n}');
    });

    it('ends a body with a newline on a terminal, and -w gives one, not two (issue 16 #13)', async () => {
      expect(await runCliOnTty([peer.uri('/hello')])).toEqual({ status: 0, output: 'world\r\n' });
      expect(await runCliOnTty(['-w', peer.uri('/hello')])).toEqual({ status: 0, output: 'world\r\n' });
    });
  });

  it.each([
    [['-Z', 'coap://127.0.0.1/'], "unknown option '-Z'"],
    [['-m', 'brew', 'coap://127.0.0.1/'], "-m: unknown method 'brew'"],
    [[], 'no URI given'],
    [['-C', '/nonexistent/ca.pem', 'coaps://127.0.0.1/x'], '-C: cannot read /nonexistent/ca.pem: ENOENT'],
    [['-f', '/nonexistent/file', '-m', 'put', 'coap://127.0.0.1/x'], '-f: cannot read /nonexistent/file: ENOENT'],
    [['-C', '/nonexistent/ca.pem', 'coaps+tcp://127.0.0.1/x'], '-C: cannot read /nonexistent/ca.pem: ENOENT'],
    [['-c', '/nonexistent/me.pem', 'coaps+tcp://127.0.0.1/x'], '-c: cannot read /nonexistent/me.pem: ENOENT'],
    [['-R', '/nonexistent/roots', 'coaps+tcp://127.0.0.1/x'], '-R: cannot read /nonexistent/roots: ENOENT'],
  ])('exits 2 with a clear message for %j', async (argv, message) => {
    const result = await runCli(argv);
    expect(result.status).toBe(2);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toContain(`rxcoap: ${message}`);
    expect(result.stderr).toContain("Try 'rxcoap --help'");
  });

  it('--help prints the usage and exits 0', async () => {
    const result = await runCli(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout.toString()).toMatch(/^Usage: rxcoap \[options\] URI/);
    for (const letter of ['-m', '-e', '-f', '-o', '-s', '-b', '-t', '-A', '-O', '-T', '-N', '-B', '-a', '-p', '-k', '-u', '-h', '-c', '-j', '-C', '-R', '-n', '-H', '-U', '-v', '-w', '--json']) {
      expect(result.stdout.toString()).toContain(`${letter}`);
    }
  });
});

/**
 * RFC 8323 over the test peer's TCP and TLS listeners. The TLS listener takes the PSK and the certificates of
 * spec/fixtures/test-peer-pki (server `CN=localhost`, SAN 127.0.0.1, signed by `ca.pem`); a second peer demands a
 * client certificate. These need the tcp and tls transports registered in src/node.ts.
 */
describe('the built rxcoap CLI over coap+tcp:// and coaps+tcp:// against the test peer', () => {
  const identity = 'cli-client';
  const key = 'rxcoap-cli-tls-secret';
  const serverCert = { cert: fs.readFileSync(pkiFile('server.pem')), key: fs.readFileSync(pkiFile('server-key.pem')) };
  let peer: TestPeer;
  let mutual: TestPeer;
  let counter = 0;
  const requests: ReceivedPdu[] = [];
  const onRequest = (pdu: ReceivedPdu): void => void requests.push(pdu);
  const resources = [
    { path: '/hello', contentFormat: ContentFormat.TextPlain, get: 'world' },
    { path: '/counter', observable: true, notifyEvery: 200, contentFormat: ContentFormat.TextPlain, get: () => String(counter++) },
  ];

  beforeAll(async () => {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    peer = await startTestPeer({ transports: ['udp', 'tcp', 'tls'], tls: { psk: { identity, key }, cert: serverCert }, resources });
    peer.on('request', onRequest);
    mutual = await startTestPeer({ transports: ['tls'], tls: { cert: { ...serverCert, ca: fs.readFileSync(pkiFile('ca.pem')), requestCert: true } }, resources });
  });

  afterAll(async () => {
    await peer?.close();
    await mutual?.close();
  });

  beforeEach(() => {
    requests.length = 0;
  });

  const tcp = (target: string): string => peer.uri(target, 'tcp');
  const tls = (target: string): string => peer.uri(target, 'tls');

  it('GETs over coap+tcp://: body on stdout, nothing on stderr, exit 0', async () => {
    expect(tcp('/hello')).toMatch(/^coap\+tcp:\/\/127\.0\.0\.1:\d+\/hello$/);
    const result = await runCli([tcp('/hello')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout.toString()).toBe('world');
    expect(requests.map((request) => request.transport)).toEqual(['tcp']);
  });

  it('-s 2 observes over coap+tcp://, prints each notification, exits on time and deregisters', async () => {
    const result = await runCli(['-s', '2', '-w', tcp('/counter')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    const values = result.stdout.toString().trimEnd().split('\n').map(Number);
    expect(values.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]);
    expect(result.elapsed).toBeGreaterThanOrEqual(2000);
    expect(result.elapsed).toBeLessThan(6000);
    for (let i = 0; i < 20 && peer.observerCount('/counter') > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(peer.observerCount('/counter')).toBe(0);
  });

  it('-v 7 traces CSMs and frames over coap+tcp:// without type or message ID', async () => {
    const result = await runCli(['-v', '7', tcp('/hello')]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/^-> CSM \[Max-Message-Size:\d+, Block-Wise-Transfer\]$/m);
    // The test peer's CSM: Max-Message-Size 1152 and Block-Wise-Transfer by default.
    expect(result.stderr).toMatch(/^<- CSM \[Max-Message-Size:1152, Block-Wise-Transfer\]$/m);
    expect(result.stderr).toMatch(/^-> GET token=[0-9a-f]{16} \[Uri-Port:\d+, Uri-Path:hello[^\]]*\]$/m);
    expect(result.stderr).toMatch(/^<- 2\.05 Content token=[0-9a-f]{16} \[Content-Format:text\/plain;charset=utf-8[^\]]*\] :: 5 B "world"$/m);
    expect(result.stderr).not.toMatch(/mid=|not CoAP/);
  });

  it('--json over coap+tcp:// writes a record without type or message ID', async () => {
    const result = await runCli(['--json', tcp('/hello')]);
    expect(result.status).toBe(0);
    const record = JSON.parse(result.stdout.toString());
    expect(record).toMatchObject({ code: '2.05', payloadFormat: 'text', payload: 'world' });
    expect(record).not.toHaveProperty('type');
    expect(record).not.toHaveProperty('messageId');
  });

  it('GETs over coaps+tcp:// with a PSK (-u, -k), and never prints the key', async () => {
    const result = await runCli(['-v', '7', '-u', identity, '-k', key, tls('/hello')]);
    expect(result.status).toBe(0);
    expect(result.stdout.toString()).toBe('world');
    expect(result.stderr).toMatch(/^<- 2\.05 Content token=/m);
    expect(result.stderr + result.stdout.toString()).not.toContain(key);
    expect(requests.map((request) => request.transport)).toEqual(['tls']);
  });

  it('fails a wrong PSK with exit 1 and one line, without printing the key', async () => {
    const result = await runCli(['-B', '10', '-u', identity, '-k', 'not-the-key', tls('/hello')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^rxcoap: TLS with \S+ failed: [^\n]+\n$/);
    expect(result.stderr + result.stdout.toString()).not.toContain('not-the-key');
  });

  it('verifies the server with -C cafile', async () => {
    const result = await runCli(['-C', pkiFile('ca.pem'), tls('/hello')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout.toString()).toBe('world');
  });

  it('verifies the server against -R trust_casfile, a file or a directory of CAs', async () => {
    expect(await runCli(['-R', pkiFile('ca.pem'), tls('/hello')])).toMatchObject({ status: 0, stderr: '' });
    expect(await runCli(['-R', PKI_DIR, tls('/hello')])).toMatchObject({ status: 0, stderr: '' });
  });

  it('fails a server whose CA is not -C\'s: exit 1 and a one-line reason', async () => {
    const result = await runCli(['-C', pkiFile('other-ca.pem'), tls('/hello')]);
    expect(result.status).toBe(1);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toMatch(/^rxcoap: TLS with \S+ failed: [^\n]+\n$/);
  });

  it('--json writes one COAP_ERR_TLS record for an untrusted server', async () => {
    const result = await runCli(['--json', '-C', pkiFile('other-ca.pem'), tls('/hello')]);
    expect(result.status).toBe(1);
    const lines = result.stdout.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toEqual({
      error: expect.objectContaining({ code: 'COAP_ERR_TLS', name: 'CoapTlsError', message: expect.any(String), reason: expect.any(String) }),
    });
    expect(lines[0]).not.toMatch(/BEGIN|stack|    at /);
  });

  it('checks coaps+tcp:// without credentials against the system\'s trust store: the test CA is not in it', async () => {
    const result = await runCli(['--json', tls('/hello')]);
    expect(result.status).toBe(1);
    expect(JSON.parse(result.stdout.toString()).error.code).toBe('COAP_ERR_TLS');
  });

  it('-n connects without checking the server\'s certificate, and warns at -v 4', async () => {
    const result = await runCli(['-n', tls('/hello')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout.toString()).toBe('world');
    const loud = await runCli(['-n', '-v', '4', tls('/hello')]);
    expect(loud.status).toBe(0);
    expect(loud.stderr).toMatch(/^rxcoap: warning: .*not verified.*$/m);
  });

  it('authenticates with -c certfile -j keyfile -C cafile to a server that demands a client certificate', async () => {
    const result = await runCli(['-c', pkiFile('client.pem'), '-j', pkiFile('client-key.pem'), '-C', pkiFile('ca.pem'), mutual.uri('/hello')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout.toString()).toBe('world');
    // coap-client -c: without -j the key is read from the certificate's own PEM file.
    const both = tmpFile('client-and-key.pem');
    fs.writeFileSync(both, Buffer.concat([fs.readFileSync(pkiFile('client.pem')), fs.readFileSync(pkiFile('client-key.pem'))]));
    expect(await runCli(['-c', both, '-C', pkiFile('ca.pem'), mutual.uri('/hello')])).toMatchObject({ status: 0, stderr: '' });
  });

  it('fails without a client certificate, or with one the server does not trust: exit 1', async () => {
    const none = await runCli(['-B', '10', '-C', pkiFile('ca.pem'), mutual.uri('/hello')]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^rxcoap: [^\n]+\n$/);
    // TLS 1.3 may report the missing certificate as the server's alert (then it names the CLI's flag) or as the connection closing.
    if (/client certificate/.test(none.stderr)) expect(none.stderr).toContain('give -c certfile (and -j keyfile)');
    const other = await runCli(['-B', '10', '-c', pkiFile('other-client.pem'), '-j', pkiFile('other-client-key.pem'), '-C', pkiFile('ca.pem'), mutual.uri('/hello')]);
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/^rxcoap: [^\n]+\n$/);
  });

  it('names the flag when a -C file holds no certificate: exit 2', async () => {
    const result = await runCli(['-C', pkiFile('README.md'), tls('/hello')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('rxcoap: -C holds no readable PEM or DER certificate');
  });
});

describeInterop('the built rxcoap CLI against libcoap coap-server-notls', 'notls', () => {
  let server: LibcoapServer;

  beforeAll(async () => {
    server = await startLibcoapServer({ flavor: 'notls', args: ['-d', '10'] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  const uri = (target: string): string => `coap://127.0.0.1:${server.port}${target}`;
  // coap-server serves CoAP over TCP on the port of UDP.
  const tcpUri = (target: string): string => `coap+tcp://127.0.0.1:${server.port}${target}`;

  it('GETs / over coap+tcp://, tracing both CSMs at -v 7', async () => {
    const result = await runCli(['-v', '7', tcpUri('/')]);
    expect(result.status).toBe(0);
    expect(result.stdout.toString()).toContain('libcoap');
    expect(result.stderr).toMatch(/^-> CSM \[Max-Message-Size:\d+, Block-Wise-Transfer\]$/m);
    expect(result.stderr).toMatch(/^<- CSM \[.*Max-Message-Size:\d+.*\]$/m);
    expect(result.stderr).toMatch(/^-> GET token=[0-9a-f]+/m);
    expect(result.stderr).toMatch(/^<- 2\.05 Content token=[0-9a-f]+/m);
  });

  it('PUTs a 20 KB file and GETs it back byte-identical over coap+tcp://', async () => {
    const content = randomBytes(20 * 1024);
    const input = tmpFile('tcp-up.bin');
    const output = tmpFile('tcp-down.bin');
    fs.writeFileSync(input, content);
    expect(await runCli(['-m', 'put', '-f', input, tcpUri('/tcp-upload')])).toMatchObject({ status: 0, stderr: '' });
    expect(await runCli(['-o', output, tcpUri('/tcp-upload')])).toMatchObject({ status: 0, stderr: '' });
    expect(fs.readFileSync(output)).toEqual(content);
  });

  it('-s 3 observes /time over coap+tcp:// and exits on time', async () => {
    const result = await runCli(['-s', '3', '-w', tcpUri('/time')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout.toString().trimEnd().split('\n').length).toBeGreaterThanOrEqual(3);
    expect(result.elapsed).toBeGreaterThanOrEqual(3000);
    expect(result.elapsed).toBeLessThan(7000);
  });

  it('4.04 over coap+tcp:// gives exit 1 and the code on stderr', async () => {
    const result = await runCli([tcpUri('/no/such/resource')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^4\.04 Not Found/);
  });

  it('PUTs a 20 KB file with -f and GETs it back byte-identical with -o', async () => {
    const content = randomBytes(20 * 1024);
    const input = tmpFile('up.bin');
    const output = tmpFile('down.bin');
    fs.writeFileSync(input, content);
    const put = await runCli(['-m', 'put', '-f', input, uri('/upload')]);
    expect(put).toMatchObject({ status: 0, stderr: '' });
    const get = await runCli(['-o', output, uri('/upload')]);
    expect(get).toMatchObject({ status: 0, stderr: '' });
    expect(fs.readFileSync(output)).toEqual(content);
  });

  it('-b 4,256 prints block 4 alone, as coap-client does (issue 16 #13)', async () => {
    const content = randomBytes(3000);
    const input = tmpFile('blocks.bin');
    fs.writeFileSync(input, content);
    expect(await runCli(['-m', 'put', '-f', input, uri('/blocks')])).toMatchObject({ status: 0, stderr: '' });
    const result = await runCli(['-b', '4,256', uri('/blocks')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toEqual(content.subarray(1024, 1280));
  });

  it('-s observes /time and exits on time', async () => {
    const result = await runCli(['-s', '3', '-w', uri('/time')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout.toString().trimEnd().split('\n').length).toBeGreaterThanOrEqual(3);
    expect(result.elapsed).toBeGreaterThanOrEqual(3000);
    expect(result.elapsed).toBeLessThan(7000);
  });

  it('4.04 gives exit 1 and the code on stderr', async () => {
    const result = await runCli([uri('/no/such/resource')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^4\.04 Not Found/);
  });
});

describeInterop('the built rxcoap CLI over DTLS-PSK against libcoap coap-server-openssl', 'openssl', () => {
  const key = 'rxcoap-cli-secret';
  let server: LibcoapServer;

  beforeAll(async () => {
    server = await startLibcoapServer({ flavor: 'openssl', args: ['-k', key] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('GETs over coaps:// with -u and -k, and never prints the key', async () => {
    const result = await runCli(['-v', '7', '-u', 'cli-client', '-k', key, `coaps://127.0.0.1:${server.securePort}/`]);
    expect(result.stderr).not.toContain(key);
    expect(result.stdout.toString()).not.toContain(key);
    expect(result.status).toBe(0);
    expect(result.stdout.toString()).toContain('libcoap');
  });

  it('GETs over coaps+tcp:// (TLS-PSK, on the secure port) with -u and -k, and never prints the key', async () => {
    const result = await runCli(['-v', '7', '-u', 'cli-client', '-k', key, `coaps+tcp://127.0.0.1:${server.securePort}/`]);
    expect(result.stderr + result.stdout.toString()).not.toContain(key);
    expect(result.status).toBe(0);
    expect(result.stdout.toString()).toContain('libcoap');
    expect(result.stderr).toMatch(/^<- CSM /m);
  });

  it('fails with exit 1 and a DTLS message for a wrong key, without printing it', async () => {
    const result = await runCli(['-B', '10', '-u', 'cli-client', '-k', 'not-the-key', `coaps://127.0.0.1:${server.securePort}/`]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/DTLS|no answer/);
    expect(result.stderr).not.toContain('not-the-key');
  });

  it('--json writes one error record for a DTLS failure, without the key (issue 16 #13)', async () => {
    const result = await runCli(['--json', '-B', '10', '-u', 'cli-client', '-k', 'not-the-key', `coaps://127.0.0.1:${server.securePort}/`]);
    expect(result.status).toBe(1);
    expect(result.stdout.toString()).not.toContain('not-the-key');
    const record = JSON.parse(result.stdout.toString());
    expect(['COAP_ERR_DTLS', 'COAP_ERR_TIMEOUT']).toContain(record.error.code);
    expect(record.error).toMatchObject({ name: expect.any(String), message: expect.any(String) });
  });
});

/**
 * RFC 8323 §4 over the test peer's WS and WSS listeners (the certificates of spec/fixtures/test-peer-pki, and a
 * PSK): the ws and wss transports registered in src/node.ts, through the built CLI.
 */
describe('the built rxcoap CLI over coap+ws:// and coaps+ws:// against the test peer', () => {
  const identity = 'cli-ws-client';
  const key = 'rxcoap-cli-wss-secret';
  let peer: TestPeer;
  const requests: ReceivedPdu[] = [];
  const onRequest = (pdu: ReceivedPdu): void => void requests.push(pdu);

  beforeAll(async () => {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    const cert = { cert: fs.readFileSync(pkiFile('server.pem')), key: fs.readFileSync(pkiFile('server-key.pem')) };
    peer = await startTestPeer({
      transports: ['ws', 'wss'],
      tls: { psk: { identity, key }, cert },
      resources: [{ path: '/hello', contentFormat: ContentFormat.TextPlain, get: 'world' }],
    });
    peer.on('request', onRequest);
  });

  afterAll(async () => {
    await peer?.close();
  });

  beforeEach(() => {
    requests.length = 0;
  });

  it('GETs over coap+ws:// and traces the CSMs and messages with -v 7', async () => {
    const result = await runCli(['-v', '7', peer.uri('/hello', 'ws')]);
    expect(result.status).toBe(0);
    expect(result.stdout.toString()).toBe('world');
    expect(result.stderr).toMatch(/^-> CSM \[Max-Message-Size:\d+, Block-Wise-Transfer\]$/m);
    expect(result.stderr).toMatch(/^<- CSM \[Max-Message-Size:1152, Block-Wise-Transfer\]$/m);
    expect(result.stderr).toMatch(/^<- 2\.05 Content token=[0-9a-f]{16} \[Content-Format:text\/plain;charset=utf-8[^\]]*\] :: 5 B "world"$/m);
    expect(result.stderr).not.toMatch(/mid=|not CoAP/);
    expect(requests.map((request) => request.transport)).toEqual(['ws']);
  });

  it('GETs over coaps+ws:// with -C cafile, and with a PSK (-u, -k) without printing the key', async () => {
    expect(await runCli(['-C', pkiFile('ca.pem'), peer.uri('/hello', 'wss')])).toMatchObject({ status: 0, stderr: '' });
    const psk = await runCli(['-u', identity, '-k', key, peer.uri('/hello', 'wss')]);
    expect(psk.status).toBe(0);
    expect(psk.stdout.toString()).toBe('world');
    expect(psk.stderr + psk.stdout.toString()).not.toContain(key);
    expect(requests.map((request) => request.transport)).toEqual(['wss', 'wss']);
  });

  it('fails a server whose CA is not -C\'s over coaps+ws://: exit 1 and a one-line reason', async () => {
    const result = await runCli(['-C', pkiFile('other-ca.pem'), peer.uri('/hello', 'wss')]);
    expect(result.status).toBe(1);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toMatch(/^rxcoap: TLS with \S+ failed: [^\n]+\n$/);
  });
});

describeUnixDgram('the built rxcoap CLI over Unix-domain sockets (coap://%2F..., coap+tcp://%2F...) against the test peer', () => {
  let peer: TestPeer;
  let dir: string;
  const requests: ReceivedPdu[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync('/tmp/rxu');
    peer = await startTestPeer({ transports: ['unix-dgram', 'unix-stream'], resources: [{ path: '/hello', get: 'world' }] });
    peer.on('request', (pdu) => requests.push(pdu));
  });

  afterAll(async () => {
    await peer?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    requests.length = 0;
  });

  it('GETs over a Unix datagram socket from a generated local path, and over a Unix stream socket', async () => {
    const datagram = await runCli([peer.uri('/hello', 'unix-dgram')]);
    expect(datagram).toMatchObject({ status: 0, stderr: '' });
    expect(datagram.stdout.toString()).toBe('world');
    const stream = await runCli([peer.uri('/hello', 'unix-stream')]);
    expect(stream).toMatchObject({ status: 0, stderr: '' });
    expect(stream.stdout.toString()).toBe('world');
    expect(requests.map((request) => request.transport)).toEqual(['unix-dgram', 'unix-stream']);
    const source = requests[0].source as { path: string };
    expect(source.path).toMatch(/^\/tmp\/rxc/);
    expect(fs.existsSync(source.path)).toBe(false); // removed when the CLI ended
  });

  it('binds -a /path as the local socket (libcoap\'s local_if), and removes it at the end', async () => {
    const local = path.join(dir, 'cli');
    const result = await runCli(['-a', local, peer.uri('/hello', 'unix-dgram')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(requests[0].source).toEqual({ path: local });
    expect(fs.existsSync(local)).toBe(false);
  });

  it('refuses a Unix socket path with a secure scheme', async () => {
    const result = await runCli([`coaps://${encodeURIComponent(peer.paths['unix-dgram']!)}/hello`]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/Unix socket path takes coap:\/\/ \(datagram\) or coap\+tcp:\/\/ \(stream\)/);
  });
});
