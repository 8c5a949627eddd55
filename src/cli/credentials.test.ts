import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { createApi } from '../api/index.js';
import { FakeServer, testModel } from '../api/fake-server.js';
import { RotationManager } from '../bootstrap/index.js';
import { SimulatedFleet } from '../bootstrap/rotation-sim.js';
import { AuditLog, SecretBox, SecurityStore, SqliteStore } from '../store/index.js';
import { credentialsRotate, credentialsStatus, registerCredentialsCommands, type CredentialsCliIo } from './credentials.js';

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
    url, rotation,
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
      const flags = { api: w.url, apiToken: TOKEN, data: '/nonexistent' };
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
      await assert.rejects(credentialsStatus({ ...flags, apiToken: 'wrong' }, io()), /401/);
    } finally {
      await w.close();
    }
  });

  it('registers rotate, status and audit with help', () => {
    const program = new Command().exitOverride();
    registerCredentialsCommands(program, io());
    const cmd = program.commands.find((c) => c.name() === 'credentials')!;
    assert.deepEqual(cmd.commands.map((c) => c.name()), ['rotate', 'status', 'audit']);
    assert.match(cmd.commands[0]!.helpInformation(), /--group <name>/);
  });
});
