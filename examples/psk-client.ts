/**
 * A CoAP-over-DTLS client with a pre-shared key (RFC 7252 §9.1.3.1; libcoap `coap_new_client_session_psk2`).
 *
 * Run: `node dist/examples/psk-client.js coaps://127.0.0.1:5684/ IDENTITY KEY`, or give the credentials in
 * `RXCOAP_PSK_IDENTITY` and `RXCOAP_PSK_KEY` (better: they stay out of the process list). Against libcoap:
 * `coap-server-openssl -k KEY` accepts any identity with that key. The key is never printed.
 */
import { firstValueFrom } from 'rxjs';
import { CoapContext, type SessionEvent } from '../src/node';

async function main(): Promise<number> {
  const uri = process.argv[2] ?? process.env.RXCOAP_URI;
  const identity = process.argv[3] ?? process.env.RXCOAP_PSK_IDENTITY;
  const key = process.argv[4] ?? process.env.RXCOAP_PSK_KEY;
  if (uri === undefined || identity === undefined || key === undefined) {
    console.error('usage: psk-client coaps://host[:port]/path IDENTITY KEY   (or RXCOAP_PSK_IDENTITY / RXCOAP_PSK_KEY)');
    return 2;
  }
  const { protocol, host, pathname } = new URL(uri);
  const origin = `${protocol}//${host}`;

  const ctx = new CoapContext();
  const session = ctx.newClientSessionPsk({
    server: origin,
    psk: {
      identity, // coap_dtls_cpsk_t.psk_info.identity
      key, // coap_dtls_cpsk_t.psk_info.key
      // coap_dtls_cpsk_t.validate_ih_call_back: keep the same credentials whatever the server's hint.
      validateIdentityHint: (hint) => {
        console.log(`server identity hint: ${JSON.stringify(hint)}`);
        return { identity, key };
      },
    },
  });
  // libcoap's event handler: COAP_EVENT_DTLS_CONNECTED and friends.
  session.events$.subscribe((event: SessionEvent) => {
    if (event.type === 'dtls-connected') console.log(`DTLS connected: ${event.cipherSuite}`);
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
    // CoapDtlsError: wrong key, no DTLS server, handshake timeout. Its message never holds the key.
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exitCode = 1;
  },
);
