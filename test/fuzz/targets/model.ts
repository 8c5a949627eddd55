/** The model the LwM2M format targets decode with: the format tests' model (every type, single and multiple) plus the core objects. */
import { ModelRegistry, type Model } from '../../../src/lwm2m/index.js';
import { testModel } from '../../../src/lwm2m/format/test-model.js';

const registry = new ModelRegistry();

/** testModel's objects (9000 with a resource of every type, 2, 3) shadow the core objects of the same id. */
export const fuzzModel: Model = {
  object: (id) => testModel.object(id) ?? registry.object(id),
  resource: (o, r) => (testModel.object(o) ? testModel.resource(o, r) : registry.resource(o, r)),
  objects: () => [...testModel.objects(), ...registry.objects().filter((o) => !testModel.object(o.id))],
};
