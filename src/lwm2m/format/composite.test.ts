import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCode } from '../error.js';
import { Lwm2mPath } from '../path.js';
import { nodesAtPaths } from './composite.js';
import { senmlJsonCodec } from './senml-json.js';
import { testModel, throwsCode } from './test-model.js';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

describe('nodesAtPaths', () => {
  const entries = senmlJsonCodec.decodeNodes(
    utf8('[{"bn":"/3/0/","n":"9","v":80},{"n":"6/0","v":1},{"n":"6/1","v":5},{"bn":"/1/0/","n":"1","v":300}]'),
    testModel,
  );

  it('regroups records under the requested paths, in request order', () => {
    const nodes = nodesAtPaths(entries, [Lwm2mPath.of(1, 0, 1), Lwm2mPath.of(3, 0), Lwm2mPath.of(5)], testModel);
    assert.deepEqual(nodes, [
      { path: Lwm2mPath.of(1, 0, 1), node: { kind: 'singleResource', id: 1, value: { type: 'integer', value: 300 } } },
      {
        path: Lwm2mPath.of(3, 0),
        node: {
          kind: 'instance',
          id: 0,
          resources: [
            { kind: 'singleResource', id: 9, value: { type: 'integer', value: 80 } },
            { kind: 'multipleResource', id: 6, type: 'integer', instances: new Map([[0, { type: 'integer', value: 1 }], [1, { type: 'integer', value: 5 }]]) },
          ],
        },
      },
    ]);
  });

  it('splits the root path into objects', () => {
    assert.deepEqual(
      nodesAtPaths(entries, [Lwm2mPath.root()], testModel).map((n) => n.path.toString()),
      ['/3', '/1'],
    );
  });

  it('rejects a single resource that the payload gives several values', () => {
    const twice = senmlJsonCodec.decodeNodes(utf8('[{"n":"/3/0/9","v":1},{"n":"/3/0/9","v":2}]'), testModel);
    throwsCode(() => nodesAtPaths(twice, [Lwm2mPath.of(3, 0, 9)], testModel), ResponseCode.BadRequest);
  });
});
