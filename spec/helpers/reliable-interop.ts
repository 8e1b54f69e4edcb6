/**
 * Interop cases shared by the CoAP-over-TCP and CoAP-over-TLS specs (RFC 8323) against libcoap's example server:
 * its resources (`/`, `/time`, dynamic resources with `-d`), Observe with deregistration (seen in the server's
 * `-v 7` log), 100 KiB block-wise both ways, Ping/Pong, many requests on one connection, and a server SIGKILLed
 * mid-observation and mid-request.
 *
 * The server must run with `-d 10 -v 7` and a large `outputLimit`: the checks read its log. Log texts, the same
 * in libcoap 4.3.1 and 4.3.4 unless noted: `removed subscription 0x... with token '<hex>'` (DEBG, on a GET with
 * Observe: 1); every PDU as `... c:<code> {<token hex>} [ <options> ]` (4.3.1 prints reliable PDUs as
 * `v:1 t:CON ...`, 4.3.4 as `v:Reliable ...`); Block1/Block2 as `Block1:<num>/<M or _>/<size or BERT>`.
 */
import { randomBytes } from 'node:crypto';
import { lastValueFrom, take, timeout, toArray, type Observable } from 'rxjs';
import type { ClientSession, CoapResponse } from '../../src/node';
import type { LibcoapServer } from './libcoap';

/** What a connection loss must surface within: ARCHITECTURE/issue 17 (“library errors within 5 s”). */
export const LOSS_DEADLINE = 5_000;

/** Bound on any single request of these specs, so a hang fails with a message instead of jest's timeout. */
export const REQUEST_LIMIT = 10_000;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** The start of libcoap's log line for a PDU of one code: 4.3.1 puts a message ID between code and token. */
const pduLine = (code: string): string => `c:${escape(code)}(?: i:[0-9a-f]{4})? `;

/** Every match of `pattern` (global) in `text`. */
function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(pattern)].length;
}

/** The error an Observable fails with, and after how long; fails the spec if it emits nothing but completes or hangs. */
export async function failureOf(source: Observable<unknown>, within: number): Promise<{ error: unknown; elapsed: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      reject(new Error(`did not fail within ${within} ms`));
    }, within);
    const subscription = source.subscribe({
      error: (error: unknown) => {
        clearTimeout(timer);
        resolve({ error, elapsed: performance.now() - started });
      },
      complete: () => {
        clearTimeout(timer);
        reject(new Error('completed instead of failing'));
      },
    });
  });
}

/** What the shared cases need from the spec that runs them. */
export interface ReliableCaseSetup {
  /** The running server (started with `-d 10 -v 7`). */
  server(): LibcoapServer;
  /** The session under test, created on first use (so a refused scheme fails each case on its own). */
  session(): ClientSession;
  /** Short unique name for dynamic resources, e.g. `tcp-431`. */
  readonly label: string;
}

