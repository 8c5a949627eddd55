/** Public surface of the bootstrap layer. */
export * from './config.js';
export { BootstrapError, type BootstrapErrorCode } from './error.js';
export { BootstrapSession, transition, isTerminal, type BootstrapEvent, type BootstrapState } from './session.js';
export * from './writer.js';
export * from './server.js';
export * from './rotation.js';
export * from './rotation-driver.js';
