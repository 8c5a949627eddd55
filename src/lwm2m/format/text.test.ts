import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCode } from '../error.js';
import type { ResourceType } from '../model.js';
import { Lwm2mPath } from '../path.js';
import { casesAtEveryLevel, emptyModel, resourceIdOf, TEST_OBJECT, testModel, throwsCode } from './test-model.js';
import { textCodec } from './text.js';

const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const pathOf = (t: ResourceType): Lwm2mPath => Lwm2mPath.of(TEST_OBJECT, 0, resourceIdOf(t));
const asText = (t: ResourceType, value: unknown): string =>
  Buffer.from(textCodec.encode({ kind: 'singleResource', id: resourceIdOf(t), value: { type: t, value } as never }, pathOf(t), testModel)).toString();

describe('text/plain', () => {
  for (const c of casesAtEveryLevel()) {
    if (c.node.kind !== 'singleResource' && c.node.kind !== 'resourceInstance') continue;
    it(`round-trips ${c.name}`, () => {
      assert.deepEqual(textCodec.decode(textCodec.encode(c.node, c.path, testModel), c.path, testModel), c.node);
    });
  }

  it('renders each type as Core §7.4.1 and the brief specify', () => {
    assert.equal(asText('integer', -42), '-42');
    assert.equal(asText('integer', 2n ** 63n - 1n), '9223372036854775807');
    assert.equal(asText('unsignedInteger', 2n ** 64n - 1n), '18446744073709551615');
    assert.equal(asText('float', 0.1), '0.1');
    assert.equal(asText('float', 1e21), '1e+21');
    assert.equal(asText('boolean', true), '1');
    assert.equal(asText('boolean', false), '0');
    assert.equal(asText('time', new Date(1367491215999)), '1367491215');
    assert.equal(asText('objlnk', { objectId: 3, instanceId: 0 }), '3:0');
    assert.equal(asText('opaque', Uint8Array.of(0xfb, 0xff)), '+/8=');
    assert.equal(asText('none', null), '');
  });

  it('parses values typed by the model', () => {
    assert.deepEqual(textCodec.decode(text('-9223372036854775808'), pathOf('integer'), testModel), {
      kind: 'singleResource',
      id: resourceIdOf('integer'),
      value: { type: 'integer', value: -(2n ** 63n) },
    });
    assert.deepEqual(textCodec.decode(text('1.5e3'), pathOf('float'), testModel), {
      kind: 'singleResource',
      id: resourceIdOf('float'),
      value: { type: 'float', value: 1500 },
    });
  });

  it('decodes resources unknown to the model as strings', () => {
    assert.deepEqual(textCodec.decode(text('42'), Lwm2mPath.of(4242, 0, 1), emptyModel), {
      kind: 'singleResource',
      id: 1,
      value: { type: 'string', value: '42' },
    });
  });

  it('rejects malformed text with 4.00', () => {
    const bad: Array<[ResourceType, string]> = [
      ['integer', '12a'],
      ['integer', '9223372036854775808'],
      ['integer', ''],
      ['unsignedInteger', '-1'],
      ['unsignedInteger', '18446744073709551616'],
      ['float', 'abc'],
      ['float', '1e999'],
      ['boolean', 'true'],
      ['boolean', '2'],
      ['time', '12.5'],
      ['objlnk', '3'],
      ['objlnk', '3:70000'],
      ['opaque', '!!!'],
      ['none', 'x'],
    ];
    for (const [t, s] of bad) {
      assert.doesNotThrow(() => throwsCode(() => textCodec.decode(text(s), pathOf(t), testModel), ResponseCode.BadRequest), `${t} "${s}"`);
    }
    throwsCode(() => textCodec.decode(Uint8Array.of(0xc3, 0x28), pathOf('string'), testModel), ResponseCode.BadRequest);
  });

  it('refuses instances, objects and multiple resources with 4.06', () => {
    for (const c of casesAtEveryLevel(['integer'])) {
      if (c.node.kind === 'singleResource' || c.node.kind === 'resourceInstance') continue;
      throwsCode(() => textCodec.encode(c.node, c.path, testModel), ResponseCode.NotAcceptable);
      throwsCode(() => textCodec.decode(text('1'), c.path, testModel), ResponseCode.NotAcceptable);
    }
  });
});
