import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCode } from '../error.js';
import { Lwm2mPath } from '../path.js';
import { opaqueCodec } from './opaque.js';
import { casesAtEveryLevel, emptyModel, resourceIdOf, TEST_OBJECT, testModel, throwsCode } from './test-model.js';

describe('opaque', () => {
  for (const c of casesAtEveryLevel(['opaque'])) {
    if (c.node.kind !== 'singleResource' && c.node.kind !== 'resourceInstance') continue;
    it(`round-trips ${c.name}`, () => {
      const bytes = opaqueCodec.encode(c.node, c.path, testModel);
      assert.deepEqual(opaqueCodec.decode(bytes, c.path, testModel), c.node);
    });
  }

  it('carries the bytes as they are, copied', () => {
    const payload = Uint8Array.of(1, 2, 3);
    const node = opaqueCodec.decode(payload, Lwm2mPath.of(4242, 0, 1), emptyModel);
    payload[0] = 9;
    assert.deepEqual(node, { kind: 'singleResource', id: 1, value: { type: 'opaque', value: Uint8Array.of(1, 2, 3) } });
  });

  it('refuses other types, instances and multiple resources with 4.06', () => {
    const p = Lwm2mPath.of(TEST_OBJECT, 0, resourceIdOf('integer'));
    throwsCode(() => opaqueCodec.decode(Uint8Array.of(1), p, testModel), ResponseCode.NotAcceptable);
    throwsCode(
      () => opaqueCodec.encode({ kind: 'singleResource', id: p.ids[2], value: { type: 'integer', value: 1 } }, p, testModel),
      ResponseCode.NotAcceptable,
    );
    for (const c of casesAtEveryLevel(['opaque'])) {
      if (c.node.kind === 'singleResource' || c.node.kind === 'resourceInstance') continue;
      throwsCode(() => opaqueCodec.encode(c.node, c.path, testModel), ResponseCode.NotAcceptable);
      throwsCode(() => opaqueCodec.decode(Uint8Array.of(1), c.path, testModel), ResponseCode.NotAcceptable);
    }
  });
});
