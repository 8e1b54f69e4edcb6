/**
 * The cryptography of rxcoap's DTLS 1.2 client on `node:crypto`: the TLS 1.2 PRF (RFC 5246 §5), the key block
 * (RFC 5246 §6.3), the extended master secret (RFC 7627 §4) and AEAD record protection (RFC 5288 GCM, RFC 6655
 * CCM and CCM_8, with DTLS's explicit nonce = epoch || sequence number, RFC 6347 §4.1.2.1, RFC 7251 §2).
 *
 * Pure functions of their inputs: no state, no timers, no key material kept or printed.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, type CipherCCMTypes, type CipherGCMTypes } from 'node:crypto';

/** How records of a suite are sealed: the AES mode and the tag length (8 for CCM_8). */
export interface AeadSpec {
  readonly cipher: CipherCCMTypes | CipherGCMTypes;
  readonly keyLength: 16;
  readonly tagLength: 8 | 16;
}

/** RFC 6655 / RFC 7251: 4-byte implicit salt from the key block, 8-byte explicit nonce in each record. */
export const IMPLICIT_NONCE_LENGTH = 4;
export const EXPLICIT_NONCE_LENGTH = 8;

/** RFC 5246 §5: P_SHA256(secret, label + seed), cut to `length` bytes. */
export function prf(secret: Uint8Array, label: string, seed: Uint8Array, length: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const out = Buffer.alloc(length);
  let a: Buffer = createHmac('sha256', secret).update(labelSeed).digest();
  for (let offset = 0; offset < length; ) {
    const block = createHmac('sha256', secret).update(a).update(labelSeed).digest();
    offset += block.copy(out, offset);
    a = createHmac('sha256', secret).update(a).digest();
  }
  return out;
}

/** SHA-256 of the handshake transcript (every suite here uses the SHA-256 PRF). */
export function transcriptHash(messages: readonly Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  for (const message of messages) hash.update(message);
  return hash.digest();
}

/**
 * RFC 7627 §4: master_secret = PRF(pre_master_secret, "extended master secret", session_hash)[0..47], or without
 * the extension RFC 5246 §8.1's PRF(pre_master_secret, "master secret", ClientHello.random + ServerHello.random).
 */
export function masterSecret(preMaster: Uint8Array, extended: { sessionHash: Uint8Array } | { clientRandom: Uint8Array; serverRandom: Uint8Array }): Buffer {
  if ('sessionHash' in extended) return prf(preMaster, 'extended master secret', extended.sessionHash, 48);
  return prf(preMaster, 'master secret', Buffer.concat([extended.clientRandom, extended.serverRandom]), 48);
}

/** The keys of one direction of an epoch. */
export interface DirectionKeys {
  readonly key: Buffer;
  /** The implicit part of the nonce (4 bytes). */
  readonly salt: Buffer;
  readonly aead: AeadSpec;
}

/**
 * RFC 5246 §6.3: key_block = PRF(master_secret, "key expansion", server_random + client_random), cut into
 * client_write_key, server_write_key, client_write_IV, server_write_IV (AEAD suites have no MAC keys).
 */
export function keyBlock(master: Uint8Array, clientRandom: Uint8Array, serverRandom: Uint8Array, aead: AeadSpec): { client: DirectionKeys; server: DirectionKeys } {
  const k = aead.keyLength;
  const block = prf(master, 'key expansion', Buffer.concat([serverRandom, clientRandom]), 2 * k + 2 * IMPLICIT_NONCE_LENGTH);
  return {
    client: { key: block.subarray(0, k), salt: block.subarray(2 * k, 2 * k + IMPLICIT_NONCE_LENGTH), aead },
    server: { key: block.subarray(k, 2 * k), salt: block.subarray(2 * k + IMPLICIT_NONCE_LENGTH, 2 * k + 2 * IMPLICIT_NONCE_LENGTH), aead },
  };
}

/** RFC 5246 §7.4.9: verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11]. */
export function finishedVerifyData(master: Uint8Array, label: 'client finished' | 'server finished', handshakeHash: Uint8Array): Buffer {
  return prf(master, label, handshakeHash, 12);
}

/**
 * Seals one record's plaintext: returns ciphertext || tag. `nonce` is salt (4) || explicit nonce (8), `aad` the
 * 13 bytes of RFC 5246 §6.2.3.3 (epoch || seq || type || version || plaintext length).
 */
export function aeadSeal(keys: DirectionKeys, explicitNonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const nonce = Buffer.concat([keys.salt, explicitNonce]);
  const { cipher: name, tagLength } = keys.aead;
  if (name === 'aes-128-gcm') {
    const cipher = createCipheriv(name, keys.key, nonce, { authTagLength: tagLength });
    cipher.setAAD(aad);
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }
  const cipher = createCipheriv(name as CipherCCMTypes, keys.key, nonce, { authTagLength: tagLength });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** Opens ciphertext || tag; undefined when it does not authenticate (RFC 6347 §4.1.2.7: the record is dropped). */
export function aeadOpen(keys: DirectionKeys, explicitNonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  const { cipher: name, tagLength } = keys.aead;
  if (sealed.length < tagLength) return undefined;
  const nonce = Buffer.concat([keys.salt, explicitNonce]);
  const ciphertext = sealed.subarray(0, sealed.length - tagLength);
  const tag = sealed.subarray(sealed.length - tagLength);
  try {
    if (name === 'aes-128-gcm') {
      const decipher = createDecipheriv(name, keys.key, nonce, { authTagLength: tagLength });
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    }
    const decipher = createDecipheriv(name as CipherCCMTypes, keys.key, nonce, { authTagLength: tagLength });
    decipher.setAuthTag(tag);
    decipher.setAAD(aad, { plaintextLength: ciphertext.length });
    const plaintext = decipher.update(ciphertext);
    decipher.final();
    return plaintext;
  } catch {
    return undefined;
  }
}
