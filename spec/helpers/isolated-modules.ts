/**
 * For specs of what an entry installs (issue 18: the CBOR decoder, the datagram stack, stream framing, the
 * certificate checks): modules loaded afresh, so that what one case installs is not seen by the next.
 */
import { firstValueFrom } from 'rxjs';
import { CoapArgumentError } from '../../src/errors';
import type { CoapContext } from '../../src/context';
import type { TransportFactory } from '../../src/transport/transport';

/** What `load` returns from modules loaded afresh (jest.isolateModules), after `setup` required what it names. */
export function isolated<T>(load: () => T, setup: () => void = () => undefined): T {
  let loaded: { value: T } | undefined;
  jest.isolateModules(() => {
    setup();
    loaded = { value: load() };
  });
  return loaded!.value;
}

/** The context class of modules loaded afresh, after `setup`. */
export function isolatedContext(setup?: () => void): typeof CoapContext {
  return isolated(() => (require('../../src/context') as typeof import('../../src/context')).CoapContext, setup);
}

/** One GET of /hello on a session over `factory`: `'<code name> <text>'`, or the error it failed with. */
export async function getHello(Context: typeof CoapContext, server: string, factory: TransportFactory): Promise<string> {
  const ctx = new Context();
  try {
    const response = await firstValueFrom(ctx.newClientSession({ server, transport: factory }).get('/hello'));
    return `${response.codeName} ${response.text()}`;
  } finally {
    await ctx.free();
  }
}

/** The context class and `registerTransport` of modules loaded afresh, after `setup`. */
export function isolatedContextAndRegistry(setup?: () => void): {
  CoapContext: typeof CoapContext;
  registerTransport: typeof import('../../src/session/transport-registry').registerTransport;
} {
  return isolated(
    () => ({
      CoapContext: (require('../../src/context') as typeof import('../../src/context')).CoapContext,
      registerTransport: (require('../../src/session/transport-registry') as typeof import('../../src/session/transport-registry')).registerTransport,
    }),
    setup,
  );
}

/** What the call throws; it must throw a CoapArgumentError (anything else, or no throw, fails the case). */
/** (Error classes are branded: `instanceof` holds for the errors of modules loaded afresh too.) */
export function argumentErrorOf(call: () => unknown): CoapArgumentError {
  try {
    call();
  } catch (error) {
    if (error instanceof CoapArgumentError) return error;
    throw error;
  }
  throw new Error('expected a CoapArgumentError, but the call returned');
}
