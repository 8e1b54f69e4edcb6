/**
 * A fast local notifier (RFC 7641) for the observe figure, run in its own pinned process:
 * a GET with Observe: 0 on `/stream/N` registers; the reply is a piggybacked 2.05 with Observe 0, then the
 * notifier sends notifications 1..N as fast as the client keeps up: all NON except every 64th, which is a CON
 * (RFC 7641 §4.5), and it never runs more than 128 notifications ahead of the last acknowledged CON. That
 * window (< the socket's receive buffer) is the flow control: the client sets the pace, and nothing needs to
 * be dropped. Observe values are the sequence numbers; the payload is the sequence as 4 bytes.
 * A RST, or a GET with Observe: 1, ends the stream.
 *
 * Run: `node dist/bench/peers/notifier.js PORT` (prints `READY PORT`).
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { encodeMessage, Opt, readUint, uintValue, walkOptions } from './raw-dgram';

/** Notifications between two CONs. */
export const CON_EVERY = 64;
/** Most notifications sent past the last acknowledged CON. */
export const WINDOW = 128;

interface Stream {
  readonly token: Buffer;
  readonly rinfo: RemoteInfo;
  readonly count: number;
  next: number;
  acked: number;
  /** MID of the CON awaiting its ACK → sequence it carried. */
  readonly conMids: Map<number, number>;
  stopped: boolean;
  stall?: NodeJS.Timeout;
}

export function startNotifier(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    let mid = Math.floor(Math.random() * 0x10000);
    let stream: Stream | undefined;
    const payload = Buffer.alloc(4);
    const pump = (s: Stream): void => {
      if (s.stopped) return;
      while (s.next <= s.count && s.next <= s.acked + WINDOW) {
        const seq = s.next++;
        const confirmable = seq % CON_EVERY === 0 || seq === s.count;
        const messageId = (mid = (mid + 1) & 0xffff);
        if (confirmable) s.conMids.set(messageId, seq);
        payload.writeUInt32BE(seq);
        socket.send(encodeMessage(confirmable ? 0 : 1, 0x45, messageId, s.token, [[Opt.Observe, uintValue(seq & 0xffffff)]], payload), s.rinfo.port, s.rinfo.address);
      }
      clearTimeout(s.stall);
      // The client stopped acknowledging (gone or overwhelmed): give up after a while.
      if (s.next <= s.count) s.stall = setTimeout(() => (s.stopped = true), 2000);
    };
    socket.on('message', (msg, rinfo) => {
      if (msg.length < 4 || msg[0] >> 6 !== 1) return;
      const type = (msg[0] >> 4) & 3;
      const messageId = (msg[2] << 8) | msg[3];
      const current = stream;
      if (type === 2 || type === 3) {
        // ACK or RST of a CON notification.
        const seq = current?.conMids.get(messageId);
        if (current === undefined || seq === undefined) return;
        current.conMids.delete(messageId);
        if (type === 3) {
          current.stopped = true;
          clearTimeout(current.stall);
          return;
        }
        current.acked = Math.max(current.acked, seq);
        pump(current);
        return;
      }
      if (msg[1] !== 1) return; // GET only
      const tokenLength = msg[0] & 0x0f;
      const token = Buffer.from(msg.subarray(4, 4 + tokenLength));
      let observe = -1;
      const segments: string[] = [];
      walkOptions(msg, (number, start, end) => {
        if (number === Opt.Observe) observe = readUint(msg, start, end);
        else if (number === Opt.UriPath) segments.push(msg.subarray(start, end).toString());
      });
      const count = segments[0] === 'stream' ? Number(segments[1] ?? 0) : 0;
      if (observe === 1 || observe < 0) {
        if (current !== undefined && current.token.equals(token)) current.stopped = true;
        const reply = encodeMessage(type === 0 ? 2 : 1, 0x45, type === 0 ? messageId : (mid = (mid + 1) & 0xffff), token, [], Buffer.from('x'));
        socket.send(reply, rinfo.port, rinfo.address);
        return;
      }
      if (current !== undefined) {
        current.stopped = true;
        clearTimeout(current.stall);
      }
      const fresh: Stream = { token, rinfo, count, next: 1, acked: 0, conMids: new Map(), stopped: false };
      stream = fresh;
      payload.writeUInt32BE(0);
      socket.send(encodeMessage(type === 0 ? 2 : 1, 0x45, type === 0 ? messageId : (mid = (mid + 1) & 0xffff), token, [[Opt.Observe, uintValue(0)]], payload), rinfo.port, rinfo.address);
      setImmediate(() => pump(fresh));
    });
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve(socket.address().port));
  });
}

if (require.main === module) {
  startNotifier(Number(process.argv[2] ?? 0)).then(
    (port) => process.stdout.write(`READY ${port}\n`),
    (error: Error) => {
      process.stderr.write(`notifier: ${error.message}\n`);
      process.exit(1);
    },
  );
}
