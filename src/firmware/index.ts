/** The firmware layer: signed manifests (COSE_Sign1), package files and their verification. */
export { FirmwareError, type FirmwareErrorCode } from './error.js';
export {
  classIdFor,
  decodeManifest,
  DIGEST_LENGTH,
  encodeManifest,
  ID_LENGTH,
  imageRef,
  MANIFEST_FORMAT,
  manifestToJson,
  uuidString,
  uuidV5,
  vendorIdFor,
  type DeltaPayload,
  type ImagePayload,
  type ImageRef,
  type Manifest,
} from './manifest.js';
export {
  ALG_EDDSA,
  ALG_ES256,
  assembleCose1,
  COSE_SIGN1_TAG,
  cose1ToBeSigned,
  coseAlgOf,
  keyId,
  parseCose1,
  sigStructure,
  signCose1,
  signCose1Async,
  verifyCose1,
  type CoseSign1,
} from './cose.js';
export { keyObjectSigner, keyStoreSigner, type FirmwareSigner, type FirmwareSigningAlg, type SigningKeyStore } from './signer.js';
export {
  decodePackage,
  encodePackage,
  MAX_ENVELOPE_LENGTH,
  PACKAGE_MAGIC,
  PACKAGE_VERSION,
  parsePackageHeader,
  signPackage,
  signPackageAsync,
  type PackageHeader,
} from './package.js';
export { PayloadVerifier, verifyManifest, verifyPackage, type VerifyOptions } from './verify.js';
export { createPatch, type CreatePatchOptions } from './delta-encode.js';
export { PatchApplier, applyPatch, applyPatchSync, type PatchTarget } from './delta-apply.js';
export { parseDeltaHeader, DELTA_MAGIC, DELTA_VERSION, DELTA_HEADER_LENGTH, BATCH_BUFFER, type DeltaHeader } from './delta-format.js';
export {
  createInPlacePatch,
  applyInPlace,
  applyInPlaceStream,
  parseInPlaceLayout,
  readInPlaceLayout,
  inPlaceWriteOrder,
  inPlacePageAt,
  PATCH_PIECE,
  type InPlaceLayout,
  type InPlaceRun,
  type InPlaceFlash,
  type PatchSource,
} from './delta-inplace.js';
export {
  checkPackage,
  FirmwareRepository,
  FirmwareRepositoryError,
  isPackageId,
  MAX_PACKAGE_SIZE,
  resolveTargetIds,
  type FirmwareFilter,
  type FirmwarePackage,
  type FirmwareRepositoryErrorCode,
  type FirmwareRepositoryOptions,
} from './repository.js';
export { FIRMWARE_PATH, firmwareCoapRoute, packageEtag, type FirmwareCoapRouteOptions } from './coap-route.js';
export { FirmwareHttpServer, httpEtag, parseRange, type ByteRange, type FirmwareHttpOptions } from './http-download.js';
export { packageSchemes, packageUri, type PackageScheme, type PackageUriConfig } from './package-uri.js';
export * from './campaign-model.js';
export * from './campaign.js';
export { lwm2mCampaignDriver, registrationAttributes, type Lwm2mCampaignDriverOptions } from './campaign-driver.js';
