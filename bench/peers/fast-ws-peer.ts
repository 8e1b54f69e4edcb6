/**
 * A fast Node CoAP-over-WebSockets responder (RFC 8323 §4), run in its own (pinned) process: a `ws` server on
 * /.well-known/coap (subprotocol coap, no permessage-deflate) that sends its CSM when the client's arrives and
 * answers every request with 2.05 Content, the request's token and a 5-byte payload; a Ping gets a Pong. Nothing
 * else: the cheapest WebSocket server in Node, so client cost dominates the figure.
 *
 * Run: `node dist/bench/peers/fast-ws-peer.js PORT` (prints `READY PORT` once listening).
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

const PAYLOAD = Buffer.from('hello');
/** 7.01 CSM with Max-Message-Size 1152 and Block-Wise-Transfer (never a 2-byte message). */
const CSM = Buffer.of(0x00, 0xe1, 0x22, 0x04, 0x80, 0x20);

/** Starts the responder on 127.0.0.1:`port` (0 = any); resolves with the port. */
export function startFastWsPeer(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    const webSockets = new WebSocketServer({ server, path: '/.well-known/coap', perMessageDeflate: false, handleProtocols: (protocols) => (protocols.has('coap') ? 'coap' : false) });
    webSockets.on('connection', (webSocket: WebSocket) => {
      webSocket.on('error', () => undefined);
      webSocket.on('message', (message: Buffer) => {
        if (message.length < 2) return;
        const tokenLength = message[0] & 0x0f;
        const code = message[1];
        if (tokenLength > 8 || message.length < 2 + tokenLength) return;
        if (code === 0xe1) {
          webSocket.send(CSM);
          return;
        }
        const reply = Buffer.allocUnsafe(2 + tokenLength + 1 + PAYLOAD.length);
        reply[0] = tokenLength;
        reply[1] = code === 0xe2 ? 0xe3 : 0x45; // Ping -> Pong, anything else -> 2.05
        message.copy(reply, 2, 2, 2 + tokenLength);
        if (code === 0xe2) {
          webSocket.send(reply.subarray(0, 2 + tokenLength));
          return;
        }
        reply[2 + tokenLength] = 0xff;
        PAYLOAD.copy(reply, 3 + tokenLength);
        webSocket.send(reply);
      });
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

if (require.main === module) {
  startFastWsPeer(Number(process.argv[2] ?? 0)).then(
    (port) => process.stdout.write(`READY ${port}\n`),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
