/**
 * The one rule for suites that need something outside the repository (libcoap, network namespaces, Chromium): run
 * when it is there; when it is not, fail under `COAP_INTEROP=required` (CI) and otherwise skip loudly, saying what
 * is missing and how to get it.
 */

/** Runs `fn` as `describe(name)` when `missing` is undefined; else one failing case (required) or a loud skip. */
export function describeWhen(name: string, missing: { readonly what: string; readonly how: string } | undefined, fn: () => void): void {
  if (missing === undefined) {
    describe(name, fn);
    return;
  }
  if (process.env.COAP_INTEROP === 'required') {
    describe(name, () => {
      it(`needs ${missing.what} (COAP_INTEROP=required)`, () => {
        throw new Error(`${missing.what} not found, and COAP_INTEROP=required: ${missing.how}`);
      });
    });
    return;
  }
  console.warn(`\n!!! SKIPPING "${name}": ${missing.what} not found (${missing.how}; set COAP_INTEROP=required to fail instead) !!!\n`);
  describe.skip(name, fn);
}
