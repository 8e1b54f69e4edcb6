import { ContentFormat } from '../../src/codec/content-format';
import { createPdu, MessageType, Method, ResponseCode, type CoapPdu } from '../../src/codec/pdu';
import { emptyAck, notification, piggybackedResponse, resetReply, separateResponse } from '../../src/testing/fake-replies';
import { pduMatchers } from '../../src/testing/pdu-matchers';

expect.extend(pduMatchers);

const request = createPdu({ type: MessageType.CON, code: Method.GET, messageId: 0x0102, token: Uint8Array.of(7) });

describe('fake replies', () => {
  it('piggybackedResponse: an ACK with the request MID and token, text as text/plain', () => {
    expect(piggybackedResponse(request, { payload: 'hi', maxAge: 5 })).toMatchPdu({ type: 'ACK', code: '2.05', messageId: 0x0102, token: '07', payload: 'hi', options: { 12: ContentFormat.TextPlain, 14: 5 } });
    expect(piggybackedResponse(request, { code: ResponseCode.NotFound })).toMatchPdu({ code: '4.04', payload: '', options: { 12: null } });
  });

  it('emptyAck and resetReply: the MID and no token', () => {
    expect(emptyAck(request)).toMatchPdu({ type: 'ACK', code: '0.00', messageId: 0x0102, token: '' });
    expect(resetReply(request)).toMatchPdu({ type: 'RST', code: '0.00', messageId: 0x0102, token: '' });
  });

  it('separateResponse: the empty ACK now, then a CON with the token and its own MID after the delay', () => {
    const [ack, later] = separateResponse(request, { delay: 500, payload: 'late' });
    expect(ack).toMatchPdu({ type: 'ACK', code: '0.00', messageId: 0x0102 });
    expect(later).toMatchObject({ delay: 500 });
    const response = (later as { reply: CoapPdu }).reply;
    expect(response).toMatchPdu({ type: 'CON', code: '2.05', token: '07', payload: 'late' });
    expect(response.messageId).not.toBe(0x0102);
    expect((separateResponse(request, { confirmable: false, messageId: 9 })[1] as { reply: CoapPdu }).reply).toMatchPdu({ type: 'NON', messageId: 9 });
  });

  it('notification: NON with Observe and the token, distinct MIDs; without a sequence, no Observe', () => {
    const a = notification(request, 2, { delay: 100 }) as { delay: number; reply: CoapPdu };
    const b = notification(request, 3) as { delay: number; reply: CoapPdu };
    expect(a.delay).toBe(100);
    expect(a.reply).toMatchPdu({ type: 'NON', code: '2.05', token: '07', observe: 2 });
    expect(b.reply.messageId).not.toBe(a.reply.messageId);
    expect((notification(request, undefined, { code: ResponseCode.ServiceUnavailable, confirmable: true }) as { reply: CoapPdu }).reply).toMatchPdu({
      type: 'CON',
      code: '5.03',
      observe: null,
    });
  });
});
