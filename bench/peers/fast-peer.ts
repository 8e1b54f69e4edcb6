/**
 * A fast Node CoAP responder, run in its own (pinned) process: answers every CON request with a piggybacked
 * ACK 2.05 Content carrying the request's MID and token and a 5-byte payload; answers a CON ping with RST.
 * Nothing else: it is the cheapest server possible in Node, so client cost dominates the figure.
 *
 * Run: `node dist/bench/peers/fast-peer.js PORT` (prints `READY PORT` once listening).
 */
import { createSocket } from 'node:dgram';

const PAYLOAD = Buffer.from('hello');

/** Starts the responder on 127.0.0.1:`port` (0 = any); resolves with the port. */
export function startFastPeer(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.on('message', (msg, rinfo) => {
      if (msg.length < 4 || msg[0] >> 6 !== 1) return;
      const type = (msg[0] >> 4) & 3;
      const tokenLength = msg[0] & 0x0f;
      if (type !== 0 || tokenLength > 8 || msg.length < 4 + tokenLength) return;
      if (msg[1] === 0) {
        // RFC 7252 §4.3: a CON ping is answered with RST.
        socket.send(Buffer.of(0x70, 0, msg[2], msg[3]), rinfo.port, rinfo.address);
        return;
      }
      const reply = Buffer.allocUnsafe(4 + tokenLength + 1 + PAYLOAD.length);
      reply[0] = 0x60 | tokenLength; // ver 1, ACK
      reply[1] = 0x45; // 2.05
      reply[2] = msg[2];
      reply[3] = msg[3];
      msg.copy(reply, 4, 4, 4 + tokenLength);
      reply[4 + tokenLength] = 0xff;
      PAYLOAD.copy(reply, 5 + tokenLength);
      socket.send(reply, rinfo.port, rinfo.address);
    });
    socket.bind(port, '127.0.0.1', () => resolve(socket.address().port));
  });
}

if (require.main === module) {
  startFastPeer(Number(process.argv[2] ?? 0)).then(
    (port) => process.stdout.write(`READY ${port}\n`),
    (error: Error) => {
      process.stderr.write(`fast-peer: ${error.message}\n`);
      process.exit(1);
    },
  );
}