/** The cases every reliable transport runs against a live libcoap server. Call inside a describe. */
export function reliableSessionCases(setup: ReliableCaseSetup): void {
  const get = (path: string, init?: Parameters<ClientSession['get']>[1]): Promise<CoapResponse> =>
    lastValueFrom(setup.session().get(path, init).pipe(timeout(REQUEST_LIMIT)));

  it('GETs / (libcoap\'s banner)', async () => {
    const response = await get('/');
    expect(response.codeText).toBe('2.05');
    expect(response.text()).toContain('This is a test server made with libcoap');
  });

  it('GETs /time', async () => {
    const response = await get('/time');
    expect(response.codeText).toBe('2.05');
    expect(response.text()).toMatch(/\d\d:\d\d:\d\d/);
  });

  it('PUTs a dynamic resource (-d) and GETs it back', async () => {
    const value = `over ${setup.label} ${Date.now()}`;
    const put = await lastValueFrom(setup.session().put(`/dyn-${setup.label}`, { payload: value }).pipe(timeout(REQUEST_LIMIT)));
    expect(put.codeText).toMatch(/^2\.0[14]$/);
    const back = await get(`/dyn-${setup.label}`);
    expect(back.codeText).toBe('2.05');
    expect(back.text()).toBe(value);
  });

  it('observes /time, then deregisters: the server logs "removed subscription" for the token and notifies no more', async () => {
    const server = setup.server();
    const from = server.output().length;
    const notifications = await lastValueFrom(setup.session().observe('/time').pipe(take(3), toArray(), timeout(REQUEST_LIMIT)));
    expect(notifications.map((n) => n.codeText)).toEqual(['2.05', '2.05', '2.05']);
    const sequence = notifications.map((n) => n.observe);
    expect(sequence.every((value) => typeof value === 'number')).toBe(true);
    expect(sequence[1]!).toBeGreaterThan(sequence[0]!);
    expect(sequence[2]!).toBeGreaterThan(sequence[1]!);
    const token = hex(notifications[0].token);
    expect(notifications.every((n) => hex(n.token) === token)).toBe(true);
    // RFC 7641 §3.6 / RFC 8323 §3.3: over TCP the only deregistration is a GET with Observe: 1 (no RST).
    const removed = await server.waitForOutput(new RegExp(`removed subscription \\S+ with token '${token}'`), { from, timeout: LOSS_DEADLINE });
    const removedAt = from + server.output().slice(from).indexOf(removed[0]);
    await delay(1_500); // /time changes every second
    const after = server.output().slice(removedAt);
    expect(after).not.toMatch(new RegExp(`${pduLine('2.05')}\\{${token}\\} \\[ Observe:`));
  });

  it('PUTs 100 KiB block-wise (Block1) and GETs the same bytes back block-wise (Block2)', async () => {
    const server = setup.server();
    const body = new Uint8Array(randomBytes(100 * 1024));
    const from = server.output().length;
    const put = await lastValueFrom(
      setup.session().put(`/big-${setup.label}`, { payload: body, contentFormat: 'application/octet-stream', block1Size: 1024 }).pipe(timeout(REQUEST_LIMIT * 3)),
    );
    expect(put.codeText).toMatch(/^2\.0[14]$/);
    const back = await lastValueFrom(setup.session().get(`/big-${setup.label}`, { block2: { size: 1024 } }).pipe(timeout(REQUEST_LIMIT * 3)));
    expect(back.codeText).toBe('2.05');
    expect(back.payload.length).toBe(body.length);
    expect(Buffer.compare(Buffer.from(back.payload), Buffer.from(body))).toBe(0);
    const log = server.output().slice(from);
    // 100 blocks of 1024 each way (fewer messages only if BERT carried several blocks in one).
    expect(count(log, new RegExp(`${pduLine('PUT')}\\{[0-9a-f]*\\} \\[[^\\]]*Block1:\\d+/[M_]/`, 'g'))).toBeGreaterThanOrEqual(2);
    expect(count(log, new RegExp(`${pduLine('2.05')}\\{[0-9a-f]*\\} \\[[^\\]]*Block2:\\d+/[M_]/`, 'g'))).toBeGreaterThanOrEqual(2);
  });

  it('pings (7.02 Ping, answered by 7.03 Pong: libcoap\'s carries an empty token, not the Ping\'s)', async () => {
    const server = setup.server();
    const from = server.output().length;
    const rtt = await lastValueFrom(setup.session().ping().pipe(timeout(REQUEST_LIMIT)));
    expect(typeof rtt).toBe('number');
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(rtt).toBeLessThan(REQUEST_LIMIT);
    // Both versions answer with an empty token and a Custody option whatever the Ping carried.
    await server.waitForOutput(new RegExp(`${pduLine('Ping')}\\{[0-9a-f]*\\}`), { from });
    await server.waitForOutput(new RegExp(`${pduLine('Pong')}\\{\\} \\[ Custody: \\]`), { from });
  });

  it('carries 32 requests outstanding at once on one connection', async () => {
    const server = setup.server();
    await get('/time'); // connected
    const from = server.output().length;
    const responses = await Promise.all(Array.from({ length: 32 }, () => get('/time')));
    expect(responses.map((r) => r.codeText)).toEqual(Array.from({ length: 32 }, () => '2.05'));
    expect(new Set(responses.map((r) => hex(r.token))).size).toBe(32);
    expect(server.output().slice(from)).not.toContain('new incoming session');
  });
}

