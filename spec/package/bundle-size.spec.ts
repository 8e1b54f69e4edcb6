/**
 * The browser bundle (issue 18): an app that GETs and observes over coap+ws, bundled by esbuild from the built
 * package (dist/esm through package.json `exports`: `npm test` builds first; by hand `npm run build`), minified,
 * resolved as Angular's esbuild builder does (rxjs's ES2015 build). The same measurement is the `bundle` part of
 * `npm run bench`. The core keeps out what a WebSocket app does not run: the CBOR decoder (`rxcoap/cbor`), the
 * message layer (`useDatagramStack()`), stream framing (`useStreamFraming()`) and the certificate checks.
 */
import { BUNDLE_BUDGET_GZIP, measureBundle, type BundleSize } from '../../bench/bundle';

describe('browser bundle: GET + observe over coap+ws (esbuild, minified)', () => {
  let size: BundleSize;

  beforeAll(async () => {
    size = await measureBundle();
  }, 60_000);

  it('takes rxcoap from the ES module build and asks for no Node built-in', () => {
    expect(size.nodeBuiltins).toEqual([]);
    expect(size.inputs.filter((input) => input.startsWith('dist/src/'))).toEqual([]);
    expect(size.inputs).toContain('dist/esm/transport/websocket.js');
    // The Node transports never reach a browser bundle.
    expect(size.inputs.filter((input) => /dist\/esm\/(node|testing)|transport\/(udp|tcp|tls|dtls|websocket-node)/.test(input))).toEqual([]);
  });

  it("has one rxjs copy: the ES2015 module build the app imports too, as Angular's builder resolves it", () => {
    expect(size.rxjsBuilds).toEqual(['dist/esm']);
  });

  it("leaves cbor-x's encoder out when the app encodes no CBOR, and takes it in when it does", async () => {
    expect(size.inputs.filter((input) => input.includes('cbor-x/encode'))).toEqual([]);
    const withCbor = await measureBundle({
      app: "import { CoapContext, cborPayload } from 'rxcoap';\nnew CoapContext().newClientSession({ server: 'coap+ws://127.0.0.1' }).put('/x', { payload: cborPayload({ a: 1 }) }).subscribe();\n",
    });
    expect(withCbor.inputs.filter((input) => input.includes('cbor-x/encode'))).not.toEqual([]);
  }, 60_000);

  it("leaves cbor-x's decoder out unless the app imports 'rxcoap/cbor' (then CoapResponse.cbor() decodes)", async () => {
    const reader = "import { CoapContext } from 'rxcoap';\nnew CoapContext().newClientSession({ server: 'coap+ws://127.0.0.1' }).get('/x').subscribe((r) => console.log(r.cbor()));\n";
    expect(size.inputs.filter((input) => input.includes('cbor-x/'))).toEqual([]);
    const without = await measureBundle({ app: reader });
    expect(without.inputs.filter((input) => input.includes('cbor-x/'))).toEqual([]);
    const withCbor = await measureBundle({ app: `import 'rxcoap/cbor';\n${reader}` });
    expect(withCbor.inputs).toContain('dist/esm/cbor.js');
    expect(withCbor.inputs.filter((input) => input.includes('cbor-x/decode'))).not.toEqual([]);
  }, 60_000);

  it('leaves out what a WebSocket app does not run: the message layer, stream framing, certificate checks', () => {
    const left = size.inputs.filter((input) =>
      /dist\/esm\/(message-layer\/(message-layer|deduplicate|acknowledge|message-id)|session\/use-(datagram-stack|stream-framing)|pki-credentials)\.js$/.test(input),
    );
    expect(left).toEqual([]);
  });

  it(`meets the goal of ${BUNDLE_BUDGET_GZIP / 1000} KB gzipped, rxjs included`, () => {
    expect(size.gzipped).toBeLessThanOrEqual(BUNDLE_BUDGET_GZIP);
  });
});
