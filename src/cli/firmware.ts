/**
 * `warden firmware keygen|sign|verify|inspect|delta|apply`: signing keys in PEM files, signed firmware packages (a COSE_Sign1
 * manifest followed by the image or a patch), and their verification as a device would do it.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createReadStream, openSync, readFileSync, readSync, writeFileSync, closeSync, createWriteStream } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  createInPlacePatch,
  createPatch,
  PatchApplier,
  classIdFor,
  decodeManifest,
  decodePackage,
  imageRef,
  keyId,
  manifestToJson,
  parseCose1,
  signPackage,
  vendorIdFor,
  verifyPackage,
  ALG_ES256,
  type Manifest,
} from '../firmware/index.js';
import { readPrivateKey } from './pem.js';

/** Where the commands write; injectable for tests. */
export interface FirmwareCliIo {
  out(line: string): void;
  /** Seconds since the epoch: the default sequence number. */
  now(): number;
}

const processIo: FirmwareCliIo = {
  out: (line) => void process.stdout.write(line + '\n'),
  now: () => Math.floor(Date.now() / 1000),
};

/** The public key file written beside `out`: key.pem → key.pub.pem. */
export function publicKeyPath(out: string): string {
  return out.endsWith('.pem') ? out.slice(0, -4) + '.pub.pem' : out + '.pub.pem';
}

/** Generates a signing key: the private key (PKCS#8 PEM, mode 0600, never overwritten) and its public key beside it. */
export function firmwareKeygen(flags: { alg: 'es256' | 'ed25519'; out: string }, io: FirmwareCliIo = processIo): void {
  const { privateKey } = flags.alg === 'es256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const pubPath = publicKeyPath(flags.out);
  writeFileSync(flags.out, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(pubPath, createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }), { flag: 'wx' });
  io.out(`wrote ${flags.out} (private, 0600) and ${pubPath}; key id ${Buffer.from(keyId(privateKey)).toString('hex')}`);
}

export interface SignFlags {
  key: string;
  version: string;
  vendor: string;
  class: string;
  sequence?: number;
  deltaBase?: string;
  patch?: string;
  output: string;
}

/** Signs `imagePath` (or, with deltaBase and patch, a patch producing it) into a package file; returns the manifest. */
export function firmwareSign(imagePath: string, flags: SignFlags, io: FirmwareCliIo = processIo): Manifest {
  if ((flags.deltaBase === undefined) !== (flags.patch === undefined)) throw new Error('--delta-base and --patch go together');
  const key = readPrivateKey(flags.key);
  const image = readFileSync(imagePath);
  const vendorId = vendorIdFor(flags.vendor);
  const sequence = flags.sequence ?? io.now();
  let payload: Uint8Array = image;
  let p: Manifest['payload'] = { kind: 'image', ...imageRef(image) };
  if (flags.patch !== undefined && flags.deltaBase !== undefined) {
    payload = readFileSync(flags.patch);
    p = { kind: 'delta', ...imageRef(payload), image: imageRef(image), base: imageRef(readFileSync(flags.deltaBase)) };
  }
  const manifest: Manifest = { version: flags.version, vendorId, classId: classIdFor(vendorId, flags.class), sequence, payload: p };
  writeFileSync(flags.output, signPackage(manifest, payload, key));
  io.out(`wrote ${flags.output}: ${p.kind} ${flags.version}, sequence ${sequence}, payload ${p.size} bytes`);
  return manifest;
}

export interface VerifyFlags {
  pub: string[];
  vendor: string;
  class: string;
  counter: number;
  base?: string;
}

function readPublicKey(file: string): KeyObject {
  const bytes = readFileSync(file);
  return bytes.includes('-----BEGIN') ? createPublicKey(bytes) : createPublicKey({ key: bytes, format: 'der', type: 'spki' });
}

/** Verifies a package as a device would and prints its manifest as JSON; throws FirmwareError on refusal. */
export function firmwareVerify(pkgPath: string, flags: VerifyFlags, io: FirmwareCliIo = processIo): Manifest {
  const vendorId = vendorIdFor(flags.vendor);
  const { manifest } = verifyPackage(readFileSync(pkgPath), {
    trustedKeys: flags.pub.map(readPublicKey),
    vendorId,
    classId: classIdFor(vendorId, flags.class),
    securityCounter: flags.counter,
    currentImage: flags.base === undefined ? undefined : imageRef(readFileSync(flags.base)),
  });
  io.out(JSON.stringify(manifestToJson(manifest), null, 2));
  return manifest;
}

/** Prints a package's manifest, algorithm and key id WITHOUT verifying anything. */
export function firmwareInspect(pkgPath: string, io: FirmwareCliIo = processIo): void {
  const data = readFileSync(pkgPath);
  const { envelope, payload } = decodePackage(data);
  const cose = parseCose1(envelope);
  const manifest = decodeManifest(cose.payload);
  io.out(
    JSON.stringify(
      {
        verified: false,
        alg: cose.alg === ALG_ES256 ? 'ES256' : 'EdDSA',
        kid: Buffer.from(cose.kid).toString('hex'),
        payloadBytes: payload.byteLength,
        manifest: manifestToJson(manifest),
      },
      null,
      2,
    ),
  );
}

