import { DeduplicationWindow } from '../../src/message-layer/deduplicate';

describe('DeduplicationWindow', () => {
  it('reports a MID seen within the lifetime as a duplicate with its cached reply', () => {
    const window = new DeduplicationWindow();
    const ack = Uint8Array.of(0x60, 0, 0, 7);
    expect(window.lookup(7, 0)).toEqual({ duplicate: false });
    window.remember(7, 0, 247_000, ack);
    expect(window.lookup(7, 246_999)).toEqual({ duplicate: true, reply: ack });
    expect(window.lookup(7, 247_000)).toEqual({ duplicate: false });
  });

  it('keeps memory bounded by evicting the oldest entry', () => {
    const window = new DeduplicationWindow(3);
    for (let mid = 0; mid < 5; mid++) window.remember(mid, 0, 1000, null);
    expect(window.size(0)).toBe(3);
    expect(window.lookup(0, 0).duplicate).toBe(false);
    expect(window.lookup(4, 0).duplicate).toBe(true);
  });
});
