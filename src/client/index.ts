/** Public surface of the LwM2M client layer. */
export { Lwm2mClient, type ClientDtlsOptions, type Lwm2mClientOptions, type RetryOptions } from './client.js';
export {
  checkSchemeAndMode,
  dtlsClientOptions,
  findSecurityAccount,
  securityCredentials,
  splitDer,
  type ClientSecurity,
  type DtlsExtras,
  type SecurityAccount,
  type SecurityCredentials,
} from './security.js';
export { DtlsLink } from './dtls-link.js';
export {
  BaseInstance,
  ObjectEnabler,
  type ClientAction,
  type EnablerHost,
  type ExecuteArgs,
  type InstanceFactory,
  type ObjectEnablerOptions,
  type ObjectInstance,
} from './object.js';
export { ObjectTree } from './tree.js';
export { AttributeStore } from './attribute-store.js';
export { ObservationManager, type ObservationHost } from './observe.js';
export { RequestDispatcher, type DispatchHost } from './dispatch.js';
export { parseExecuteArgs } from './execute-args.js';
export { objectLinks, registerQuery, type Lwm2mVersion, type RegisterParams } from './registration.js';
export { Scheduler } from './scheduler.js';
export * from './value.js';
export * from './objects/index.js';
export { enroll, reenroll, caCertificates, EstError, type EnrollOptions, type EnrollResult } from './est.js';
export { createPackageFetcher, type PackageFetcherOptions } from './fetch-package.js';