function uint(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected an unsigned integer');
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `warden firmware delta`: a patch from `oldFile` to `newFile` (in place: for a single-slot device). */
export function firmwareDelta(oldFile: string, newFile: string, flags: { output: string; inPlace: boolean; pageSize: number }, io: FirmwareCliIo = processIo): void {
  const old = readFileSync(oldFile);
  const neu = readFileSync(newFile);
  const patch = flags.inPlace ? createInPlacePatch(old, neu, { pageSize: flags.pageSize }) : createPatch(old, neu);
  writeFileSync(flags.output, patch);
  io.out(`${flags.output}: ${patch.length} bytes, ${((100 * patch.length) / Math.max(1, neu.length)).toFixed(2)}% of the new image${flags.inPlace ? ` (in place, ${flags.pageSize}-byte pages)` : ''}`);
}

/** `warden firmware apply`: streams `patchFile` over `oldFile` into `output`, as a device does (bounded memory). */
export async function firmwareApply(oldFile: string, patchFile: string, flags: { output: string }, io: FirmwareCliIo = processIo): Promise<void> {
  const fd = openSync(oldFile, 'r');
  const out = createWriteStream(flags.output);
  try {
    const applier = new PatchApplier({
      readOld: (offset, length) => {
        const b = Buffer.allocUnsafe(length);
        return b.subarray(0, readSync(fd, b, 0, length, offset));
      },
      write: (chunk) => new Promise<void>((resolve, reject) => out.write(chunk, (err) => (err ? reject(err) : resolve()))),
    });
    for await (const chunk of createReadStream(patchFile, { highWaterMark: 4096 })) await applier.push(chunk as Buffer);
    await applier.finish();
  } finally {
    closeSync(fd);
    await new Promise<void>((resolve) => out.end(resolve));
  }
  io.out(`${flags.output}: written and its SHA-256 checked`);
}

/** Adds `warden firmware ...` to the program. */
export function registerFirmwareCommands(program: Command): void {
  // `sign --version V` is the issue's flag; without positional options the root program's own --version (which
  // prints the program version) would take it wherever it appears. Root options now go before the subcommand only.
  program.enablePositionalOptions();
  const fw = program.command('firmware').description('signed firmware packages: keys, signing, verification');
  fw.command('keygen')
    .description('generate a signing key (PKCS#8 PEM, 0600) and its public key beside it (<out>.pub.pem)')
    .addOption(new Option('--alg <alg>', 'signature algorithm').choices(['es256', 'ed25519']).default('es256'))
    .requiredOption('--out <file>', 'private key file to create')
    .action((flags: { alg: 'es256' | 'ed25519'; out: string }) => firmwareKeygen(flags));
  fw.command('sign')
    .description('sign an image (or a patch that produces it) into a package')
    .argument('<image>', 'the image file (for a delta: the image the patch produces)')
    .requiredOption('--key <file>', 'signing key (PEM or DER PKCS#8, P-256 or Ed25519)')
    .requiredOption('--version <version>', 'version text')
    .requiredOption('--vendor <name>', 'vendor domain name (the vendor ID is UUIDv5 of it)')
    .requiredOption('--class <name>', 'device class name (the class ID is UUIDv5 of it under the vendor ID)')
    .option('--sequence <n>', 'anti-rollback sequence number (default: the current time in seconds)', uint)
    .option('--delta-base <file>', 'delta package: the image the patch applies to')
    .option('--patch <file>', 'delta package: the patch')
    .requiredOption('-o, --output <file>', 'package file to write')
    .action((image: string, flags: SignFlags) => void firmwareSign(image, flags));
  fw.command('verify')
    .description('verify a package as a device would and print its manifest (exit 1 with the error code on refusal)')
    .argument('<package>', 'package file')
    .requiredOption('--pub <file>', 'trusted public key (PEM or DER SPKI); repeat for several', collect)
    .requiredOption('--vendor <name>', 'vendor domain name')
    .requiredOption('--class <name>', 'device class name')
    .option('--counter <n>', 'security counter: refuse a lower sequence number', uint, 0)
    .option('--base <file>', 'the current image (needed for a delta package)')
    .action((pkg: string, flags: VerifyFlags) => void firmwareVerify(pkg, flags));
  fw.command('inspect')
    .description('print a package manifest WITHOUT verifying it')
    .argument('<package>', 'package file')
    .action((pkg: string) => firmwareInspect(pkg));
  fw.command('delta')
    .description('make a patch from <old> to <new> that a device applies as a stream with a 64 KiB working set')
    .argument('<old>', 'the image on the device')
    .argument('<new>', 'the new image')
    .requiredOption('-o, --output <file>', 'patch file to write')
    .option('--in-place', 'for a single-slot device: the new image is written over the old one page by page', false)
    .option('--page-size <bytes>', 'in-place: flash page size', uint, 4096)
    .action((oldFile: string, newFile: string, flags: { output: string; inPlace: boolean; pageSize: number }) => firmwareDelta(oldFile, newFile, flags));
  fw.command('apply')
    .description('apply a patch to <old> as a device does (streaming; checks both images\' SHA-256)')
    .argument('<old>', 'the image the patch applies to')
    .argument('<patch>', 'patch file')
    .requiredOption('-o, --output <file>', 'new image to write')
    .action((oldFile: string, patchFile: string, flags: { output: string }) => firmwareApply(oldFile, patchFile, flags));
}
