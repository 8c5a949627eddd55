export { SqliteStore } from './sqlite.js';
export type { RegistrationRow, ObservationRow } from './sqlite.js';
export * from './security.js';
export { DtlsSessionStore } from './dtls-sessions.js';
