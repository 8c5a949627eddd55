import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CampaignError,
  checkFirmwareTransition,
  DEVICE_FIRMWARE_STATES,
  evaluateCampaign,
  globMatch,
  parseShare,
  planWaves,
  validateSettings,
  DEFAULT_CAMPAIGN_SETTINGS,
  type DeviceFirmwareState,
  type WaveTally,
} from './index.js';

const LEGAL: Record<DeviceFirmwareState, DeviceFirmwareState[]> = {
  queued: ['delivering', 'failed', 'cancelled'],
  delivering: ['downloading', 'downloaded', 'updating', 'queued', 'failed', 'cancelled'],
  downloading: ['downloaded', 'queued', 'failed', 'cancelled'],
  downloaded: ['updating', 'failed', 'cancelled'],
  updating: ['verifying', 'updating', 'queued', 'failed', 'cancelled'],
  verifying: ['succeeded', 'verifying', 'updating', 'queued', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

describe('campaign device state machine', () => {
  it('allows exactly the listed transitions and refuses every other pair', () => {
    let refused = 0;
    for (const from of DEVICE_FIRMWARE_STATES) {
      for (const to of DEVICE_FIRMWARE_STATES) {
        if (LEGAL[from].includes(to)) {
          assert.doesNotThrow(() => checkFirmwareTransition(from, to), `${from} -> ${to}`);
        } else {
          assert.throws(() => checkFirmwareTransition(from, to), (e: unknown) => e instanceof CampaignError && e.code === 'INVALID', `${from} -> ${to}`);
          refused++;
        }
      }
    }
    // Spot checks of the ones that matter: no skipping the install, no leaving a terminal state.
    assert.throws(() => checkFirmwareTransition('queued', 'succeeded'));
    assert.throws(() => checkFirmwareTransition('downloading', 'updating'));
    assert.throws(() => checkFirmwareTransition('downloaded', 'succeeded'));
    assert.throws(() => checkFirmwareTransition('failed', 'queued'));
    assert.throws(() => checkFirmwareTransition('succeeded', 'verifying'));
    assert.equal(refused, 81 - Object.values(LEGAL).reduce((n, l) => n + l.length, 0));
  });
});

describe('wave plan', () => {
  it('puts a canary of at least one device first, then the cumulative waves', () => {
    assert.deepEqual(planWaves(20, 0.05, [0.25, 0.5, 1]), [1, 4, 5, 10]);
    assert.deepEqual(planWaves(100, 0.05, [0.25, 0.5, 1]), [5, 20, 25, 50]);
    assert.deepEqual(planWaves(3, 0.05, [0.25, 0.5, 1]), [1, 1, 1]);
    assert.deepEqual(planWaves(1, 0.05, [0.25, 0.5, 1]), [1]);
    // A canary larger than the first wave swallows it; no canary at all.
    assert.deepEqual(planWaves(10, 0.3, [0.25, 0.5, 1]), [3, 2, 5]);
    assert.deepEqual(planWaves(10, 0, [0.5, 1]), [5, 5]);
    // A plan whose last wave is below 100% still covers everyone.
    assert.deepEqual(planWaves(10, 0.1, [0.5]), [1, 4, 5]);
    for (const n of [1, 7, 20, 333, 1000]) assert.equal(planWaves(n, 0.05, [0.25, 0.5, 1]).reduce((a, b) => a + b, 0), n);
  });

  it('parses shares and settings', () => {
    assert.equal(parseShare('5%', 'x'), 0.05);
    assert.equal(parseShare('12.5', 'x'), 0.125);
    assert.equal(parseShare(95, 'x'), 0.95);
    for (const bad of ['-1%', '101%', 'abc', '', null]) assert.throws(() => parseShare(bad, 'canary'), /canary must be a percentage/);
    assert.deepEqual(validateSettings({ ...DEFAULT_CAMPAIGN_SETTINGS, waves: [0.25, 0.5] }).waves, [0.25, 0.5, 1]);
    assert.throws(() => validateSettings({ ...DEFAULT_CAMPAIGN_SETTINGS, waves: [0.5, 0.25, 1] }), /ascending/);
    assert.throws(() => validateSettings({ ...DEFAULT_CAMPAIGN_SETTINGS, maxConcurrent: 0 }), /maxConcurrent/);
    assert.throws(() => validateSettings({ ...DEFAULT_CAMPAIGN_SETTINGS, delivery: 'carrier-pigeon' as 'pull' }), /delivery/);
  });

  it('matches endpoint globs', () => {
    assert.ok(globMatch('sensor-*', 'sensor-12'));
    assert.ok(globMatch('s?n*', 'sensor'));
    assert.ok(!globMatch('sensor-*', 'gateway-1'));
    assert.ok(globMatch('a.b', 'a.b') && !globMatch('a.b', 'axb'));
  });
});

describe('campaign decisions', () => {
  const settings = { successThreshold: 0.95, errorThreshold: 0.05, minSample: 5 };
  const base = { failed: 0, finished: 0 };
  const waves = (...t: [number, number, number][]): WaveTally[] => t.map(([size, succeeded, failed]) => ({ size, succeeded, failed }));

  it('continues while the current wave is unfinished, advances when it met the threshold, finishes after the last', () => {
    assert.deepEqual(evaluateCampaign({ waves: waves([1, 0, 0], [4, 0, 0]), currentWave: 0, approvedWave: -1, base, settings }), { action: 'continue' });
    assert.deepEqual(evaluateCampaign({ waves: waves([1, 1, 0], [4, 0, 0]), currentWave: 0, approvedWave: -1, base, settings }), { action: 'advance', wave: 1 });
    assert.deepEqual(evaluateCampaign({ waves: waves([1, 1, 0], [4, 4, 0]), currentWave: 1, approvedWave: -1, base, settings }), { action: 'finish' });
  });

  it('pauses when a finished wave missed the success threshold, unless the operator approved the next wave', () => {
    const d = evaluateCampaign({ waves: waves([1, 0, 1], [4, 0, 0]), currentWave: 0, approvedWave: -1, base, settings });
    assert.equal(d.action, 'pause');
    assert.match((d as { reason: string }).reason, /wave 1 succeeded on 0% .*below the success threshold 95%/);
    assert.deepEqual(evaluateCampaign({ waves: waves([1, 0, 1], [4, 0, 0]), currentWave: 0, approvedWave: 1, base, settings }), { action: 'advance', wave: 1 });
    // 19 of 20 is exactly 95%: meets the threshold.
    assert.deepEqual(evaluateCampaign({ waves: waves([20, 19, 1], [5, 0, 0]), currentWave: 0, approvedWave: -1, base, settings: { ...settings, errorThreshold: 0.5 } }), { action: 'advance', wave: 1 });
  });

  it('pauses at the error threshold only after the minimum sample, counting from the last resume', () => {
    // 1 failure of 4 finished: 25% but below the sample of 5.
    assert.deepEqual(evaluateCampaign({ waves: waves([10, 3, 1]), currentWave: 0, approvedWave: -1, base, settings }), { action: 'continue' });
    const d = evaluateCampaign({ waves: waves([10, 4, 1]), currentWave: 0, approvedWave: -1, base, settings });
    assert.equal(d.action, 'pause');
    assert.match((d as { reason: string }).reason, /error rate 20% \(1 failed of 5 finished\) is above the error threshold 5%/);
    // After a resume at (1 failed, 5 finished), four successes are a clean sample of 4 < 5: go on.
    assert.deepEqual(evaluateCampaign({ waves: waves([10, 8, 1]), currentWave: 0, approvedWave: 1, base: { failed: 1, finished: 5 }, settings }), { action: 'continue' });
    // Exactly at the threshold is not above it.
    assert.deepEqual(evaluateCampaign({ waves: waves([40, 19, 1]), currentWave: 0, approvedWave: -1, base, settings }), { action: 'continue' });
  });
});
