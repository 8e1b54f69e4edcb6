/**
 * rxcoap in a real browser (issue 18): esbuild bundles a page from the built package (dist/esm through
 * `exports`, as a user's bundler would: `npm test` builds first; by hand `npm run build`), a local http origin on
 * 127.0.0.1 serves it (Chromium's local-network-access checks block about:blank -> loopback), and headless
 * Chromium (Debian's /usr/bin/chromium driven by playwright-core; no browser is downloaded) runs it. The page
 * uses the core alone: `coap+ws://` and `coaps+ws://` go over the browser's own WebSocket, picked by the core.
 *
 * - the rxcoap test peer over WS and WSS: GET, PUT then GET, observe (notifications, then deregistration);
 * - libcoap 4.3.4 `coap-server-openssl -w PORT,PORT+1 -X 1152`: GET, PUT, observe, and coaps+ws. Its server
 *   answers 400 to an HTTP header line of 80 characters or more, so Chromium runs with a short `--user-agent`;
 * - coaps+ws with a self-signed certificate: the browser trusts exactly that key through
 *   `--ignore-certificate-errors-spki-list` (the SHA-256 of its SubjectPublicKeyInfo), not by ignoring all errors;
 * - a PSK in the browser is a CoapArgumentError at the call; `ctx.free()` resolves; the page has no errors, and
 *   no `process`, `Buffer` or `setImmediate` exists there.
 *
 * Without Chromium the suite skips loudly, or fails when COAP_INTEROP=required; the libcoap part skips or fails
 * the same way without libcoap 4.3.4.
 */
