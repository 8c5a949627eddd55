export { SqliteStore } from './sqlite.js';
export type { RegistrationRow, ObservationRow } from './sqlite.js';
export * from './security.js';
export { DtlsSessionStore } from './dtls-sessions.js';
export { AuditLog, AuditError, AUDIT_KINDS, type AuditEvent, type AuditKind, type AuditQuery, type NewAuditEvent } from './audit.js';
export { UserStore, UserStoreError, ROLES, roleAtLeast, weakerRole, isRole, type Role, type User, type UserStoreOptions } from './users.js';
export { SessionStore, DEFAULT_SESSION_LIMITS, type Session, type SessionLimits } from './api-sessions.js';
export { ApiTokenStore, TOKEN_SCOPES, TOKEN_PREFIX, SCOPE_ROLE, isTokenScope, parseLifetime, type ApiToken, type TokenGrant, type TokenScope } from './api-tokens.js';
export { hashPassword, verifyPassword, checkPasswordPolicy, DEFAULT_SCRYPT, MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH, type ScryptParams } from './password.js';
