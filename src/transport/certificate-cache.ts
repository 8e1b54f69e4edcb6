/**
 * Parsed X.509 certificates, shared by the TLS and DTLS verifiers. Parsing one costs about 100 µs, and a
 * session parses its trusted roots, its own certificate and the server's chain; sessions to the same server with
 * the same roots see the same bytes again. An `X509Certificate` is immutable and every check that depends on time
 * takes `now` itself, so a cached object answers exactly as a fresh one would.
 */
import { X509Certificate } from 'node:crypto';

/** Certificates kept (oldest dropped first): roots, own certificates and servers' chains of a busy process. */
const LIMIT = 256;
const parsed = new Map<string, X509Certificate>();

/**
 * The certificate of `input` (PEM text of one certificate, or DER bytes), parsed once per distinct input.
 * Throws as `new X509Certificate(input)` does for what is not a certificate (failures are not kept).
 */
export function parseCertificate(input: string | Uint8Array): X509Certificate {
  const bytes = typeof input === 'string' ? undefined : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  // PEM and DER never collide as keys: PEM text starts with '-', a DER certificate with 0x30 ('0').
  const key = bytes === undefined ? (input as string) : bytes.toString('latin1');
  let certificate = parsed.get(key);
  if (certificate === undefined) {
    certificate = new X509Certificate(bytes ?? (input as string));
    if (parsed.size >= LIMIT) parsed.delete(parsed.keys().next().value as string);
    parsed.set(key, certificate);
  }
  return certificate;
}
