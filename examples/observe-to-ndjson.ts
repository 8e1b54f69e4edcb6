/**
 * Streams observations (RFC 7641) into an NDJSON file: one JSON object per notification, appended as it
 * arrives, so `tail -f` or a log shipper can follow it.
 *
 * Run: `node dist/examples/observe-to-ndjson.js coap://127.0.0.1:5683/sensors/temperature out.ndjson [seconds]`
 * Stops after `seconds` (default 10), on Ctrl-C, or when the server ends the observation; exit status 0 when
 * at least one notification was written.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { concatMap, map, Subject, takeUntil, timer } from 'rxjs';
import { CoapContext, contentFormatName, ContentFormat, type CoapResponse } from '../src/node';

/** A notification as one JSON-safe record. */
function toRecord(response: CoapResponse): Record<string, unknown> {
  const format = response.contentFormat;
  let value: unknown;
  try {
    if (format === ContentFormat.Json || format === ContentFormat.SenmlJson) value = response.json();
    else if (format === ContentFormat.Cbor || format === ContentFormat.SenmlCbor) value = toJson(response.cbor());
    else value = response.text();
  } catch {
    value = Buffer.from(response.payload).toString('base64');
  }
  return {
    time: new Date().toISOString(),
    code: response.codeText,
    observe: response.observe ?? null,
    contentFormat: format === undefined ? null : (contentFormatName(format) ?? format),
    value,
  };
}

/** CBOR decodes maps with integer keys and byte strings; JSON wants objects and text. */
function toJson(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, item]) => [String(key), toJson(item)]));
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toJson(item)]));
  return value;
}

async function main(): Promise<number> {
  const [uri, file, secondsText] = process.argv.slice(2);
  if (uri === undefined || file === undefined) {
    console.error('usage: observe-to-ndjson coap://host[:port]/path out.ndjson [seconds]');
    return 2;
  }
  const seconds = Number(secondsText ?? 10);
  const { protocol, host, pathname } = new URL(uri);
  const origin = `${protocol}//${host}`;
  const out = createWriteStream(file, { flags: 'a' });
  const stop$ = new Subject<void>();
  process.once('SIGINT', () => stop$.next());

  const ctx = new CoapContext();
  const session = ctx.newClientSession({ server: origin });
  let written = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      session
        .observe(pathname)
        .pipe(
          takeUntil(timer(seconds * 1000)),
          takeUntil(stop$),
          map(toRecord),
          // Respect the file's back-pressure: wait for 'drain' before the next line when the buffer is full.
          concatMap(async (record) => {
            if (!out.write(JSON.stringify(record) + '\n')) await once(out, 'drain');
            written++;
          }),
        )
        .subscribe({ error: reject, complete: resolve });
    });
  } finally {
    await ctx.free(); // the observation was cancelled on unsubscribe; this closes the socket
    out.end();
    await once(out, 'finish');
  }
  console.log(`${written} notifications written to ${file}`);
  return written > 0 ? 0 : 1;
}

main().then(
  (status) => (process.exitCode = status),
  (error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exitCode = 1;
  },
);
