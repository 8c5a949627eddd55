import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lwm2mError } from '../../lwm2m/index.js';
import { FirmwareState as S, firmwareTransition, initialFirmwareStatus, UpdateResult as R, type FirmwareEvent, type FirmwareStatus } from './firmware-state.js';

const st = (state: FirmwareStatus['state'], result = 0): FirmwareStatus => ({ state, result });

test('the legal path: Idle -> Downloading -> Downloaded -> Updating -> Idle (success)', () => {
  let s = initialFirmwareStatus;
  s = firmwareTransition(s, { type: 'write', empty: false });
  assert.deepEqual(s, st(S.Downloading));
  s = firmwareTransition(s, { type: 'download-ok' });
  assert.deepEqual(s, st(S.Downloaded));
  s = firmwareTransition(s, { type: 'execute-update' });
  assert.deepEqual(s, st(S.Updating));
  s = firmwareTransition(s, { type: 'update-ok' });
  assert.deepEqual(s, st(S.Idle, R.Success));
  // A new write starts over and clears the result.
  assert.deepEqual(firmwareTransition(s, { type: 'write', empty: false }), st(S.Downloading, R.Initial));
});

test('download failures go back to Idle with their result; an empty write resets', () => {
  for (const result of [2, 3, 4, 5, 6, 7, 9] as const) {
    assert.deepEqual(firmwareTransition(st(S.Downloading), { type: 'download-failed', result }), st(S.Idle, result));
  }
  assert.deepEqual(firmwareTransition(st(S.Downloading), { type: 'write', empty: true }), st(S.Idle));
  assert.deepEqual(firmwareTransition(st(S.Downloaded), { type: 'write', empty: true }), st(S.Idle));
  assert.deepEqual(firmwareTransition(st(S.Idle, R.InvalidUri), { type: 'write', empty: true }), st(S.Idle));
});

test('a failed update returns to Downloaded (8) or to Idle for an integrity failure', () => {
  assert.deepEqual(firmwareTransition(st(S.Updating), { type: 'update-failed', result: R.UpdateFailed }), st(S.Downloaded, R.UpdateFailed));
  assert.deepEqual(firmwareTransition(st(S.Updating), { type: 'update-failed', result: R.IntegrityCheckFailure }), st(S.Idle, R.IntegrityCheckFailure));
  // From Downloaded after a failure the update can be retried.
  assert.deepEqual(firmwareTransition(st(S.Downloaded, R.UpdateFailed), { type: 'execute-update' }), st(S.Updating));
});

test('illegal server-triggered transitions are refused with 4.00 / 4.05', () => {
  const code = (s: FirmwareStatus, e: FirmwareEvent) => {
    try {
      firmwareTransition(s, e);
    } catch (err) {
      assert.ok(err instanceof Lwm2mError);
      return err.code;
    }
    assert.fail('expected a refusal');
  };
  for (const state of [S.Downloading, S.Downloaded, S.Updating]) {
    assert.equal(code(st(state), { type: 'write', empty: false }), 128, `package write in state ${state}`);
  }
  assert.equal(code(st(S.Updating), { type: 'write', empty: true }), 128, 'reset while updating');
  for (const state of [S.Idle, S.Downloading, S.Updating]) {
    assert.equal(code(st(state), { type: 'execute-update' }), 133, `Update in state ${state}`);
  }
});

test('device-side events in the wrong state are programming errors', () => {
  assert.throws(() => firmwareTransition(st(S.Idle), { type: 'download-ok' }), /download-ok/);
  assert.throws(() => firmwareTransition(st(S.Downloaded), { type: 'download-failed', result: 4 }), /download-failed/);
  assert.throws(() => firmwareTransition(st(S.Downloaded), { type: 'update-ok' }), /update-ok/);
  assert.throws(() => firmwareTransition(st(S.Idle), { type: 'update-failed', result: 8 }), /update-failed/);
});
