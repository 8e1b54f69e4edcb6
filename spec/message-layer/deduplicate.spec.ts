import { DeduplicationWindow } from '../../src/message-layer/deduplicate';

describe('DeduplicationWindow', () => {
  it('reports a MID seen within the lifetime as a duplicate with its cached reply', () => {
    const window = new DeduplicationWindow();
    const ack = Uint8Array.of(0x60, 0, 0, 7);
    expect(window.isDuplicate(7, 0)).toBe(false);
    window.remember(7, 0, 247_000, ack);
    expect(window.isDuplicate(7, 246_999)).toBe(true);
    expect(window.replyOf(7)).toBe(ack);
    expect(window.isDuplicate(7, 247_000)).toBe(false);
  });

  it('keeps memory bounded by evicting the oldest entry', () => {
    const window = new DeduplicationWindow(3);
    for (let mid = 0; mid < 5; mid++) window.remember(mid, 0, 1000, null);
    expect(window.size(0)).toBe(3);
    expect(window.isDuplicate(0, 0)).toBe(false);
    expect(window.isDuplicate(4, 0)).toBe(true);
  });

  it('keeps the newer entry when a MID is remembered again and the older slot expires', () => {
    const window = new DeduplicationWindow();
    window.remember(5, 0, 100, null);
    window.remember(5, 50, 100, Uint8Array.of(1));
    expect(window.isDuplicate(5, 120)).toBe(true);
    expect(window.replyOf(5)).toEqual(Uint8Array.of(1));
    expect(window.size(150)).toBe(0);
  });
});
