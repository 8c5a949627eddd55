import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FirmwareObject, FirmwareResource } from '../client/objects/firmware.js';
import { FirmwareState, UpdateResult } from '../client/objects/firmware-state.js';
import { timerHost as host } from '../client/test-host.js';
import { ModelRegistry, type ResourceNode } from '../lwm2m/index.js';
import { Device } from './device.js';
import { deviceOptions, factoryFlash, imagePackage, imagePair, MemoryFetcher, testLayout } from './test-helpers.js';

const definition = new ModelRegistry().object(5)!;

const [oldImage, newImage] = imagePair(11, 16_000);
const URI = 'coap://127.0.0.1/fw/2';

/** Lets Object 5's background step run until `done` holds (bounded, no timing assertion). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => (i < 100 ? setImmediate(r) : setTimeout(r, 5)));
  assert.ok(done(), 'Object 5 step did not finish');
}

function statusOf(obj: FirmwareObject): [number, number] {
  const s = obj.firmware.firmwareStatus;
  return [s.state, s.result];
}

test('Object 5 over the device: pull, update with a reboot, Success after the test boot; a bad push is an integrity failure', async () => {
  const layout = testLayout(32);
  const fetcher = new MemoryFetcher(512);
  fetcher.put(URI, imagePackage(newImage, 2, '2.0.0'));
  const opts = deviceOptions(layout, { fetcher: fetcher.fetch });
  const flash = factoryFlash(layout, imagePackage(oldImage, 1, '1.0.0'));
  let device = await Device.open(flash, opts);
  let rebooted = false;
  let obj = new FirmwareObject(definition, { updater: device.updater, onReboot: () => (rebooted = true) });
  obj.attach(host);
  obj.firmware.write(FirmwareResource.PackageUri, { kind: 'singleResource', id: 1, value: { type: 'string', value: URI } }, true);
  await until(() => obj.firmware.firmwareStatus.state === FirmwareState.Downloaded);
  obj.firmware.execute(FirmwareResource.Update, new Map());
  await until(() => rebooted);
  obj.detach();

  device = await Device.open(flash, opts);
  assert.equal(device.version, '2.0.0');
  obj = new FirmwareObject(definition, { updater: device.updater });
  assert.deepEqual(statusOf(obj), [FirmwareState.Updating, UpdateResult.Initial], 'Updating until the test image is confirmed');
  assert.equal(await device.checkHealth(), true);
  obj.firmware.confirmed();
  assert.deepEqual(statusOf(obj), [FirmwareState.Idle, UpdateResult.Success]);

  const bad = imagePackage(newImage, 3, '3.0.0');
  bad[bad.length - 1]! ^= 1;
  obj.attach(host);
  const pkg: ResourceNode = { kind: 'singleResource', id: 0, value: { type: 'opaque', value: bad } };
  obj.firmware.write(FirmwareResource.Package, pkg, true);
  await until(() => obj.firmware.firmwareStatus.result !== UpdateResult.Success && obj.firmware.firmwareStatus.state === FirmwareState.Idle);
  assert.deepEqual(statusOf(obj), [FirmwareState.Idle, UpdateResult.IntegrityCheckFailure]);
  obj.detach();
  assert.equal((await Device.open(flash, opts)).version, '2.0.0');
});
