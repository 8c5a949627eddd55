/** Keeps each registration's start and end (Core §6.2.1 Register, §6.2.3 De-register, lifetime expiry) in the device event log. */
import type { DeviceEventLog } from '../store/device-events.js';
import type { DeviceManagement, Registration } from './types.js';

/** Records registrations and their ends from now on; returns the function that stops. */
export function recordRegistrations(server: Pick<DeviceManagement, 'on' | 'off'>, log: Pick<DeviceEventLog, 'record'>, now: () => number = Date.now): () => void {
  const onRegistered = (reg: Registration): void => {
    const at = reg.address.includes(':') ? `[${reg.address}]:${reg.port}` : `${reg.address}:${reg.port}`;
    log.record({ endpoint: reg.endpoint, time: reg.registeredAt, kind: 'registered', detail: `from ${at}${reg.secure ? ' over DTLS' : ''}, id ${reg.registrationId}` });
  };
  const onDeregistered = (reg: Registration, reason: 'deregister' | 'expired' | 'replaced'): void => {
    const kind = reason === 'deregister' ? 'deregistered' : reason;
    log.record({ endpoint: reg.endpoint, time: now(), kind, detail: `id ${reg.registrationId}` });
  };
  server.on('registered', onRegistered);
  server.on('deregistered', onDeregistered);
  return () => {
    server.off('registered', onRegistered);
    server.off('deregistered', onDeregistered);
  };
}
