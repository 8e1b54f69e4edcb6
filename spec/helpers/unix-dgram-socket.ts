/**
 * A bare Unix datagram socket for specs (on the test kit's `UnixDatagramSocket`): something else bound to a path,
 * to show that a path in use is refused and left working.
 */
import { UnixDatagramSocket } from '../../src/testing/unix-dgram-listener';
import { describeWhen } from './describe-when';
import { unixDgramModule } from '../../src/transport/unix-dgram';

/** True when the optional `unix-dgram` package loads. */
export function unixDgramAvailable(): boolean {
  try {
    unixDgramModule();
    return true;
  } catch {
    return false;
  }
}

/** A socket bound to a path that records what it receives. */
export class UnixDatagramPeer {
  readonly received: Buffer[] = [];
  readonly #socket: UnixDatagramSocket;
  readonly #waiters = new Set<() => void>();

  private constructor(socket: UnixDatagramSocket) {
    this.#socket = socket;
  }

  static async bind(path: string): Promise<UnixDatagramPeer> {
    const socket = new UnixDatagramSocket(path);
    const peer = new UnixDatagramPeer(socket);
    await socket.bind((message) => {
      peer.received.push(message);
      for (const waiter of peer.#waiters) waiter();
    });
    return peer;
  }

  get path(): string {
    return this.#socket.path;
  }

  /** Sends a datagram to this socket from a second one bound at `probePath`; true when it arrives within 2 s. */
  async echoFrom(probePath: string): Promise<boolean> {
    const probe = new UnixDatagramSocket(probePath);
    await probe.bind(() => undefined);
    try {
      const before = this.received.length;
      const arrived = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 2000);
        const waiter = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(true);
        };
        this.#waiters.add(waiter);
      });
      probe.send(Uint8Array.of(0x50, 0x00, 0x00, 0x01), this.path);
      return (await arrived) && this.received.length > before;
    } finally {
      await probe.close();
    }
  }

  /** Sends one datagram from this socket's path to `target`. */
  async sendTo(target: string, bytes: Uint8Array): Promise<void> {
    this.#socket.send(bytes, target);
  }

  close(): Promise<void> {
    return this.#socket.close();
  }
}

/**
 * `describe` for a suite that needs Unix datagram sockets: runs when `unix-dgram` loads; otherwise skips with a
 * loud warning, or fails when `COAP_INTEROP=required` (set by `.ci/run`, where it must have built).
 */
export function describeUnixDgram(name: string, fn: () => void): void {
  const missing = unixDgramAvailable()
    ? undefined
    : { what: "the optional package 'unix-dgram' (not installed, or it did not build)", how: "npm install unix-dgram: node-gyp needs a C++ compiler, python3 and Node's headers" };
  describeWhen(name, missing, fn);
}
