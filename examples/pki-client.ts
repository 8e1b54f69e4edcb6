/**
 * A CoAP-over-DTLS client with certificates: libcoap's "CoAP Client PKI Setup" (`coap_new_client_session_pki` over
 * COAP_PROTO_DTLS with a `coap_dtls_pki_t`), field by field in rxcoap's camelCase.
 *
 * Run: `node dist/examples/pki-client.js coaps://127.0.0.1:5684/time CA_FILE [CERT_FILE KEY_FILE]`. Against libcoap:
 * `coap-server-openssl -c server.pem -j server.key [-C ca.pem]` (add `-C` to demand the client certificate).
 */
import { firstValueFrom } from 'rxjs';
import { CoapContext, CoapDtlsError, type PkiCredentials, type SessionEvent } from '../src/node';

async function main(): Promise<number> {
  const [uri, caFile, certFile, keyFile] = process.argv.slice(2);
  if (uri === undefined || caFile === undefined) {
    console.error('usage: pki-client coaps://host[:port]/path CA_FILE [CERT_FILE KEY_FILE]');
    return 2;
  }
  const { protocol, host, hostname, pathname } = new URL(uri);

  const pki: PkiCredentials = {
    verifyPeerCert: true, // coap_dtls_pki_t.verify_peer_cert: off only with a 'verification-off' warning event
    checkCommonCa: true, // .check_common_ca: the server must chain to pkiKey.caFile
    allowSelfSigned: false, // .allow_self_signed
    allowExpiredCerts: false, // .allow_expired_certs
    certChainValidation: true, // .cert_chain_validation
    certChainVerifyDepth: 3, // .cert_chain_verify_depth
    checkCertRevocation: false, // .check_cert_revocation (with crlFiles: CRLs are read from files, not fetched)
    allowNoCrl: false, // .allow_no_crl
    allowExpiredCrl: false, // .allow_expired_crl
    allowBadMdHash: false, // .allow_bad_md_hash
    allowShortRsaLength: false, // .allow_short_rsa_length
    // .validate_cn_call_back: called for each certificate of the chain, leaf (depth 0) first
    validateCn: (cn, _der, depth, validated) => {
      console.log(`certificate at depth ${depth}: CN=${cn} (${validated ? 'verified' : 'not verified'})`);
      return true;
    },
    clientSni: /^[\d.]+$|:/.test(hostname) ? undefined : hostname.replace(/^\[|\]$/g, ''), // .client_sni: a host name only
    pkiKey: {
      keyType: 'pem', // .pki_key.key_type: COAP_PKI_KEY_PEM (files); bytes work too ('pem-buffer', 'asn1')
      caFile, // .pki_key.key.pem.ca_file
      // .pki_key.key.pem.public_cert and .private_key: for servers that demand a client certificate (-C)
      ...(certFile === undefined ? {} : { publicCert: certFile, privateKey: keyFile ?? certFile }),
    },
  };

  const ctx = new CoapContext();
  const session = ctx.newClientSessionPki({ server: `${protocol}//${host}`, pki });
  session.events$.subscribe((event: SessionEvent) => {
    if (event.type === 'dtls-connected') console.log(`DTLS connected: ${event.cipherSuite}`);
    if (event.type === 'warning') console.log(`warning: ${event.message}`);
  });
  try {
    const response = await firstValueFrom(session.get(pathname || '/'));
    console.log(response.codeName);
    if (response.payload.length > 0) console.log(response.text());
    return response.ok ? 0 : 1;
  } finally {
    await ctx.free();
  }
}

main().then(
  (status) => (process.exitCode = status),
  (error: unknown) => {
    // CoapDtlsError reasons: untrusted, expired, name-mismatch, cn-rejected, client-cert-required, bad-signature, ...
    console.error(error instanceof CoapDtlsError ? `CoapDtlsError ${error.reason}: ${error.message}` : error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exitCode = 1;
  },
);
