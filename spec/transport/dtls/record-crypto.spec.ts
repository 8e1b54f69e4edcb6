/**
 * Known-answer tests of the DTLS client's cryptography: the TLS 1.2 PRF, AES-CCM (RFC 3610), AES-CCM with
 * TLS's 12-byte nonce against a reference CCM written here from RFC 3610 §2 on AES-ECB, AES-GCM (the GCM
 * specification's test case 4, McGrew and Viega, as NIST's), and the key block / Finished derivations.
 */
import { createCipheriv } from 'node:crypto';
import { aeadOpen, aeadSeal, finishedVerifyData, keyBlock, masterSecret, prf, type DirectionKeys } from '../../../src/transport/dtls/record-crypto';
import { ecdheSuiteByName } from '../../../src/transport/dtls/ecdhe-suites';

const hex = (text: string): Buffer => Buffer.from(text.replace(/[\s:]/g, ''), 'hex');

/** RFC 3610 §2.2 / §2.3 CCM, from its definition on AES-128-ECB: an implementation independent of OpenSSL's. */
function referenceCcm(key: Buffer, nonce: Buffer, aad: Buffer, message: Buffer, tagLength: number): Buffer {
  const aes = (block: Buffer): Buffer => {
    const cipher = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
    return Buffer.concat([cipher.update(block), cipher.final()]);
  };
  const L = 15 - nonce.length;
  const b0 = Buffer.alloc(16);
  b0[0] = (aad.length > 0 ? 64 : 0) + 8 * ((tagLength - 2) / 2) + (L - 1);
  nonce.copy(b0, 1);
  b0.writeUIntBE(message.length, 16 - L, L);
  const pad = (bytes: Buffer): Buffer => Buffer.concat([bytes, Buffer.alloc((16 - (bytes.length % 16)) % 16)]);
  const blocks = Buffer.concat([b0, aad.length > 0 ? pad(Buffer.concat([Buffer.from([aad.length >> 8, aad.length & 0xff]), aad])) : Buffer.alloc(0), pad(message)]);
  let x: Buffer = Buffer.alloc(16);
  for (let offset = 0; offset < blocks.length; offset += 16) {
    const block = blocks.subarray(offset, offset + 16);
    x = aes(Buffer.from(x.map((byte, i) => byte ^ block[i])));
  }
  const counter = (i: number): Buffer => {
    const a = Buffer.alloc(16);
    a[0] = L - 1;
    nonce.copy(a, 1);
    a.writeUIntBE(i, 16 - L, L);
    return aes(a);
  };
  const out = Buffer.alloc(message.length);
  for (let i = 0; i < message.length; i++) out[i] = message[i] ^ counter(1 + Math.floor(i / 16))[i % 16];
  const s0 = counter(0);
  const tag = Buffer.from(x.subarray(0, tagLength).map((byte, i) => byte ^ s0[i]));
  return Buffer.concat([out, tag]);
}

describe('the TLS 1.2 PRF (RFC 5246 §5, P_SHA256)', () => {
  it('matches the published SHA-256 test vector (also what `openssl kdf TLS1-PRF` prints)', () => {
    const out = prf(hex('9bbe436ba940f017b17652849a71db35'), 'test label', hex('a0ba9f936cda311827a6f796ffd5198c'), 100);
    expect(out.toString('hex')).toBe(
      'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701873' +
        '47b66',
    );
  });

  it('derives the extended master secret from the session hash, unlike the RFC 5246 one (RFC 7627 §4)', () => {
    const pre = hex('00'.repeat(32));
    const ems = masterSecret(pre, { sessionHash: hex('11'.repeat(32)) });
    const legacy = masterSecret(pre, { clientRandom: hex('22'.repeat(32)), serverRandom: hex('33'.repeat(32)) });
    expect(ems).toHaveLength(48);
    expect(ems).toEqual(prf(pre, 'extended master secret', hex('11'.repeat(32)), 48));
    expect(legacy).toEqual(prf(pre, 'master secret', hex('22'.repeat(32) + '33'.repeat(32)), 48));
    expect(ems.equals(legacy)).toBe(false);
  });

  it('cuts the key block as client key, server key, client salt, server salt (RFC 5246 §6.3)', () => {
    const master = hex('44'.repeat(48));
    const client = hex('55'.repeat(32));
    const server = hex('66'.repeat(32));
    const block = prf(master, 'key expansion', Buffer.concat([server, client]), 40);
    const keys = keyBlock(master, client, server, ecdheSuiteByName('TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8')!.aead);
    expect(Buffer.concat([keys.client.key, keys.server.key, keys.client.salt, keys.server.salt])).toEqual(block);
    expect(finishedVerifyData(master, 'client finished', hex('77'.repeat(32)))).toEqual(prf(master, 'client finished', hex('77'.repeat(32)), 12));
  });
});

