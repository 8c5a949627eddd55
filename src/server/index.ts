export { Lwm2mServer, type ServerOptions, type Authorizer } from './server.js';
export { Registration, parseRegistrationParams, SUPPORTED_VERSIONS, DEFAULT_LIFETIME } from './registration.js';
export { ServerError } from './error.js';
export type * from './types.js';
export { estHandler, type EstHandlerOptions } from './est.js';
export { DeviceInventory, securityModeOf, type DeviceInventoryOptions, type InventoryEntry, type InventoryQuery, type InventorySecurityMode } from './inventory.js';
export { recordRegistrations } from './registration-history.js';
export { collectFirmwareFacts, firmwareFactsOf, type FirmwareFactsOptions } from './firmware-facts.js';
