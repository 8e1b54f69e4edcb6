import { TestScheduler } from 'rxjs/testing';
import { MessageLayer, type MessageLayerEvent } from '../../src/message-layer/message-layer';
import { DEFAULT_TRANSMISSION, resolveTransmissionParameters } from '../../src/message-layer/transmission-params';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import { Method, MessageType, createPdu } from '../../src/codec/pdu';

function setup(random: number, params = DEFAULT_TRANSMISSION) {
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
  const sent: { time: number; type: number; messageId: number }[] = [];
  const events: MessageLayerEvent[] = [];
  const layer = new MessageLayer({
    transport: {
      send: (frame) => {
        const pdu = decodeDatagram(frame);
        sent.push({ time: scheduler.now(), type: pdu.type, messageId: pdu.messageId });
      },
    },
    router: { route: () => true },
    params,
    scheduler,
    random: () => random,
    firstMessageId: 100,
    onEvent: (event) => events.push(event),
    peer: { host: '127.0.0.1', port: 5683 },
  });
  return { scheduler, sent, events, layer };
}

const get = { code: Method.GET, token: Uint8Array.of(1), options: [], payload: new Uint8Array(0) };

describe('MessageLayer', () => {
  it('retransmits a CON after 2 s, 4 s, 8 s and 16 s and gives up 32 s later (62 s) with the smallest jitter', () => {
    const { scheduler, sent, layer } = setup(0);
    scheduler.run(() => {
      let failedAt = -1;
      let error: unknown;
      layer.sendConfirmable(get, { acknowledged: () => undefined, failed: (e) => ((failedAt = scheduler.now()), (error = e)) });
      scheduler.flush();
      expect(sent.map((s) => s.time)).toEqual([0, 2000, 6000, 14000, 30000]);
      expect(failedAt).toBe(62000);
      expect(error).toMatchObject({ name: 'CoapTimeoutError', attempts: 5, elapsed: 62000, messageId: 100, token: '01' });
    });
  });

  it('gives up at MAX_TRANSMIT_WAIT (93 s) with the largest jitter', () => {
    const { scheduler, sent, layer } = setup(1);
    scheduler.run(() => {
      let failedAt = -1;
      layer.sendConfirmable(get, { acknowledged: () => undefined, failed: () => (failedAt = scheduler.now()) });
      scheduler.flush();
      expect(sent.map((s) => s.time)).toEqual([0, 3000, 9000, 21000, 45000]);
      expect(failedAt).toBe(93000);
    });
  });

  it('keeps each CON on its own schedule while one timer serves them all', () => {
    const { scheduler, sent, layer } = setup(0, resolveTransmissionParameters({ nstart: 2, maxRetransmit: 1 }));
    scheduler.run(() => {
      layer.sendConfirmable(get, { acknowledged: () => undefined, failed: () => undefined });
      scheduler.schedule(() => layer.sendConfirmable({ ...get, token: Uint8Array.of(2) }, { acknowledged: () => undefined, failed: () => undefined }), 500);
      scheduler.flush();
      expect(sent.map((s) => [s.time, s.messageId])).toEqual([
        [0, 100],
        [500, 101],
        [2000, 100],
        [2500, 101],
      ]);
    });
  });

  it('stops retransmitting on ACK and ignores a second ACK', () => {
    const { scheduler, sent, layer } = setup(0);
    scheduler.run(() => {
      const acks: number[] = [];
      layer.sendConfirmable(get, { acknowledged: () => acks.push(scheduler.now()), failed: () => undefined });
      const ack = encodeDatagram(createPdu({ type: MessageType.ACK, code: 0, messageId: 100 }));
      scheduler.schedule(() => layer.receive(ack), 2500);
      scheduler.schedule(() => layer.receive(ack), 2600);
      scheduler.flush();
      expect(sent.map((s) => s.time)).toEqual([0, 2000]);
      expect(acks).toEqual([2500]);
    });
  });

  it('stops every timer on close', () => {
    const { scheduler, sent, layer } = setup(0);
    scheduler.run(() => {
      layer.sendConfirmable(get, { acknowledged: () => undefined, failed: () => undefined });
      scheduler.schedule(() => layer.close(), 100);
      scheduler.flush();
      expect(sent).toHaveLength(1);
      expect(scheduler.now()).toBe(100);
    });
  });
});
