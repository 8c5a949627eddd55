export { Lwm2mServer, type ServerOptions, type Authorizer } from './server.js';
export { Registration, parseRegistrationParams, SUPPORTED_VERSIONS, DEFAULT_LIFETIME } from './registration.js';
export { ServerError } from './error.js';
export type * from './types.js';
export { estHandler, type EstHandlerOptions } from './est.js';
