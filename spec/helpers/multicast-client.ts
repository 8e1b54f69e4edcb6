/**
 * The client half of the multicast interop spec, run by `multicast-netns.sh` inside the spec's network
 * namespace (with ts-node): one NON GET to the group, every answer with its source, printed as one JSON line.
 *
 * Arguments: the group URI (`coap://224.0.1.187`), the path, and optionally the leisure in milliseconds (`-` for
 * the default) and the `multicastInterface`.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { CoapContext, formatPeer } from '../../src/node';

async function main(): Promise<void> {
  const [server, path = '/.well-known/core', leisure, multicastInterface] = process.argv.slice(2);
  const ctx = new CoapContext();
  const session = ctx.newClientSession({ server, leisure: leisure === undefined || leisure === '-' ? undefined : Number(leisure), multicastInterface });
  const hops = session.setMcastHops(1);
  const started = Date.now();
  const answers = await lastValueFrom(session.get(path).pipe(toArray()));
  const elapsed = Date.now() - started;
  console.log(
    JSON.stringify({
      hops,
      elapsed,
      answers: answers.map((answer) => ({ source: formatPeer(answer.remote), code: answer.codeText, type: answer.typeName, text: answer.text() })),
    }),
  );
  await ctx.free();
}

main().catch((error: unknown) => {
  const reason = (error as { reason?: unknown }).reason;
  console.log(JSON.stringify({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error), reason }));
  process.exitCode = 1;
});
