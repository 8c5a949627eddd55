/** The public surface of the LwM2M layer. */
export * from './path.js';
export * from './node.js';
export * from './model.js';
export * from './error.js';
export * from './xml.js';
export * from './ddf.js';
export * from './registry.js';
export * from './objects/core-objects.js';
export * from './link-format.js';
export * from './registration-links.js';
export * from './attributes.js';
// formats
export * from './format/index.js';
