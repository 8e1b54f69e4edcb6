/**
 * The core without `rxcoap/node` (a browser): `coap+ws://` and `coaps+ws://` use the platform's global WebSocket
 * when nothing registered ws or wss, found when a session is made (no registration at module load, which a
 * `"sideEffects": false` bundle would drop). The browser does TLS itself: PSK and certificate options are a
 * CoapArgumentError. A fake WebSocket constructor on globalThis stands for the browser's.
 */
import { NEVER, lastValueFrom } from 'rxjs';
import { CoapArgumentError } from '../../src/errors';
import { CoapContext } from '../../src/context';
import { registerTransport } from '../../src/session/transport-registry';

interface Opened {
  readonly url: string;
  readonly protocols: unknown;
}

/** Records each `new WebSocket(url, protocols)` and fails the connection at once (a refused connection). */
function installFakeWebSocket(opened: Opened[]): void {
  class FakeWebSocket {
    binaryType = 'blob';
    readonly protocol = '';
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: unknown) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    onclose: ((event: { code: number; reason: string }) => void) | null = null;
    constructor(url: string, protocols: unknown) {
      opened.push({ url, protocols });
      queueMicrotask(() => this.onclose?.({ code: 1006, reason: '' }));
    }
    send(): void {}
    close(): void {}
  }
  (globalThis as { WebSocket?: unknown }).WebSocket = FakeWebSocket;
}

const original = (globalThis as { WebSocket?: unknown }).WebSocket;
afterEach(() => {
  (globalThis as { WebSocket?: unknown }).WebSocket = original;
});

describe('coap+ws:// on the platform WebSocket (the core alone, as in a browser)', () => {
  it('without a global WebSocket and a registration, says how to get a transport', () => {
    delete (globalThis as { WebSocket?: unknown }).WebSocket;
    const ctx = new CoapContext();
    expect(() => ctx.newClientSession({ server: 'coap+ws://127.0.0.1' })).toThrow(/no ws transport is registered and this platform has no global WebSocket/);
  });

  it('opens ws:// and wss:// on the well-known path with the coap subprotocol (RFC 8323 §4.1, default ports 80 and 443)', async () => {
    const opened: Opened[] = [];
    installFakeWebSocket(opened);
    const ctx = new CoapContext();
    const plain = ctx.newClientSession({ server: 'coap+ws://127.0.0.1' });
    const secure = ctx.newClientSession({ server: 'coaps+ws://[::1]:8443' });
    expect([plain.proto, secure.proto]).toEqual(['ws', 'wss']);
    await expect(lastValueFrom(plain.get('/a'))).rejects.toMatchObject({ name: 'CoapTransportError', reason: 'connect-failed' });
    await expect(lastValueFrom(secure.get('/a'))).rejects.toMatchObject({ name: 'CoapTransportError' });
    expect(opened).toEqual([
      { url: 'ws://127.0.0.1:80/.well-known/coap', protocols: 'coap' },
      { url: 'wss://[::1]:8443/.well-known/coap', protocols: 'coap' },
    ]);
    await ctx.free();
  });

  it('refuses a PSK or certificates (the browser does TLS), naming the field', () => {
    installFakeWebSocket([]);
    const ctx = new CoapContext();
    const psk = (): unknown => ctx.newClientSessionPsk({ server: 'coaps+ws://127.0.0.1', psk: { identity: 'id', key: 'secret' } });
    expect(psk).toThrow(CoapArgumentError);
    expect(psk).toThrow(/does TLS itself: it cannot take a PSK/);
    try {
      psk();
    } catch (error) {
      expect(error).toMatchObject({ field: 'psk' });
    }
    expect(() => ctx.newClientSessionPki({ server: 'coaps+ws://127.0.0.1', pki: {} })).toThrow(/cannot take certificates/);
    const withPki = new CoapContext({ pki: {} });
    expect(() => withPki.newClientSession({ server: 'coaps+ws://127.0.0.1' })).toThrow(/cannot take the context's certificates/);
  });

  it('a registered ws transport wins over the global WebSocket', () => {
    const opened: Opened[] = [];
    installFakeWebSocket(opened);
    const made: string[] = [];
    registerTransport('ws', (target) => {
      made.push(`${target.host}:${target.port}`);
      return () => NEVER;
    });
    new CoapContext().newClientSession({ server: 'coap+ws://127.0.0.1:1234' });
    expect(made).toEqual(['127.0.0.1:1234']);
    expect(opened).toEqual([]);
  });
});
