/**
 * CoAP over TCP (RFC 8323, `coap+tcp://`) against libcoap's `coap-server-notls`, both 4.3.1 (Debian bookworm) and
 * 4.3.4 (trixie, the private install of scripts/install-libcoap-4.3.4.sh): GET / and /time, PUT then GET of a
 * dynamic resource (`-d 10`), Observe with deregistration (the server's `-v 7` log says `removed subscription`),
 * 100 KiB block-wise both ways, Ping/Pong, 32 requests on one connection, and a server SIGKILLed mid-observation
 * and mid-request (`/async?10`): the library fails within 5 s, and the next request too.
 *
 * libcoap sends its CSM at once and holds every response until it has the client's (both versions); `-p P`
 * serves TCP on P as well as UDP.
 */
import { CoapContext, type ClientSession } from '../../src/node';
import { LIBCOAP_VERSIONS, describeInterop, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';
import { connectionLossCases, reliableSessionCases } from '../helpers/reliable-interop';

jest.setTimeout(30_000);

/** `-d 10`: dynamic resources from PUT; `-v 7`: every PDU and subscription change in the log the cases read. */
const SERVER_ARGS = ['-d', '10', '-v', '7'];
const OUTPUT_LIMIT = 8_000_000;

for (const version of LIBCOAP_VERSIONS) {
  const label = `tcp-${version.replace(/\./g, '')}`;

  describeInterop(`coap+tcp with coap-server-notls ${version}`, { flavors: 'notls', version }, () => {
    let server: LibcoapServer;
    let context: CoapContext;
    let session: ClientSession | undefined;

    beforeAll(async () => {
      server = await startLibcoapServer({ flavor: 'notls', version, args: SERVER_ARGS, outputLimit: OUTPUT_LIMIT });
      context = new CoapContext();
    });

    afterAll(async () => {
      await context?.free();
      await server?.stop();
    });

    reliableSessionCases({
      label,
      server: () => server,
      session: () => (session ??= context.newClientSession({ server: `coap+tcp://127.0.0.1:${server.port}` })),
    });

    it('reports the session as coap+tcp', () => {
      session ??= context.newClientSession({ server: `coap+tcp://127.0.0.1:${server.port}` });
      expect(session.proto).toBe('tcp');
    });
  });

  describeInterop(`coap+tcp: coap-server-notls ${version} SIGKILLed`, { flavors: 'notls', version }, () => {
    let context: CoapContext;
    beforeEach(() => {
      context = new CoapContext();
    });
    afterEach(async () => {
      await context?.free();
    });

    connectionLossCases({
      start: () => startLibcoapServer({ flavor: 'notls', version, args: SERVER_ARGS, outputLimit: OUTPUT_LIMIT }),
      session: (server) => context.newClientSession({ server: `coap+tcp://127.0.0.1:${server.port}` }),
      lossCodes: ['COAP_ERR_TRANSPORT'],
    });
  });
}
