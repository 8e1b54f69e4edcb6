import { Subject, Observable, take } from 'rxjs';
import { shareLatest } from '../../src/session/share-latest';

describe('shareLatest', () => {
  it('connects once, replays the latest value to late subscribers and disconnects after the last one leaves', () => {
    const source = new Subject<number>();
    let connections = 0;
    let resets = 0;
    const shared = shareLatest(new Observable<number>((s) => (connections++, source.subscribe(s))), () => resets++);
    const a: number[] = [];
    const b: number[] = [];
    const subA = shared.subscribe((v) => a.push(v));
    source.next(1);
    const subB = shared.subscribe((v) => b.push(v));
    source.next(2);
    expect([a, b, connections]).toEqual([[1, 2], [1, 2], 1]);
    subA.unsubscribe();
    expect(source.observed).toBe(true);
    subB.unsubscribe();
    expect([source.observed, resets]).toEqual([false, 1]);
    const c: number[] = [];
    shared.subscribe((v) => c.push(v));
    expect([c, connections]).toEqual([[], 2]);
  });

  it('passes an error and a completion to every subscriber and resets', () => {
    const source = new Subject<number>();
    let resets = 0;
    const shared = shareLatest(source.asObservable(), () => resets++);
    const seen: string[] = [];
    shared.subscribe({ error: (e) => seen.push(`a ${e}`) });
    shared.subscribe({ error: (e) => seen.push(`b ${e}`) });
    source.error('boom');
    expect([seen, resets]).toEqual([['a boom', 'b boom'], 1]);
  });

  it('does not leak the source when the only subscriber leaves during a synchronous first value', () => {
    let active = 0;
    const source = new Observable<number>((s) => {
      active++;
      s.next(1);
      return () => active--;
    });
    const values: number[] = [];
    shareLatest(source, () => undefined).pipe(take(1)).subscribe((v) => values.push(v));
    expect([values, active]).toEqual([[1], 0]);
  });

  it('handles a source that completes synchronously', () => {
    const values: number[] = [];
    let done = 0;
    const shared = shareLatest(new Observable<number>((s) => (s.next(7), s.complete())), () => undefined);
    shared.subscribe({ next: (v) => values.push(v), complete: () => done++ });
    shared.subscribe({ next: (v) => values.push(v), complete: () => done++ });
    expect([values, done]).toEqual([[7, 7], 2]);
  });
});