describe('AES-CCM and AES-CCM_8 record protection (RFC 6655, RFC 7251)', () => {
  it('the reference CCM reproduces RFC 3610 packet vector #1 (M = 8, 13-byte nonce), as node:crypto does', () => {
    const key = hex('c0c1c2c3c4c5c6c7c8c9cacbcccdcecf');
    const nonce = hex('00000003020100a0a1a2a3a4a5');
    const aad = hex('0001020304050607');
    const message = hex('08090a0b0c0d0e0f101112131415161718191a1b1c1d1e');
    const expected = '588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0';
    expect(referenceCcm(key, nonce, aad, message, 8).toString('hex')).toBe(expected);
    const cipher = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: 8 });
    cipher.setAAD(aad, { plaintextLength: message.length });
    expect(Buffer.concat([cipher.update(message), cipher.final(), cipher.getAuthTag()]).toString('hex')).toBe(expected);
  });

  it.each([
    ['TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', 8],
    ['TLS_ECDHE_ECDSA_WITH_AES_128_CCM', 16],
  ] as const)('%s seals with salt || explicit nonce as the 12-byte CCM nonce and a %i-byte tag, as the reference does', (name, tagLength) => {
    const keys: DirectionKeys = { key: hex('000102030405060708090a0b0c0d0e0f'), salt: hex('a0a1a2a3'), aead: ecdheSuiteByName(name)!.aead };
    const explicit = hex('0001000000000007');
    const aad = hex('000100000000000717fefd0011');
    const plaintext = Buffer.from('CoAP over DTLS!!!');
    const sealed = aeadSeal(keys, explicit, aad, plaintext);
    expect(sealed).toHaveLength(plaintext.length + tagLength);
    expect(sealed).toEqual(referenceCcm(keys.key, Buffer.concat([keys.salt, explicit]), aad, plaintext, tagLength));
    expect(aeadOpen(keys, explicit, aad, sealed)).toEqual(plaintext);
  });

  it('refuses a sealed record with one bit flipped anywhere: ciphertext, tag, nonce or additional data', () => {
    const keys: DirectionKeys = { key: hex('00'.repeat(16)), salt: hex('01020304'), aead: ecdheSuiteByName('TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8')!.aead };
    const explicit = hex('0001000000000001');
    const aad = hex('000100000000000117fefd0004');
    const sealed = aeadSeal(keys, explicit, aad, Buffer.from('ping'));
    for (let i = 0; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i] ^= 0x01;
      expect(aeadOpen(keys, explicit, aad, bad)).toBeUndefined();
    }
    expect(aeadOpen(keys, hex('0001000000000002'), aad, sealed)).toBeUndefined();
    expect(aeadOpen(keys, explicit, hex('000100000000000117fefd0005'), sealed)).toBeUndefined();
    expect(aeadOpen(keys, explicit, aad, sealed.subarray(0, 4))).toBeUndefined();
  });
});

describe('AES-128-GCM record protection (RFC 5288)', () => {
  it('reproduces GCM test case 4 (McGrew and Viega, NIST) with its IV as salt || explicit nonce', () => {
    const keys: DirectionKeys = { key: hex('feffe9928665731c6d6a8f9467308308'), salt: hex('cafebabe'), aead: ecdheSuiteByName('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256')!.aead };
    const explicit = hex('facedbaddecaf888');
    const aad = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
    const plaintext = hex(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    );
    const sealed = aeadSeal(keys, explicit, aad, plaintext);
    expect(sealed.toString('hex')).toBe(
      '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091' +
        '5bc94fbc3221a5db94fae95ae7121a47',
    );
    expect(aeadOpen(keys, explicit, aad, sealed)).toEqual(plaintext);
    sealed[sealed.length - 1] ^= 0x80;
    expect(aeadOpen(keys, explicit, aad, sealed)).toBeUndefined();
  });
});