/** What the connection-loss cases need: a fresh server per case (it is killed) and a session to it. */
export interface LossCaseSetup {
  start(): Promise<LibcoapServer>;
  session(server: LibcoapServer): ClientSession;
  /** Error codes acceptable for a dead connection (TCP: COAP_ERR_TRANSPORT; TLS may say COAP_ERR_TLS closed-by-peer). */
  readonly lossCodes: readonly string[];
}

/** A server SIGKILLed mid-observation and mid-request: the library errors within 5 s, and the next request too. */
export function connectionLossCases(setup: LossCaseSetup): void {
  let server: LibcoapServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  const expectLoss = (error: unknown): void => {
    expect(error).toMatchObject({ code: expect.stringMatching(new RegExp(`^(${setup.lossCodes.map(escape).join('|')})$`)) });
  };

  /**
   * After the loss: the next request (a reconnect to a port nobody listens on) fails too, as fast. Refused, as a
   * rule; over TLS the kernel may still take the connection into the dying server's backlog and reset it during
   * the handshake (a `CoapTlsError` 'closed-by-peer'): the loss codes allow for that.
   */
  const expectNextRequestFails = async (session: ClientSession): Promise<void> => {
    const next = await failureOf(session.get('/time'), LOSS_DEADLINE);
    expectLoss(next.error);
    expect(next.elapsed).toBeLessThan(LOSS_DEADLINE);
  };

  it('fails a live observation within 5 s of a SIGKILL, and the next request too', async () => {
    server = await setup.start();
    const session = setup.session(server);
    const victim = server;
    let killedAt = 0;
    const notified: CoapResponse[] = [];
    const failure = new Promise<{ error: unknown; at: number }>((resolve, reject) => {
      session.observe('/time').subscribe({
        next: (notification) => {
          notified.push(notification);
          if (notified.length === 1) {
            killedAt = performance.now();
            victim.process.kill('SIGKILL');
          }
        },
        error: (error: unknown) => resolve({ error, at: performance.now() }),
        complete: () => reject(new Error('the observation completed instead of failing')),
      });
    });
    const outcome = await Promise.race([
      failure,
      delay(REQUEST_LIMIT + LOSS_DEADLINE).then(() => {
        throw new Error(`no failure (notifications: ${notified.length}, killed: ${killedAt > 0})`);
      }),
    ]);
    expect(killedAt).toBeGreaterThan(0);
    expectLoss(outcome.error);
    expect(outcome.at - killedAt).toBeLessThan(LOSS_DEADLINE);
    await expectNextRequestFails(session);
  });

  it('fails a request in flight (/async?10) within 5 s of a SIGKILL, and the next request too', async () => {
    server = await setup.start();
    const session = setup.session(server);
    const from = server.output().length;
    const pending = failureOf(session.get('/async', { query: '10' }), REQUEST_LIMIT + LOSS_DEADLINE);
    pending.catch(() => undefined); // awaited below; a failure before the kill must not go unhandled
    // The server has the request (and holds the answer for 10 s) once it logs it.
    await server.waitForOutput(/Uri-Path:async, Uri-Query:10/, { from, timeout: REQUEST_LIMIT });
    const killedAt = performance.now();
    server.process.kill('SIGKILL');
    const { error } = await pending;
    const elapsed = performance.now() - killedAt;
    expectLoss(error);
    expect(elapsed).toBeLessThan(LOSS_DEADLINE);
    await expectNextRequestFails(session);
  });
}
