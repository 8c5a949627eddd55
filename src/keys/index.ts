/** Key layer: key stores (software, PKCS#11), the SP 800-108 KDF, factory keys and provisioning lists. */
export * from './key-store.js';
export { AesCmac, aesCmac } from './cmac.js';
export { fixedInput, kdfCounter, kdfCounterFixed, deriveKey, type Prf } from './kdf.js';
export { SoftwareKeyStore, SCRYPT_MIN_LOG2N, type SoftwareKeyStoreOptions } from './software-store.js';
export { Pkcs11KeyStore, type Pkcs11Options } from './pkcs11-store.js';
export * from './factory.js';
export * from './factory-list.js';
export * from './factory-import.js';
export { PSK_MIN_KEY_BYTES, PSK_MAX_KEY_BYTES } from './psk-limits.js';
export { CertificateAuthority, CaError, CA_COMMON_NAME, type CertificateAuthorityOptions, type CaSealing, type IssuedCertificate } from './ca.js';
export { createCsr, parseCsr, CsrError, commonNameSubject, type CertificationRequest } from './pkcs10.js';
export { certsOnly, parseCertsOnly } from './pkcs7.js';
export { EstContentFormat, EstPath } from './est-media.js';
