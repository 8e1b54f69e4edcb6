/**
 * An Angular-style service without Angular: a class that exposes `temperature$`, built on `observe()`.
 *
 * - one CoAP observation however many components subscribe (`shareReplay` with `refCount`), and a late
 *   subscriber gets the latest reading at once;
 * - when the observation fails (timeout, lost server, a 5.03), it is registered again after 1 s, 2 s, 4 s ...
 *   up to `maxDelay`, and the back-off starts over after a reading arrives;
 * - the last unsubscribe cancels the observation on the server.
 *
 * Run: `node dist/examples/temperature-service.js coap://127.0.0.1:5683 [seconds]` (the demo's test peer serves
 * `/sensors/temperature`). In an Angular app, the class would be `@Injectable({ providedIn: 'root' })` and the
 * session would come from a provider; nothing else changes.
 */
import { defer, map, retry, shareReplay, take, timer, type Observable, type SchedulerLike } from 'rxjs';
import { CoapContext, CoapResponseError, ContentFormat, type ClientSession, type CoapResponse } from '../src/node';

/** One temperature reading. */
export interface TemperatureReading {
  /** Degrees Celsius. */
  readonly celsius: number;
  /** Observe sequence number of the notification it came from. */
  readonly sequence: number | undefined;
}

/** Options of {@link TemperatureService}. */
export interface TemperatureServiceOptions {
  /** @defaultValue '/sensors/temperature' */
  readonly path?: string;
  /** Registrations tried again in a row before `temperature$` errors. @defaultValue Infinity */
  readonly maxRetries?: number;
  /** First back-off delay in milliseconds, doubled per failure. @defaultValue 1000 */
  readonly initialDelay?: number;
  /** Longest back-off delay in milliseconds. @defaultValue 30000 */
  readonly maxDelay?: number;
  /** Where the back-off timers run (a TestScheduler in tests). @defaultValue the rxjs async scheduler */
  readonly scheduler?: SchedulerLike;
}

/** SenML labels (RFC 8428 §6: CBOR uses these integers where JSON uses the names). */
const SENML_CBOR_LABELS: Readonly<Record<string, string>> = { '-2': 'bn', '-3': 'bt', '-4': 'bu', '-5': 'bv', '0': 'n', '1': 'u', '2': 'v', '6': 't' };

type SenmlRecord = Record<string, unknown>;

function senmlRecords(value: unknown): SenmlRecord[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => {
    const entries: Array<[unknown, unknown]> = item instanceof Map ? [...item.entries()] : Object.entries(item as object);
    const record: SenmlRecord = {};
    for (const [key, field] of entries) record[SENML_CBOR_LABELS[String(key)] ?? String(key)] = field;
    return record;
  });
}

/**
 * The temperature in a response: SenML+CBOR (112) or SenML+JSON (110) with `u: 'Cel'`, or a plain number as
 * text. Throws when the body holds no temperature.
 */
export function readTemperature(response: CoapResponse): TemperatureReading {
  let celsius: number | undefined;
  const format = response.contentFormat;
  if (format === ContentFormat.SenmlCbor || format === ContentFormat.SenmlJson) {
    const records = senmlRecords(format === ContentFormat.SenmlCbor ? response.cbor() : response.json());
    // RFC 8428 §4.6: base value and unit apply to every record.
    const base = records[0] ?? {};
    const record = records.find((item) => (item.u ?? base.bu) === 'Cel' && typeof item.v === 'number');
    if (record !== undefined) celsius = (record.v as number) + (typeof base.bv === 'number' ? base.bv : 0);
  } else {
    const number = Number.parseFloat(response.text());
    if (Number.isFinite(number)) celsius = number;
  }
  if (celsius === undefined) throw new Error(`no temperature in the ${response.codeName} response`);
  return { celsius, sequence: response.observe };
}

/** The temperature of one sensor as an Observable, for any number of subscribers. */
export class TemperatureService {
  /** Readings as they are notified; one observation for all subscribers; retried with back-off. */
  readonly temperature$: Observable<TemperatureReading>;

  constructor(session: ClientSession, options: TemperatureServiceOptions = {}) {
    const path = options.path ?? '/sensors/temperature';
    const initialDelay = options.initialDelay ?? 1000;
    const maxDelay = options.maxDelay ?? 30_000;
    const scheduler = options.scheduler;
    this.temperature$ = defer(() => session.observe(path)).pipe(
      map((response) => {
        // An error code ends the observation (RFC 7641 §3.2): make it an error so retry() registers again.
        if (!response.ok) throw new CoapResponseError(`${response.codeName} from ${path}`, response);
        return readTemperature(response);
      }),
      retry({
        count: options.maxRetries ?? Infinity,
        delay: (_error, attempt) => timer(Math.min(initialDelay * 2 ** (attempt - 1), maxDelay), scheduler),
        resetOnSuccess: true,
      }),
      shareReplay({ bufferSize: 1, refCount: true }),
    );
  }
}

async function main(): Promise<void> {
  const server = process.argv[2] ?? 'coap://127.0.0.1:5683';
  const seconds = Number(process.argv[3] ?? 5);
  const ctx = new CoapContext();
  const session = ctx.newClientSession({ server });
  const service = new TemperatureService(session);

  // Two "components" subscribe; the server sees one observation.
  let readings = 0;
  const dashboard = service.temperature$.subscribe((reading) => {
    readings++;
    console.log(`dashboard: ${reading.celsius.toFixed(2)} °C (notification ${reading.sequence ?? '-'})`);
  });
  const header = service.temperature$.pipe(take(1)).subscribe((reading) => console.log(`header:    ${reading.celsius.toFixed(2)} °C`));

  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  dashboard.unsubscribe();
  header.unsubscribe();
  await ctx.free();
  console.log(`${readings} readings in ${seconds} s`);
  process.exitCode = readings > 0 ? 0 : 1;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
