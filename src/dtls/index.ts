/** The DTLS 1.2 layer's public surface. */
export * from './types.js';
export { DtlsAlert, AlertDescription, AlertLevel, alertName } from './alert.js';
export { DtlsServer, DEFAULT_SERVER_SUITES } from './server.js';
export type { DtlsServerOptions, HandshakeEvent, HandshakeFailureEvent, ExportedSession, PeerCredential, SessionInfo } from './server.js';
export { DtlsClient, defaultClientSuites } from './client.js';
export type { DtlsClientOptions } from './client.js';
export type { DtlsSession } from './session.js';
export { DtlsConnection } from './connection.js';
export { DEFAULT_RETRANSMIT_INITIAL, MAX_RETRANSMIT_TIMEOUT } from './flight.js';
