/** Factory provisioning lists: CSV `serial,endpoint,psk_identity,psk_hex`, one row per device, keys derived on the fly. */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { isValidSerial, type FactoryKeyDeriver } from './factory.js';
import { KeyStoreError } from './key-store.js';

export const FACTORY_CSV_HEADER = 'serial,endpoint,psk_identity,psk_hex';

export interface FactoryListOptions {
  /** Called every `progressEvery` devices and at the end with the count written so far. */
  onProgress?: (done: number) => void;
  progressEvery?: number;
}

/** A bad serial in the input: `line` is 1-based in the serial list. */
export class FactoryListError extends KeyStoreError {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super('INVALID', `serial list line ${line}: ${message}`);
  }
}

/** Serials from text: one per line; blank lines and lines starting with # are skipped. Yields [line, serial]. */
export function* serialLines(text: string): Generator<[number, string]> {
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    const s = text.slice(start, end).trim();
    if (s.length > 0 && !s.startsWith('#')) yield [line, s];
    start = end + 1;
  }
}

async function* numbered(serials: AsyncIterable<string> | Iterable<string> | Iterable<[number, string]>): AsyncGenerator<[number, string]> {
  let n = 0;
  for await (const s of serials as AsyncIterable<string | [number, string]>) {
    n++;
    yield typeof s === 'string' ? [n, s.trim()] : s;
  }
}

/**
 * Writes the factory list of `serials` to `out` (header first) and resolves with the device count. Rejects a bad or
 * repeated serial with FactoryListError (the caller should discard the partial output). Honours back-pressure.
 */
export async function generateFactoryList(
  deriver: FactoryKeyDeriver,
  serials: AsyncIterable<string> | Iterable<string> | Iterable<[number, string]>,
  out: Writable,
  options: FactoryListOptions = {},
): Promise<number> {
  const every = options.progressEvery ?? 10_000;
  const seen = new Set<string>();
  let chunk = FACTORY_CSV_HEADER + '\n';
  let count = 0;
  for await (const [line, serial] of numbered(serials)) {
    if (!isValidSerial(serial)) throw new FactoryListError(line, `invalid serial ${JSON.stringify(serial.slice(0, 80))} (1-64 of A-Z a-z 0-9 . _ -)`);
    if (seen.has(serial)) throw new FactoryListError(line, `serial ${serial} repeats`);
    seen.add(serial);
    const c = await deriver.credentialFor(serial);
    chunk += `${serial},${c.endpoint},${c.pskIdentity},${Buffer.from(c.pskKey.buffer, c.pskKey.byteOffset, c.pskKey.length).toString('hex')}\n`;
    count++;
    if (count % 1000 === 0) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
    if (count % every === 0) options.onProgress?.(count);
  }
  if (chunk.length > 0 && !out.write(chunk)) await once(out, 'drain');
  options.onProgress?.(count);
  return count;
}
