/**
 * Anonymous DTLS: libcoap's "CoAP Client Anonymous PKI Setup" (`coap_new_client_session(ctx, NULL, &server,
 * COAP_PROTO_DTLS)`, no credentials at all). The session is encrypted; the server is authenticated only when the
 * context has trusted roots (`ctx.setPkiRootCas`, libcoap `coap_context_set_pki_root_cas`), else an
 * `unauthenticated` warning event says it is not.
 *
 * Run: `node dist/examples/anonymous-dtls-client.js coaps://127.0.0.1:5684/time [ROOT_CA_FILE]`. Against libcoap:
 * `coap-server-openssl -c server.pem -j server.key` (no `-C`: no client certificate demanded).
 */
import { firstValueFrom } from 'rxjs';
import { CoapContext, type SessionEvent } from '../src/node';

async function main(): Promise<number> {
  const [uri, rootCa] = process.argv.slice(2);
  if (uri === undefined) {
    console.error('usage: anonymous-dtls-client coaps://host[:port]/path [ROOT_CA_FILE]');
    return 2;
  }
  const { protocol, host, pathname } = new URL(uri);
  const ctx = new CoapContext();
  if (rootCa !== undefined) ctx.setPkiRootCas(rootCa); // coap_context_set_pki_root_cas(ctx, ca_file, NULL)
  const session = ctx.newClientSession({ server: `${protocol}//${host}` });
  session.events$.subscribe((event: SessionEvent) => {
    if (event.type === 'dtls-connected') console.log(`DTLS connected: ${event.cipherSuite}`);
    if (event.type === 'warning') console.log(`warning (${event.reason ?? 'other'}): ${event.message}`);
  });
  try {
    const response = await firstValueFrom(session.get(pathname || '/'));
    console.log(response.codeName);
    if (response.payload.length > 0) console.log(response.text());
    return response.ok ? 0 : 1;
  } finally {
    await ctx.free();
  }
}

main().then(
  (status) => (process.exitCode = status),
  (error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exitCode = 1;
  },
);
