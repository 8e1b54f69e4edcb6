/**
 * Error classes: stable codes, and `instanceof` that works across two copies of the package (an app and a
 * library each bundling rxcoap). Issue 16 finding 12: only the base class was branded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import * as errors from '../src/errors';

/** A second, independent copy of src/errors.ts (own classes, own prototypes), as a second bundle would have. */
function secondCopy(): typeof errors {
  const source = fs.readFileSync(path.join(__dirname, '../src/errors.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
  const module = { exports: {} as typeof errors };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a second copy of the module in this realm
  new Function('exports', 'module', outputText)(module.exports, module);
  return module.exports;
}

const classNames = Object.keys(errors).filter((name) => /^Coap\w*Error$/.test(name)) as (keyof typeof errors)[];

describe('error classes', () => {
  const other = secondCopy();

  it('has a separate copy to compare with', () => {
    expect(other.CoapTimeoutError).not.toBe(errors.CoapTimeoutError);
    expect(classNames.length).toBeGreaterThanOrEqual(12);
  });

  it.each(classNames)('%s from another copy of the package is instanceof this copy\'s class and CoapError', (name) => {
    const OtherClass = other[name] as unknown as new (...args: unknown[]) => Error;
    const instance = construct(OtherClass, name);
    expect(instance).toBeInstanceOf(errors[name] as unknown as new () => unknown);
    expect(instance).toBeInstanceOf(errors.CoapError);
    expect(instance).toBeInstanceOf(Error);
  });

  it.each(classNames.filter((name) => name !== 'CoapError'))('%s is not instanceof an unrelated class of either copy', (name) => {
    const instance = construct(errors[name] as unknown as new (...args: unknown[]) => Error, name);
    const unrelated = name === 'CoapTimeoutError' ? 'CoapResetError' : 'CoapTimeoutError';
    expect(instance instanceof (errors[unrelated] as unknown as new () => unknown)).toBe(false);
    expect(instance instanceof (other[unrelated] as unknown as new () => unknown)).toBe(false);
  });

  it('keeps subclass relations across copies (a DTLS error is not a transport error unless it extends one)', () => {
    const dtls = new other.CoapDtlsError('alert', 'alert');
    expect(dtls instanceof errors.CoapDtlsError).toBe(true);
    expect(dtls instanceof errors.CoapTransportError).toBe(false);
  });

  it('is false for plain errors and look-alikes', () => {
    expect(new Error('x') instanceof errors.CoapError).toBe(false);
    expect({ code: 'COAP_ERR_TIMEOUT', name: 'CoapTimeoutError' } instanceof errors.CoapTimeoutError).toBe(false);
    expect((null as unknown as object) instanceof errors.CoapError).toBe(false);
    expect(('CoapError' as unknown as object) instanceof errors.CoapError).toBe(false);
  });
});

function construct(Class: new (...args: unknown[]) => Error, name: string): Error {
  switch (name) {
    case 'CoapError':
      return new Class('COAP_ERR_ARGUMENT', 'x');
    case 'CoapDecodeError':
      return new Class('BAD_FRAME', 'x');
    case 'CoapUriError':
      return new Class('coap://x', 'x');
    case 'CoapDtlsError':
    case 'CoapTlsError':
      return new Class('alert', 'x');
    case 'CoapResponseError':
      return new Class('x', {});
    case 'CoapOptionError':
      return new Class(9, 'x');
    default:
      return new Class('x');
  }
}
