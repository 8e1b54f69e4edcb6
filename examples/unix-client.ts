/**
 * libcoap's "CoAP Client Non-Encrypted Unix Domain Setup" (coap_endpoint_client(3)) in rxcoap: a session to a
 * server on a Unix datagram socket, bound to a uniquely named local path of its own, then a GET.
 *
 * Run: `node dist/examples/unix-client.js /tmp/server.sock /time`
 * against, for example, libcoap 4.3.4's `coap-server-notls -U coap -A /tmp/server.sock`. A third argument
 * `stream` (`... /tmp/t.sock /time stream`) takes the stream socket of `-U coap+tcp -A /tmp/t.sock` instead.
 *
 * | libcoap (man page)                                   | rxcoap                                                   |
 * |------------------------------------------------------|----------------------------------------------------------|
 * | `coap_new_context(NULL)`                             | `new CoapContext()`                                      |
 * | `coap_context_set_block_mode(USE_LIBCOAP|SINGLE_BODY)` | the default (`ctx.setBlockMode({ singleBody: true })`) |
 * | `server.addr.cun.sun_path = server_ud`               | `server: { path }`, or `coap://%2Ftmp%2Fserver.sock`     |
 * | `local.addr.cun.sun_path = "/tmp/client.<pid>"`      | `localIf: { path }` (leave it out for a generated one)   |
 * | `unlink(local...)`: "only if you know it is safe"    | done for you only when the old socket is stale (no one is bound to it); in use: an error |
 * | `coap_new_client_session(ctx, &local, &server, COAP_PROTO_UDP)` | `ctx.newClientSession({ server, localIf })`   |
 * | the local path deleted when the session is closed    | `session.release()` / `ctx.free()` / a normal exit       |
 *
 * Needs the optional package `unix-dgram` for datagram sockets (a clear error says so when it is missing).
 */
import { existsSync } from 'node:fs';
import { firstValueFrom } from 'rxjs';
import { CoapContext, BlockMode } from '../src/node';

async function main(): Promise<number> {
  const serverPath = process.argv[2] ?? '/tmp/server.sock';
  const resource = process.argv[3] ?? '/time';
  const stream = process.argv[4] === 'stream';

  const ctx = new CoapContext(); // coap_new_context(NULL)
  ctx.setBlockMode(BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY); // coap_context_set_block_mode
  // Need to have a uniquely named local address (libcoap keeps Unix paths to 25 bytes: keep it short).
  const localPath = `/tmp/client.${process.pid}`;
  const session = stream
    ? ctx.newClientSession({ server: { path: serverPath }, proto: 'tcp' }) // a stream client needs no local path
    : ctx.newClientSession({ server: { path: serverPath }, localIf: { path: localPath } }); // COAP_PROTO_UDP
  session.events$.subscribe((event) => {
    if (event.type === 'connected') console.log(`connected: ${'path' in event.local ? event.local.path || '(unnamed)' : ''} <-> ${'path' in event.remote ? event.remote.path : ''}`);
    if (event.type === 'warning') console.warn(`warning: ${event.message}`);
  });
  try {
    const response = await firstValueFrom(session.get(resource));
    console.log(`${response.codeName} (${response.payload.length} bytes)`);
    if (response.payload.length > 0) console.log(response.text());
    return response.ok ? 0 : 1;
  } finally {
    session.release(); // coap_session_release: the local path is removed with it
    await ctx.free();
    if (!stream) console.log(`local path ${localPath} ${existsSync(localPath) ? 'still there' : 'removed'}`);
  }
}

main().then(
  (status) => (process.exitCode = status),
  (error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exitCode = 1;
  },
);
