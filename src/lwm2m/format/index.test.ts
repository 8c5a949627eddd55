import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ContentFormat } from '../node.js';
import { Lwm2mPath } from '../path.js';
import { codecFor, compositeCodecFor, formatByName, formatName, supportedFormats } from './index.js';
import { testModel } from './test-model.js';

describe('format registry', () => {
  it('maps Content-Format numbers to API names and back', () => {
    const names = ['TLV', 'SENML_JSON', 'SENML_CBOR', 'LWM2M_CBOR', 'TEXT', 'OPAQUE', 'JSON', 'LINK'] as const;
    for (const n of names) {
      const f = formatByName(n);
      assert.notEqual(f, undefined, n);
      assert.equal(formatName(f as number), n);
    }
    assert.equal(formatByName('senml_cbor'), ContentFormat.SENML_CBOR);
    assert.equal(formatByName('XML'), undefined);
    assert.equal(formatName(ContentFormat.TLV), 'TLV');
    assert.equal(formatName(9999), undefined);
  });

  it('has a working codec for every supported format and composite codecs for the SenML/CBOR ones', () => {
    const path = Lwm2mPath.of(3, 0, 9);
    const node = { kind: 'singleResource', id: 9, value: { type: 'integer', value: 42 } } as const;
    for (const f of supportedFormats) {
      const codec = codecFor(f);
      assert.ok(codec, String(f));
      if (f === ContentFormat.OPAQUE) continue;
      assert.deepEqual(codec.decode(codec.encode(node, path, testModel), path, testModel), node, formatName(f));
    }
    assert.equal(codecFor(ContentFormat.CORE_LINK), undefined);
    assert.deepEqual(
      [ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LWM2M_CBOR, ContentFormat.TLV].map((f) => compositeCodecFor(f) !== undefined),
      [true, true, true, false],
    );
  });
});
