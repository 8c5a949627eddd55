/**
 * The console's entry: who is signed in (GET /api/me), the header, and the hash routes #/devices, #/devices/<ep>,
 * #/firmware, #/firmware/campaigns/<id>, #/credentials, #/credentials/rotations/<id> and #/audit?<filters>. Viewers
 * do not get the buttons that change things (the API would refuse them with 403 anyway).
 */
import { call, onUnauthorized, setCsrfToken, type Session } from './api.js';
import { renderDevice } from './device.js';
import { renderDevices } from './devices.js';
import { h, replace } from './dom.js';
import { renderAudit } from './audit.js';
import { renderCredentials, renderRotation } from './credentials.js';
import { renderCampaign, renderFirmware } from './firmware.js';
import { renderLogin } from './login.js';

const app = document.getElementById('app')!;
const bar = document.getElementById('bar')!;
let session: Session | undefined;
let cleanup: (() => void) | undefined;

function signedIn(s: Session): void {
  session = s;
  setCsrfToken(s.csrfToken);
  if (!/^#\/(?:devices|firmware|credentials|audit)(?:[/?]|$)/.test(location.hash)) location.hash = '#/devices';
  route();
}

function signedOut(notice?: string): void {
  session = undefined;
  setCsrfToken(undefined);
  cleanup?.();
  cleanup = undefined;
  replace(bar, h('span', { class: 'brand' }, 'Warden'));
  renderLogin(app, signedIn, notice);
}

function header(s: Session): void {
  const out = h('button', { id: 'sign-out', type: 'button' }, 'Sign out');
  out.addEventListener('click', () => {
    out.disabled = true;
    call('POST', '/api/logout')
      .catch(() => {})
      .finally(() => signedOut('Signed out.'));
  });
  replace(bar,
    h('a', { class: 'brand', href: '#/devices' }, 'Warden'),
    h('nav', {},
      h('a', { href: '#/devices', id: 'nav-devices' }, 'Devices'), ' ',
      h('a', { href: '#/firmware', id: 'nav-firmware' }, 'Firmware'), ' ',
      h('a', { href: '#/credentials', id: 'nav-credentials' }, 'Credentials'), ' ',
      h('a', { href: '#/audit', id: 'nav-audit' }, 'Audit'),
    ),
    h('span', { id: 'whoami', class: 'muted' }, `${s.username} (${s.role})`),
    out,
  );
}

function route(): void {
  if (session === undefined) return signedOut();
  cleanup?.();
  cleanup = undefined;
  header(session);
  const hash = location.hash.replace(/^#/, '');
  const [path = '', query = ''] = hash.split('?');
  const canOperate = session.role !== 'viewer';
  const c = /^\/firmware\/campaigns\/(\d+)$/.exec(path);
  if (c !== null) {
    cleanup = renderCampaign(app, Number(c[1]), canOperate);
    return;
  }
  if (path === '/firmware') {
    cleanup = renderFirmware(app, canOperate);
    return;
  }
  const r = /^\/credentials\/rotations\/(\d+)$/.exec(path);
  if (r !== null) {
    cleanup = renderRotation(app, Number(r[1]));
    return;
  }
  if (path === '/credentials') {
    cleanup = renderCredentials(app, canOperate);
    return;
  }
  if (path === '/audit' || path === '/audit/requests') {
    cleanup = renderAudit(app, new URLSearchParams(query), { requests: path === '/audit/requests', admin: session.role === 'admin' });
    return;
  }
  const m = /^\/devices\/(.+)$/.exec(path);
  if (m !== null) {
    cleanup = renderDevice(app, decodeURIComponent(m[1]!), session.role);
    return;
  }
  cleanup = renderDevices(app, new URLSearchParams(query));
}

onUnauthorized(() => {
  if (session !== undefined) signedOut('Your session ended. Sign in again.');
});
window.addEventListener('hashchange', () => {
  if (session !== undefined) route();
});

call<Session>('GET', '/api/me')
  .then(({ data }) => signedIn(data))
  .catch(() => signedOut());
