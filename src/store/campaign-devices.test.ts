import { test } from 'node:test';
import assert from 'node:assert/strict';
import { campaignDevicePage } from './campaign-devices.js';
import { SqliteStore } from './sqlite.js';

test('campaign device pages: order, offset and limit, a state filter, the total of what matches, other campaigns apart', () => {
  const store = new SqliteStore(':memory:');
  try {
    const insert = store.db.prepare('INSERT INTO fw_campaign_device (campaign_id, endpoint, wave, state, updated_at) VALUES (?, ?, ?, ?, 0)');
    const campaign = store.db.prepare("INSERT INTO fw_campaign (id, package_id, package_version, target, settings, state, actor, created_at, updated_at) VALUES (?, 'p', '1', '{}', '{}', 'running', 'op', 0, 0)");
    store.transaction(() => {
      campaign.run(1);
      campaign.run(2);
      for (let i = 0; i < 250; i++) insert.run(1, `dev-${String(i).padStart(3, '0')}`, i < 10 ? 0 : 1, i % 5 === 0 ? 'failed' : 'succeeded');
      insert.run(2, 'other', 0, 'failed');
    });
    const first = campaignDevicePage<{ endpoint: string; wave: number }>(store.db, 'fw_campaign_device', 1, { limit: 100 });
    assert.equal(first.total, 250);
    assert.equal(first.rows.length, 100);
    assert.deepEqual([first.rows[0]!.endpoint, first.rows[99]!.endpoint], ['dev-000', 'dev-099'], 'by wave, then endpoint');
    const last = campaignDevicePage<{ endpoint: string }>(store.db, 'fw_campaign_device', 1, { offset: 200, limit: 100 });
    assert.deepEqual([last.rows.length, last.rows.at(-1)!.endpoint], [50, 'dev-249']);
    const failed = campaignDevicePage<{ endpoint: string; state: string }>(store.db, 'fw_campaign_device', 1, { state: 'failed', offset: 10, limit: 5 });
    assert.equal(failed.total, 50);
    assert.deepEqual(failed.rows.map((r) => r.endpoint), ['dev-050', 'dev-055', 'dev-060', 'dev-065', 'dev-070']);
    assert.equal(campaignDevicePage(store.db, 'fw_campaign_device', 1, {}).rows.length, 250, 'no limit: all');
    assert.equal(campaignDevicePage(store.db, 'fw_campaign_device', 2, {}).total, 1);
  } finally {
    store.close();
  }
});