import { describeWhen } from '../helpers/describe-when';
import { createHash, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { bundleApp } from '../../bench/bundle';
import { ContentFormat } from '../../src/codec/content-format';
import { startTestPeer, type TestPeer } from '../../src/testing/test-peer';
import { describeInterop, findFreePortPair, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';

jest.setTimeout(60_000);

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PKI = path.join(__dirname, '..', 'fixtures', 'pki');
const CERT = fs.readFileSync(path.join(PKI, 'self-signed.pem'), 'utf8');
const KEY = fs.readFileSync(path.join(PKI, 'self-signed.key'), 'utf8');
/** Under 80 characters per header line, whatever libcoap 4.3.4 sees. */
const USER_AGENT = 'rxcoap-browser-spec';

/** What the page offers the spec (window.coap); every call resolves with plain data or an error record. */
const PAGE_APP = `import { CoapContext, CoapArgumentError } from 'rxcoap';
import { firstValueFrom, lastValueFrom, take, toArray, timeout } from 'rxjs';

const ctx = new CoapContext();
const sessions = new Map();
const session = (server) => {
  let s = sessions.get(server);
  if (s === undefined) sessions.set(server, (s = ctx.newClientSession({ server })));
  return s;
};
const record = (error) => ({ error: error.name, code: error.code, field: error.field, reason: error.reason, message: error.message });
const attempt = (work) => work().catch(record);

window.coap = {
  globals: () => ({ process: typeof process, Buffer: typeof Buffer, setImmediate: typeof setImmediate, WebSocket: typeof WebSocket }),
  get: (server, path) => attempt(async () => {
    const response = await firstValueFrom(session(server).get(path).pipe(timeout(10000)));
    return { code: response.codeText, text: response.text(), proto: session(server).proto };
  }),
  put: (server, path, text) => attempt(async () => {
    const response = await firstValueFrom(session(server).put(path, { payload: text }).pipe(timeout(10000)));
    return { code: response.codeText };
  }),
  observe: (server, path, count) => attempt(async () => {
    const notifications = await lastValueFrom(session(server).observe(path).pipe(take(count), toArray(), timeout(15000)));
    return { codes: notifications.map((n) => n.codeText), texts: notifications.map((n) => n.text()), observe: notifications.map((n) => n.observe) };
  }),
  psk: (server) => {
    try {
      ctx.newClientSessionPsk({ server, psk: { identity: 'id', key: 'secret' } });
      return { error: 'none' };
    } catch (error) {
      return { ...record(error), argumentError: error instanceof CoapArgumentError };
    }
  },
  free: () => attempt(async () => {
    await ctx.free();
    return { freed: true, closed: [...sessions.values()].every((s) => s.closed) };
  }),
};
document.body.dataset.ready = 'yes';
`;

/** base64 SHA-256 of the certificate's SubjectPublicKeyInfo, as Chromium's SPKI list takes it. */
function spkiHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

interface Origin {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the page and its bundle on 127.0.0.1 (a port of its own). */
async function serve(bundle: Uint8Array): Promise<Origin> {
  const server = http.createServer((request, response) => {
    if (request.url === '/app.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else if (request.url === '/' || request.url === '/index.html') {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html><head><title>rxcoap</title><link rel="icon" href="data:,"></head><body><script type="module" src="/app.js"></script></body></html>');
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type CoapPage = {
  globals(): Record<string, string>;
  get(server: string, path: string): Record<string, unknown>;
  put(server: string, path: string, text: string): Record<string, unknown>;
  observe(server: string, path: string, count: number): Record<string, unknown>;
  psk(server: string): Record<string, unknown>;
  free(): Record<string, unknown>;
};

/** Calls window.coap[method](...args) in the page. */
function call<M extends keyof CoapPage>(page: Page, method: M, ...args: Parameters<CoapPage[M]>): Promise<Record<string, unknown>> {
  return page.evaluate(
    // Runs in the page, where globalThis is the window.
    ([name, values]) => (globalThis as unknown as { coap: Record<string, (...a: unknown[]) => unknown> }).coap[name](...values),
    [method, args] as [string, unknown[]],
  ) as Promise<Record<string, unknown>>;
}

const chromiumThere = fs.existsSync(CHROMIUM);
const describeBrowser = (name: string, fn: () => void): void =>
  describeWhen(name, chromiumThere ? undefined : { what: `Chromium at ${CHROMIUM}`, how: 'apt-get install chromium' }, fn);

describeBrowser('rxcoap in headless Chromium (coap+ws and coaps+ws over the browser WebSocket)', () => {
  let origin: Origin;
  let browser: Browser;
  let page: Page;
  let peer: TestPeer;
  const pageErrors: string[] = [];
  let tick = 0;
  let note = '';

  beforeAll(async () => {
    peer = await startTestPeer({
      transports: ['ws', 'wss'],
      tls: { cert: { cert: CERT, key: KEY } },
      resources: [
        { path: '/hello', contentFormat: ContentFormat.TextPlain, get: 'hello, browser' },
        { path: '/counter', observable: true, notifyEvery: 100, get: () => `tick ${tick++}` },
        {
          path: '/notes',
          get: () => note,
          put: (request) => {
            note = Buffer.from(request.payload).toString('utf8');
            return {};
          },
        },
      ],
    });
    const { code } = await bundleApp(PAGE_APP, { minify: false });
    origin = await serve(code);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', `--user-agent=${USER_AGENT}`, `--ignore-certificate-errors-spki-list=${spkiHash(CERT)}`],
    });
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(`console.error: ${message.text()}`);
    });
    await page.goto(origin.url);
    await page.waitForSelector('body[data-ready="yes"]', { state: 'attached', timeout: 10_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.close();
    await peer?.close();
  });

  it('runs where no process, Buffer or setImmediate exists, with the global WebSocket', async () => {
    expect(await call(page, 'globals')).toEqual({ process: 'undefined', Buffer: 'undefined', setImmediate: 'undefined', WebSocket: 'function' });
  });

  it('GETs, PUTs and GETs back from the test peer over coap+ws', async () => {
    const server = peer.uri('/', 'ws').replace(/\/$/, '');
    expect(server).toMatch(/^coap\+ws:\/\/127\.0\.0\.1:\d+$/);
    expect(await call(page, 'get', server, '/hello')).toEqual({ code: '2.05', text: 'hello, browser', proto: 'ws' });
    expect(await call(page, 'put', server, '/notes', 'written from Chromium')).toMatchObject({ code: expect.stringMatching(/^2\.0[14]$/) });
    expect(await call(page, 'get', server, '/notes')).toMatchObject({ code: '2.05', text: 'written from Chromium' });
  });

  it('observes the test peer over coap+ws, then deregisters', async () => {
    const server = peer.uri('/', 'ws').replace(/\/$/, '');
    const result = await call(page, 'observe', server, '/counter', 3);
    expect(result.codes).toEqual(['2.05', '2.05', '2.05']);
    expect(result.texts).toEqual([expect.stringMatching(/^tick \d+$/), expect.stringMatching(/^tick \d+$/), expect.stringMatching(/^tick \d+$/)]);
    for (let i = 0; i < 50 && peer.observerCount('/counter') > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(peer.observerCount('/counter')).toBe(0);
  });

  it('GETs over coaps+ws, trusting the self-signed certificate by its SPKI hash', async () => {
    const server = peer.uri('/', 'wss').replace(/\/$/, '');
    expect(server).toMatch(/^coaps\+ws:\/\//);
    expect(await call(page, 'get', server, '/hello')).toEqual({ code: '2.05', text: 'hello, browser', proto: 'wss' });
  });

  it('refuses a PSK at the call: the browser does TLS itself', async () => {
    const result = await call(page, 'psk', peer.uri('/', 'wss').replace(/\/$/, ''));
    expect(result).toMatchObject({ error: 'CoapArgumentError', argumentError: true, field: 'psk' });
    expect(result.message).toMatch(/does TLS itself/);
  });

  describeInterop('against libcoap 4.3.4 coap-server-openssl -w -X 1152', { flavors: 'openssl', version: '4.3.4' }, () => {
    let libcoap: LibcoapServer;
    let wsPort: number;

    beforeAll(async () => {
      wsPort = await findFreePortPair();
      libcoap = await startLibcoapServer({
        flavor: 'openssl',
        version: '4.3.4',
        // -v 7: the log says when the WebSocket endpoints exist (the helper's readiness check is a UDP ping).
        args: ['-w', `${wsPort},${wsPort + 1}`, '-X', '1152', '-d', '10', '-v', '7', '-c', path.join(PKI, 'self-signed.pem'), '-j', path.join(PKI, 'self-signed.key')],
        outputLimit: 200_000,
      });
      await libcoap.waitForOutput(new RegExp(`created WSS? +endpoint \\S+:${wsPort + 1}`), { timeout: 3000 });
      await libcoap.waitForOutput(new RegExp(`created WS +endpoint \\S+:${wsPort}`), { timeout: 1000 });
    });

    afterAll(async () => {
      await libcoap?.stop();
    });

    it('GETs /, PUTs and GETs back a dynamic resource over coap+ws', async () => {
      const server = `coap+ws://127.0.0.1:${wsPort}`;
      const banner = await call(page, 'get', server, '/');
      expect(banner).toMatchObject({ code: '2.05', proto: 'ws' });
      expect(banner.text).toContain('libcoap');
      expect(await call(page, 'put', server, '/browser', 'from Chromium')).toMatchObject({ code: expect.stringMatching(/^2\.0[14]$/) });
      expect(await call(page, 'get', server, '/browser')).toMatchObject({ code: '2.05', text: 'from Chromium' });
    });

    it('observes /time over coap+ws', async () => {
      const result = await call(page, 'observe', `coap+ws://127.0.0.1:${wsPort}`, '/time', 2);
      expect(result.codes).toEqual(['2.05', '2.05']);
      expect((result.observe as number[])[1]).toBeGreaterThan((result.observe as number[])[0]);
    });

    it('GETs over coaps+ws', async () => {
      expect(await call(page, 'get', `coaps+ws://127.0.0.1:${wsPort + 1}`, '/time')).toMatchObject({ code: '2.05', proto: 'wss', text: expect.stringMatching(/\d\d:\d\d:\d\d/) });
    });
  });

  it('frees the context (sockets closed) and saw no page error', async () => {
    expect(await call(page, 'free')).toEqual({ freed: true, closed: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pageErrors).toEqual([]);
  });
});
