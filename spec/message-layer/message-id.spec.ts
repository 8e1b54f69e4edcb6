import { MessageIdAllocator } from '../../src/message-layer/message-id';

describe('MessageIdAllocator', () => {
  it('hands out sequential IDs from the start value and wraps at 65536', () => {
    const ids = new MessageIdAllocator(0xfffe, 247_000);
    expect([ids.allocate(0), ids.allocate(0), ids.allocate(0)]).toEqual([0xfffe, 0xffff, 0]);
  });

  it('never reuses a MID within EXCHANGE_LIFETIME: the 65537th allocation waits until the first one expires', () => {
    const lifetime = 247_000;
    const ids = new MessageIdAllocator(100, lifetime);
    for (let i = 0; i < 0x10000; i++) expect(ids.allocate(i % 1000)).toBe((100 + i) & 0xffff);
    // All 65,536 were used within the last 1 s of virtual time: MID 100 is free again only at 0 + lifetime.
    expect(ids.allocate(5000)).toBe(-1);
    expect(ids.delayUntilAvailable(5000)).toBe(lifetime - 5000);
    expect(ids.allocate(lifetime)).toBe(100);
  });

  it('holds no memory when idle', () => {
    const ids = new MessageIdAllocator(0, 1000);
    ids.allocate(0);
    expect(ids.inUse(500)).toBe(1);
    expect(ids.inUse(1000)).toBe(0);
  });
});
