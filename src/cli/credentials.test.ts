import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { createApi } from '../api/index.js';
import { FakeServer, testModel } from '../api/fake-server.js';
import { RotationManager } from '../bootstrap/index.js';
import { SimulatedFleet } from '../bootstrap/rotation-sim.js';
import { CertificateAuthority, createCsr } from '../keys/index.js';
import { AuditLog, SecretBox, SecurityStore, SqliteStore } from '../store/index.js';
import { tokenFile } from './test-token.js';
import {
  credentialsAudit,
  credentialsCertificates,
  credentialsRevoke,
  credentialsRotate,
  credentialsStatus,
  registerCredentialsCommands,
  type CredentialsCliIo,
} from './credentials.js';

const TOKEN = 'cli-credentials-token-0123';

function io(): CredentialsCliIo & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => void lines.push(l), err: (l) => void lines.push(`ERR ${l}`) };
}

async function warden() {
  const store = new SqliteStore(':memory:');
  const security = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)));
  const audit = new AuditLog(store);
  const fleet = new SimulatedFleet();
  for (const ep of ['d1', 'd2']) {
    const key = new Uint8Array(randomBytes(32));
    security.add({ endpoint: ep, mode: 'psk', pskIdentity: ep, pskKey: key });
    fleet.register(security, fleet.add(ep, ep, key));
  }
  fleet.devices.get('d2')!.online = false;
  fleet.devices.get('d2')!.registeredAs = undefined;
  const rotation = new RotationManager({ store, security, audit, driver: fleet.driver(security), proofTimeout: 100, retryDelay: 1, maxAttempts: 2 });
  const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN, credentials: { rotation, audit } });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url, rotation, audit,
    async close() {
      await app.close();
      await rotation.close();
      store.close();
    },
  };
}

