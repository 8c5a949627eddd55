#!/usr/bin/env node
// The `warden` command. The CLI itself is compiled into dist/ by `npm run build` (npm start and npm test build first);
// this file is in git so that npx finds the command even when it is asked for before the first build.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('warden: not built yet: run npm run build (npm start and npm test build too)');
  process.exit(1);
}
await import(main.href);
