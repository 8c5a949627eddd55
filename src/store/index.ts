export { SqliteStore } from './sqlite.js';
export type { RegistrationRow, ObservationRow } from './sqlite.js';
export * from './security.js';
export { DtlsSessionStore } from './dtls-sessions.js';
export { AuditLog, AuditError, AUDIT_KINDS, type AuditEvent, type AuditKind, type AuditQuery, type NewAuditEvent } from './audit.js';
