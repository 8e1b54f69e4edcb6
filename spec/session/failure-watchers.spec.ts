import { failureWatcher, FailureWatchers, type FailureWatcher } from '../../src/session/failure-watchers';

/** Watchers that log `name:error` when failed. */
function watchers(log: string[], ...names: string[]): FailureWatcher[] {
  return names.map((name) => failureWatcher((error) => log.push(`${name}:${String(error)}`)));
}

describe('FailureWatchers', () => {
  it('fails every watcher once, oldest first, and later ones at once', () => {
    const list = new FailureWatchers();
    const log: string[] = [];
    const [a, b, c, late] = watchers(log, 'a', 'b', 'c', 'late');
    for (const watcher of [a, b, c]) list.watch(watcher);
    expect(list.failWatchers('lost')).toBe(true);
    expect(list.failWatchers('again')).toBe(false);
    expect(list.failed).toBe(true);
    list.watch(late);
    expect(log).toEqual(['a:lost', 'b:lost', 'c:lost', 'late:lost']);
  });

  it.each([
    ['the first', 0],
    ['a middle one', 2],
    ['the last', 4],
  ])('unwatching %s leaves the others watched, in order, and a new one goes last', (_, index) => {
    const list = new FailureWatchers();
    const log: string[] = [];
    const all = watchers(log, 'a', 'b', 'c', 'd', 'e', 'f');
    for (const watcher of all.slice(0, 5)) list.watch(watcher);
    list.unwatch(all[index]);
    list.unwatch(all[index]); // twice: nothing more happens
    list.watch(all[5]);
    list.failWatchers('x');
    expect(log).toEqual(['a', 'b', 'c', 'd', 'e', 'f'].filter((_, i) => i !== index).map((name) => `${name}:x`));
  });

  it('keeps working as watchers come and go (the list empties and fills again)', () => {
    const list = new FailureWatchers();
    const log: string[] = [];
    const [a, b, c] = watchers(log, 'a', 'b', 'c');
    list.watch(a);
    list.watch(b);
    list.unwatch(a);
    list.unwatch(b);
    list.watch(c);
    list.watch(a);
    list.watch(a); // twice: watched once
    list.failWatchers('x');
    expect(log).toEqual(['c:x', 'a:x']);
  });

  it('ignores unwatching a watcher it never had, even one on another list', () => {
    const mine = new FailureWatchers();
    const other = new FailureWatchers();
    const log: string[] = [];
    const [a, stranger] = watchers(log, 'a', 'stranger');
    mine.watch(a);
    other.watch(stranger);
    mine.unwatch(stranger);
    mine.failWatchers('x');
    other.failWatchers('y');
    expect(log).toEqual(['a:x', 'stranger:y']);
  });

  it('fails a watcher that another one unwatches while failing', () => {
    const list = new FailureWatchers();
    const log: string[] = [];
    const [b, c] = watchers(log, 'b', 'c');
    const a = failureWatcher((error) => {
      log.push(`a:${String(error)}`);
      list.unwatch(c); // e.g. the error handler of one request cancels another
    });
    for (const watcher of [a, b, c]) list.watch(watcher);
    list.failWatchers('x');
    expect(log).toEqual(['a:x', 'b:x', 'c:x']);
  });
});
