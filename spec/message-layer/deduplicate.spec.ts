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

  it('agrees with a plain model through growth, eviction, repeats and expiry (its own index, not a Map)', () => {
    // Seeded LCG: MIDs from a small range (repeats and probe collisions), a few from anywhere.
    let seed = 12345;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const capacity = 100;
    const window = new DeduplicationWindow(capacity);
    // The model: entries in arrival order, dropped from the head once expired (as the window prunes) or when
    // full; a MID is a duplicate while its newest entry is held and unexpired.
    const model: { id: number; expires: number; reply: Uint8Array }[] = [];
    let now = 0;
    let duplicates = 0;
    for (let step = 0; step < 20_000; step++) {
      now += random(3);
      const id = random(10) === 0 ? random(65536) : random(300);
      while (model.length > 0 && model[0].expires <= now) model.shift();
      let newest: (typeof model)[number] | undefined;
      for (let i = model.length - 1; i >= 0 && newest === undefined; i--) if (model[i].id === id) newest = model[i];
      const duplicate = newest !== undefined && newest.expires > now;
      expect(window.isDuplicate(id, now)).toBe(duplicate);
      if (duplicate) {
        duplicates++;
        expect(window.replyOf(id)).toBe(newest!.reply);
        continue;
      }
      const lifetime = 50 + random(400);
      const reply = Uint8Array.of(step & 0xff);
      window.remember(id, now, lifetime, reply);
      if (model.length === capacity) model.shift();
      model.push({ id, expires: now + lifetime, reply });
    }
    expect(window.size(now)).toBe(new Set(model.map((entry) => entry.id)).size);
    expect(duplicates).toBeGreaterThan(1000);
  });
});
