import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRegistry, Lwm2mError, type ResourceNode } from '../../lwm2m/index.js';
import { timerHost as host } from '../test-host.js';
import { FirmwareObject, FirmwareResource } from './firmware.js';
import { FirmwareState, UpdateResult } from './firmware-state.js';
import {
  FirmwareFailure,
  FirmwareProtocol,
  type FirmwareContext,
  type FirmwareRestored,
  type FirmwareUpdater,
  type InstallOutcome,
  type PackageInfo,
} from './firmware-updater.js';

const definition = new ModelRegistry().object(5)!;

/** An updater that records calls and answers from a script; promises resolve on the next turn. */
class ScriptedUpdater implements FirmwareUpdater {
  readonly protocols = [FirmwareProtocol.CoAP, FirmwareProtocol.HTTP];
  readonly calls: string[] = [];
  restored: FirmwareRestored | undefined;
  downloadError: FirmwareFailure | undefined;
  outcome: InstallOutcome = { kind: 'installed', version: '2.0.0' };

  restore(): FirmwareRestored | undefined {
    return this.restored;
  }
  async download(uri: string): Promise<void> {
    this.calls.push(`download ${uri}`);
    if (this.downloadError) throw this.downloadError;
  }
  async receive(pkg: Uint8Array): Promise<void> {
    this.calls.push(`receive ${pkg.length}`);
  }
  async verify(_ctx: FirmwareContext): Promise<PackageInfo> {
    this.calls.push('verify');
    return { name: 'fw', version: '2.0.0' };
  }
  async install(info: PackageInfo): Promise<InstallOutcome> {
    this.calls.push(`install ${info.version}`);
    return this.outcome;
  }
  async discard(): Promise<void> {
    this.calls.push('discard');
  }
}


const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 40));
const uri = (value: string): ResourceNode => ({ kind: 'singleResource', id: 1, value: { type: 'string', value } });
const pkg = (bytes: number): ResourceNode => ({ kind: 'singleResource', id: 0, value: { type: 'opaque', value: new Uint8Array(bytes) } });

function statusOf(obj: FirmwareObject): [number, number] {
  const s = obj.firmware.firmwareStatus;
  return [s.state, s.result];
}

test('pull: Package URI downloads, verifies and an install without reboot ends Idle with Success', async () => {
  const updater = new ScriptedUpdater();
  let installed = '';
  const obj = new FirmwareObject(definition, { updater, onInstalled: (v) => (installed = v) });
  obj.firmware.write(FirmwareResource.PackageUri, uri('coap://h/fw/1'), true);
  assert.deepEqual(statusOf(obj), [FirmwareState.Downloading, UpdateResult.Initial]);
  await settle();
  assert.deepEqual(statusOf(obj), [FirmwareState.Downloaded, UpdateResult.Initial]);
  obj.firmware.execute(FirmwareResource.Update, new Map());
  await settle();
  assert.deepEqual(statusOf(obj), [FirmwareState.Idle, UpdateResult.Success]);
  assert.equal(installed, '2.0.0');
  assert.deepEqual(updater.calls, ['download coap://h/fw/1', 'verify', 'install 2.0.0']);
});

test('push: a Package write goes to receive, then verify', async () => {
  const updater = new ScriptedUpdater();
  const obj = new FirmwareObject(definition, { updater });
  obj.firmware.write(FirmwareResource.Package, pkg(300), true);
  await settle();
  assert.deepEqual(updater.calls, ['receive 300', 'verify']);
  assert.deepEqual(statusOf(obj), [FirmwareState.Downloaded, UpdateResult.Initial]);
});

test('an unparsable URI fails with 7, a scheme outside Protocol Support with 9, and the download is discarded', async () => {
  for (const [value, result] of [
    ['not a uri', UpdateResult.InvalidUri],
    ['coaps://h/fw/1', UpdateResult.UnsupportedProtocol],
  ] as const) {
    const updater = new ScriptedUpdater();
    const obj = new FirmwareObject(definition, { updater });
    obj.firmware.write(FirmwareResource.PackageUri, uri(value), true);
    await settle();
    assert.deepEqual(statusOf(obj), [FirmwareState.Idle, result]);
    assert.deepEqual(updater.calls, ['discard']);
  }
});

