/**
 * A plain CoAP-over-UDP client: one context, one session, a GET, and what libcoap's client calls map to.
 *
 * Run: `node dist/examples/udp-client.js coap://127.0.0.1:5683/.well-known/core`
 * (prints the response code, the options by name and the body; exit status 0 on 2.xx, 1 otherwise).
 */
import { firstValueFrom } from 'rxjs';
import { CoapContext, formatOptionValue, optionName } from '../src/node';

async function main(): Promise<number> {
  const uri = process.argv[2] ?? 'coap://127.0.0.1:5683/.well-known/core';
  const { protocol, host, pathname, search } = new URL(uri);
  const origin = `${protocol}//${host}`;

  const ctx = new CoapContext(); // coap_new_context
  const session = ctx.newClientSession({ server: origin }); // coap_new_client_session
  try {
    // CoAP ping: an empty CON answered with RST (RFC 7252 §4.3).
    const roundTrip = await firstValueFrom(session.ping());
    console.log(`ping ${origin}: ${roundTrip.toFixed(1)} ms`);

    // The response handler of libcoap is the Observable's next; a 4.xx is a value, not an error.
    const response = await firstValueFrom(session.get(pathname || '/', { query: search.slice(1) || undefined }));
    console.log(`${response.codeName} (${response.typeName}, ${response.payload.length} bytes)`);
    for (const option of response.options) console.log(`  ${optionName(option.number)}: ${formatOptionValue(option.number, option.value)}`);
    if (response.payload.length > 0) console.log(response.text());
    return response.ok ? 0 : 1;
  } finally {
    await ctx.free(); // coap_free_context: closes the session's socket
  }
}

main().then(
  (status) => (process.exitCode = status),
  (error: unknown) => {
    // CoapTimeoutError, CoapTransportError...: libcoap's NACK handler.
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exitCode = 1;
  },
);