describe('warden credentials', () => {
  it('rotate starts a campaign through the API; status shows per-device states and failures', async () => {
    const w = await warden();
    try {
      const flags = { api: w.url, tokenFile: tokenFile(TOKEN), data: '/nonexistent' };
      const o = io();
      const id = await credentialsRotate({ ...flags, all: true, concurrency: '2' }, o);
      assert.match(o.lines[0]!, new RegExp(`^rotation ${id} started \\(all\\)`));
      await w.rotation.wait(id);
      const s = io();
      await credentialsStatus({ ...flags, id: String(id) }, s);
      assert.match(s.lines[0]!, /finished .*done=1 failed=1/);
      assert.match(s.lines.find((l) => l.startsWith('d1'))!, /^d1\tdone\tattempts=1$/);
      assert.match(s.lines.find((l) => l.startsWith('d2'))!, /^d2\tfailed\tattempts=2\t.*not registered/);
      const l = io();
      await credentialsStatus(flags, l);
      assert.match(l.lines[0]!, new RegExp(`^${id}\tfinished\tall`));
      await assert.rejects(credentialsRotate({ ...flags, all: true, endpoint: 'd1' }, io()), /exactly one/);
      await assert.rejects(credentialsRotate({ ...flags, group: 'g' }, io()), /404/);
      await assert.rejects(credentialsStatus({ ...flags, tokenFile: tokenFile('wrong') }, io()), /401/);
    } finally {
      await w.close();
    }
  });

  it('audit filters by actor and pages with offset', async () => {
    const w = await warden();
    try {
      const flags = { api: w.url, tokenFile: tokenFile(TOKEN), data: '/nonexistent' };
      w.audit.record({ endpoint: 'd1', kind: 'created', actor: 'bootstrap' });
      w.audit.record({ endpoint: 'd2', kind: 'revoked', actor: 'cli' });
      w.audit.record({ endpoint: 'd1', kind: 'revoked', actor: 'cli' });
      const byCli = io();
      await credentialsAudit({ ...flags, actor: 'cli' }, byCli);
      assert.deepEqual(byCli.lines.map((l) => l.split('\t').slice(1, 4).join(' ')), ['d1 revoked cli', 'd2 revoked cli']);
      const page = io();
      await credentialsAudit({ ...flags, actor: 'cli', limit: '1', offset: '1' }, page);
      assert.deepEqual(page.lines.map((l) => l.split('\t')[1]), ['d2']);
      const none = io();
      await credentialsAudit({ ...flags, until: '1000' }, none);
      assert.deepEqual(none.lines, ['no credential events']);
    } finally {
      await w.close();
    }
  });

  it('registers rotate, status and audit with help', () => {
    const program = new Command().exitOverride();
    registerCredentialsCommands(program, io());
    const cmd = program.commands.find((c) => c.name() === 'credentials')!;
    assert.deepEqual(cmd.commands.map((c) => c.name()), ['rotate', 'status', 'audit', 'certificates', 'revoke']);
    assert.match(cmd.commands[0]!.helpInformation(), /--group <name>/);
    assert.match(cmd.commands[2]!.helpInformation(), /--actor <actor>[\s\S]*--until <time>[\s\S]*--offset <n>/);
    assert.match(cmd.commands[3]!.helpInformation(), /--endpoint <name>[\s\S]*--limit <n>/);
    assert.match(cmd.commands[4]!.helpInformation(), /revoke certificates[\s\S]*--serial <hex>[\s\S]*--endpoint <name>/);
  });

  it('certificates lists what the CA issued as a table; revoke by serial and by endpoint prints how many', async () => {
    const store = new SqliteStore(':memory:');
    let now = new Date('2026-03-01T12:00:00Z');
    const ca = await CertificateAuthority.create({ store, box: SecretBox.fromKey(randomBytes(32)), now: () => now });
    const audit = new AuditLog(store);
    const issue = (endpoint: string) => {
      const c = ca.issue(createCsr({ commonName: endpoint, ...generateKeyPairSync('ec', { namedCurve: 'P-256' }) }), { endpoint });
      now = new Date(now.getTime() + 60_000);
      return c.serial;
    };
    const [a, b, c] = [issue('d1'), issue('d1'), issue('d2')];
    const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN, certificates: { ca, audit } });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const flags = { api: url, tokenFile: tokenFile(TOKEN), data: '/nonexistent' };
      const t = io();
      await credentialsCertificates(flags, t);
      assert.match(t.lines[0]!, /^SERIAL +ENDPOINT +ISSUED +NOT AFTER +REVOKED$/);
      assert.deepEqual(t.lines.slice(1).map((l) => l.split(/ {2,}/)), [
        [c, 'd2', '2026-03-01T12:02:00Z', '2027-03-01T12:02:00Z', '-'],
        [b, 'd1', '2026-03-01T12:01:00Z', '2027-03-01T12:01:00Z', '-'],
        [a, 'd1', '2026-03-01T12:00:00Z', '2027-03-01T12:00:00Z', '-'],
      ]);
      const column = t.lines[0]!.indexOf('ENDPOINT');
      for (const l of t.lines.slice(1)) assert.equal(l.indexOf(' d') + 1, column, `columns aligned: ${l}`);

      const one = io();
      assert.equal(await credentialsRevoke({ ...flags, serial: a }, one), 1);
      assert.deepEqual(one.lines, [`revoked 1 certificate: ${a}`]);
      const mine = io();
      await credentialsCertificates({ ...flags, endpoint: 'd1' }, mine);
      assert.equal(mine.lines.length, 3);
      assert.match(mine.lines[2]!, new RegExp(`^${a} +d1 .* 2026-03-01T12:03:00Z$`));
      await assert.rejects(credentialsRevoke({ ...flags, serial: a }, io()), /409/);
      const all = io();
      assert.equal(await credentialsRevoke({ ...flags, endpoint: 'd1' }, all), 1);
      assert.deepEqual(all.lines, [`revoked 1 certificate: ${b}`]);
      await assert.rejects(credentialsRevoke({ ...flags, endpoint: 'd1' }, io()), /404/);
      await assert.rejects(credentialsRevoke({ ...flags, endpoint: 'd1', serial: a }, io()), /exactly one/);
      await assert.rejects(credentialsRevoke(flags, io()), /exactly one/);
      await assert.rejects(credentialsCertificates({ ...flags, tokenFile: tokenFile('wrong') }, io()), /401/);
      const none = io();
      await credentialsCertificates({ ...flags, endpoint: 'nobody' }, none);
      assert.deepEqual(none.lines, ['no certificates']);
      assert.equal(ca.certificate(c)?.revokedAt, undefined);
    } finally {
      await app.close();
      store.close();
    }
  });
});