test('a download failure sets its Update Result and returns to Idle', async () => {
  const updater = new ScriptedUpdater();
  updater.downloadError = new FirmwareFailure(UpdateResult.ConnectionLost, 'gone');
  const obj = new FirmwareObject(definition, { updater });
  obj.firmware.write(FirmwareResource.PackageUri, uri('http://h/fw/1'), true);
  await settle();
  assert.deepEqual(statusOf(obj), [FirmwareState.Idle, UpdateResult.ConnectionLost]);
});

test('an install that needs a reboot calls onReboot and stays Updating until the next run', async () => {
  const updater = new ScriptedUpdater();
  updater.outcome = { kind: 'reboot' };
  let reboots = 0;
  const obj = new FirmwareObject(definition, { updater, onReboot: () => reboots++ });
  obj.firmware.write(FirmwareResource.Package, pkg(10), true);
  await settle();
  obj.firmware.execute(FirmwareResource.Update, new Map());
  await settle();
  assert.equal(reboots, 1);
  assert.deepEqual(statusOf(obj), [FirmwareState.Updating, UpdateResult.Initial]);
  assert.throws(() => obj.firmware.write(FirmwareResource.PackageUri, uri('coap://h/x'), true), Lwm2mError);
});

test('after a reboot: an interrupted pull resumes once the client runs; a finished install reports its result', async () => {
  const updater = new ScriptedUpdater();
  updater.restored = { kind: 'downloading', uri: 'coap://h/fw/7' };
  const obj = new FirmwareObject(definition, { updater });
  assert.deepEqual(statusOf(obj), [FirmwareState.Downloading, UpdateResult.Initial]);
  const read = obj.firmware.read(FirmwareResource.PackageUri);
  assert.equal(read?.kind === 'singleResource' && read.value.value, 'coap://h/fw/7');
  assert.deepEqual(updater.calls, []);
  obj.attach(host);
  await settle();
  assert.deepEqual(updater.calls, ['download coap://h/fw/7', 'verify']);
  assert.deepEqual(statusOf(obj), [FirmwareState.Downloaded, UpdateResult.Initial]);
  obj.detach();

  const reverted = new ScriptedUpdater();
  reverted.restored = { kind: 'updated', result: UpdateResult.UpdateFailed, info: { name: 'fw', version: '2.0.0' } };
  const after = new FirmwareObject(definition, { updater: reverted });
  assert.deepEqual(statusOf(after), [FirmwareState.Idle, UpdateResult.UpdateFailed]);
  const version = after.firmware.read(FirmwareResource.PkgVersion);
  assert.equal(version?.kind === 'singleResource' && version.value.value, '2.0.0');

  const stored = new ScriptedUpdater();
  stored.restored = { kind: 'downloaded', info: { name: 'fw', version: '3.0.0' } };
  const ready = new FirmwareObject(definition, { updater: stored });
  assert.deepEqual(statusOf(ready), [FirmwareState.Downloaded, UpdateResult.Initial]);
  ready.firmware.execute(FirmwareResource.Update, new Map());
  await settle();
  assert.deepEqual(stored.calls, ['install 3.0.0']);
});

test('the reset write (empty URI) discards what is stored', async () => {
  const updater = new ScriptedUpdater();
  const obj = new FirmwareObject(definition, { updater });
  obj.firmware.write(FirmwareResource.PackageUri, uri('coap://h/fw/1'), true);
  await settle();
  obj.firmware.write(FirmwareResource.PackageUri, uri(''), true);
  await settle();
  assert.deepEqual(statusOf(obj), [FirmwareState.Idle, UpdateResult.Initial]);
  assert.equal(updater.calls.at(-1), 'discard');
});

test('a test-mode boot starts Updating; confirmed() ends it with Success and the new version', () => {
  const updater = new ScriptedUpdater();
  updater.restored = { kind: 'testing', info: { name: 'fw', version: '4.0.0' } };
  let installed = '';
  const obj = new FirmwareObject(definition, { updater, onInstalled: (v) => (installed = v) });
  assert.deepEqual(statusOf(obj), [FirmwareState.Updating, UpdateResult.Initial]);
  assert.throws(() => obj.firmware.write(FirmwareResource.PackageUri, uri('coap://h/x'), true), Lwm2mError);
  obj.firmware.confirmed();
  assert.deepEqual(statusOf(obj), [FirmwareState.Idle, UpdateResult.Success]);
  assert.equal(installed, '4.0.0');
  obj.firmware.confirmed();
  assert.deepEqual(statusOf(obj), [FirmwareState.Idle, UpdateResult.Success]);
});
