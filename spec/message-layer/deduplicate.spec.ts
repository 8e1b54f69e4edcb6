import { DeduplicationWindow } from '../../src/message-layer/deduplicate';

describe('DeduplicationWindow', () => {
  it('reports a MID seen within the lifetime as a duplicate with its cached reply', () => {
    const window = new DeduplicationWindow();
    const ack = Uint8Array.of(0x60, 0, 0, 7);
    expect(window.lookup(7, 0)).toBeNull();
    window.remember(7, 0, 247_000, ack);
    expect(window.lookup(7, 246_999)).toEqual({ expires: 247_000, reply: ack });
    expect(window.lookup(7, 247_000)).toBeNull();
  });

  it('keeps memory bounded by evicting the oldest entry', () => {
    const window = new DeduplicationWindow(3);
    for (let mid = 0; mid < 5; mid++) window.remember(mid, 0, 1000, null);
    expect(window.size(0)).toBe(3);
    expect(window.lookup(0, 0)).toBeNull();
    expect(window.lookup(4, 0)).not.toBeNull();
  });

  it('keeps the newer entry when a MID is remembered again and the older slot expires', () => {
    const window = new DeduplicationWindow();
    window.remember(5, 0, 100, null);
    window.remember(5, 50, 100, Uint8Array.of(1));
    expect(window.lookup(5, 120)).toEqual({ expires: 150, reply: Uint8Array.of(1) });
    expect(window.size(150)).toBe(0);
  });
});
