import { CoapArgumentError } from '../src/errors';
import { checkPki } from '../src/pki-credentials';

const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRET\n-----END PRIVATE KEY-----\n';

function fieldOf(value: unknown): string | undefined {
  try {
    checkPki(value);
  } catch (error) {
    expect(error).toBeInstanceOf(CoapArgumentError);
    return (error as CoapArgumentError).field;
  }
  return undefined;
}

describe('checkPki', () => {
  it('accepts every libcoap coap_dtls_pki_t option in camelCase', () => {
    expect(() =>
      checkPki({
        verifyPeerCert: true,
        checkCommonCa: false,
        allowSelfSigned: true,
        allowExpiredCerts: false,
        certChainValidation: true,
        certChainVerifyDepth: 3,
        checkCertRevocation: true,
        crlFiles: ['/etc/crl.pem', Uint8Array.of(0x30)],
        allowNoCrl: false,
        allowExpiredCrl: false,
        allowBadMdHash: false,
        allowShortRsaLength: false,
        validateCn: () => true,
        clientSni: 'coap.example',
        pkiKey: { keyType: 'pem', caFile: 'ca.pem', publicCert: 'client.pem', privateKey: PEM_KEY },
      }),
    ).not.toThrow();
    expect(() => checkPki({})).not.toThrow();
  });

  it('names the field that is wrong', () => {
    expect(fieldOf(null)).toBe('pki');
    expect(fieldOf({ verifyPeerCerts: true })).toBe('pki.verifyPeerCerts');
    expect(fieldOf({ allowSelfSigned: 'yes' })).toBe('pki.allowSelfSigned');
    expect(fieldOf({ certChainVerifyDepth: 1.5 })).toBe('pki.certChainVerifyDepth');
    expect(fieldOf({ certChainVerifyDepth: 101 })).toBe('pki.certChainVerifyDepth');
    expect(fieldOf({ validateCn: 'localhost' })).toBe('pki.validateCn');
    expect(fieldOf({ clientSni: '' })).toBe('pki.clientSni');
    expect(fieldOf({ crlFiles: 'crl.pem' })).toBe('pki.crlFiles');
    expect(fieldOf({ crlFiles: ['a.pem', 7] })).toBe('pki.crlFiles[1]');
    expect(fieldOf({ pkiKey: [] })).toBe('pki.pkiKey');
    expect(fieldOf({ pkiKey: { keyType: 'der' } })).toBe('pki.pkiKey.keyType');
    expect(fieldOf({ pkiKey: { publicKey: 'x' } })).toBe('pki.pkiKey.publicKey');
    expect(fieldOf({ pkiKey: { caFile: new Uint8Array(0) } })).toBe('pki.pkiKey.caFile');
    expect(fieldOf({ pkiKey: { publicCert: 'client.pem' } })).toBe('pki.pkiKey.privateKey');
    expect(fieldOf({ pkiKey: { privateKey: PEM_KEY } })).toBe('pki.pkiKey.publicCert');
  });

  it('uses the field name it is given', () => {
    expect(() => checkPki({ allowNoCrl: 1 }, 'options.pki')).toThrow(expect.objectContaining({ field: 'options.pki.allowNoCrl' }));
  });

  it('never quotes key material in a message', () => {
    const messages: string[] = [];
    for (const value of [PEM_KEY, { pkiKey: PEM_KEY }, { pkiKey: { privateKey: 42, publicCert: PEM_KEY } }, { crlFiles: PEM_KEY }]) {
      try {
        checkPki(value);
      } catch (error) {
        messages.push((error as Error).message);
      }
    }
    expect(messages).toHaveLength(4);
    for (const message of messages) {
      expect(message).not.toContain('BEGIN');
      expect(message).not.toContain('SECRET');
    }
  });
});
