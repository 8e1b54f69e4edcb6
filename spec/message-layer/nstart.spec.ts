import { Subject } from 'rxjs';
import { NstartLimiter } from '../../src/message-layer/nstart';

describe('NstartLimiter', () => {
  it('starts at most `limit` at once and the next waiting one when a slot frees', () => {
    const limiter = new NstartLimiter(1);
    const first = new Subject<number>();
    const second = new Subject<number>();
    const seen: string[] = [];
    limiter.run(first).subscribe((v) => seen.push(`first ${v}`));
    limiter.run(second).subscribe((v) => seen.push(`second ${v}`));
    expect(first.observed).toBe(true);
    expect(second.observed).toBe(false);
    expect(limiter.waiting).toBe(1);
    first.complete();
    expect(second.observed).toBe(true);
    second.next(2);
    expect(seen).toEqual(['second 2']);
  });

  it('drops a waiting one that is unsubscribed before it starts', () => {
    const limiter = new NstartLimiter(1);
    const first = new Subject<number>();
    const second = new Subject<number>();
    limiter.run(first).subscribe();
    limiter.run(second).subscribe().unsubscribe();
    expect(limiter.waiting).toBe(0);
    first.complete();
    expect(second.observed).toBe(false);
    expect(limiter.active).toBe(0);
  });
});
