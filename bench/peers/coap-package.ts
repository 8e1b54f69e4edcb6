/**
 * The `coap` package (1.5) as a peer: one `coap.Agent` over one bound socket for every request (without it,
 * `coap` opens a socket per request), CON GETs, `inFlight` outstanding.
 */
import { createSocket, type Socket } from 'node:dgram';
import { closedLoop, type Contender } from '../measure';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const coap = require('coap') as typeof import('coap');

export interface CoapPackageOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly inFlight: number;
}

/** A socket bound on loopback. */
export function boundSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve(socket));
  });
}

/** A `coap.Agent` sharing one socket. */
export async function sharedAgent(): Promise<{ agent: InstanceType<typeof coap.Agent>; socket: Socket }> {
  const socket = await boundSocket();
  return { agent: new coap.Agent({ type: 'udp4', socket }), socket };
}

/** GET `path` once with the `coap` package; resolves with the payload. */
export function coapGet(agent: InstanceType<typeof coap.Agent>, host: string, port: number, path: string, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coap package: no response to GET ${path} within ${timeoutMs} ms`)), timeoutMs);
    const request = coap.request({ hostname: host, port, pathname: path, method: 'GET', confirmable: true, agent });
    request.on('response', (response: { payload: Buffer }) => {
      clearTimeout(timer);
      resolve(response.payload);
    });
    request.on('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end();
  });
}

/** The `coap` package as a {@link Contender}. */
export function coapPackageContender(options: CoapPackageOptions): Contender {
  let shared: Awaited<ReturnType<typeof sharedAgent>> | undefined;
  return {
    name: 'coap package',
    async setup() {
      shared = await sharedAgent();
    },
    window(ms) {
      const { agent } = shared!;
      return closedLoop(ms, options.inFlight, (done) => {
        coapGet(agent, options.host, options.port, options.path, 3000).then(
          () => done(true),
          () => done(false),
        );
      });
    },
    async teardown() {
      shared?.socket.close();
    },
  };
}
