/**
 * A jest-backed TestScheduler whose comparison maps error notifications to `{ name, code, message }`
 * (rxjs spec/helpers/observableMatcher.ts), so marble specs can assert typed CoAP errors.
 */
import { TestScheduler } from 'rxjs/testing';

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value instanceof Error) {
    return { name: value.name, code: (value as { code?: unknown }).code, message: value.message };
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = normalize(inner);
    return out;
  }
  return value;
}

/** A new TestScheduler asserting with jest's `toEqual` after normalizing errors. */
export function createTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => {
    expect(normalize(actual)).toEqual(normalize(expected));
  });
}
