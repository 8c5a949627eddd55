/**
 * `warden firmware keygen|pubkey|sign|verify|inspect|delta|apply`: signing keys in PEM files or in the key store (the
 * software store or a PKCS#11 token, as `warden keys` opens it), signed firmware packages (a COSE_Sign1
 * manifest followed by the image or a patch), and their verification as a device would do it.
 * `warden firmware upload|list|show|rm`: the running Warden's package repository, through its REST API; the admin token
 * comes from WARDEN_API_TOKEN, `--token-file` or DATA/api-token, never from the command line (argv is visible to
 * every user of the host).
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createReadStream, existsSync, openSync, readFileSync, readSync, writeFileSync, closeSync, createWriteStream } from 'node:fs';
import type { ApiTokenFlags } from './api-token.js';
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
  keyObjectSigner,
  keyStoreSigner,
  manifestToJson,
  parseCose1,
  signPackageAsync,
  vendorIdFor,
  verifyPackage,
  ALG_ES256,
  type Manifest,
} from '../firmware/index.js';
import type { FirmwarePackage } from '../firmware/index.js';
import { formatTable } from './credentials.js';
import { openKeyStore, storeOptions, type KeysCliIo, type KeyStoreFlags } from './keys.js';
import { readPrivateKey } from './pem.js';
import { apiClientOptions, callApi } from './api-client.js';

/** Where the commands write; injectable for tests. */
export interface FirmwareCliIo {
  out(line: string): void;
  /** Seconds since the epoch: the default sequence number. */
  now(): number;
  /** How the key store gets its passphrase or PIN (default: as `warden keys` does, from the environment or a prompt). */
  keys?: KeysCliIo;
}

const processIo: FirmwareCliIo = {
  out: (line) => void process.stdout.write(line + '\n'),
  now: () => Math.floor(Date.now() / 1000),
};

/** The public key file written beside `out`: key.pem → key.pub.pem. */
export function publicKeyPath(out: string): string {
  return out.endsWith('.pem') ? out.slice(0, -4) + '.pub.pem' : out + '.pub.pem';
}

/** The key store options of `keygen`, `pubkey` and `sign` (those of `warden keys`); `data` defaults to ./data. */
export type FirmwareStoreFlags = Partial<KeyStoreFlags>;

function storeFlags(flags: FirmwareStoreFlags): KeyStoreFlags {
  return { data: flags.data ?? './data', pkcs11Module: flags.pkcs11Module, slot: flags.slot, tokenLabel: flags.tokenLabel, pin: flags.pin };
}

function spkiPem(spki: Uint8Array): string {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }) as string;
}

export interface KeygenFlags extends FirmwareStoreFlags {
  alg: 'es256' | 'ed25519';
  /** A private key file to create; or else */
  out?: string;
  /** the label of a signing key to create in the key store, */
  keyLabel?: string;
  /** and where to write its public key (PEM); printed when absent. */
  pub?: string;
}

/**
 * Generates a signing key: with `out`, the private key (PKCS#8 PEM, mode 0600, never overwritten) and its public key
 * beside it; with `keyLabel`, a key in the key store (created if there is none) whose private key never leaves it.
 */
export async function firmwareKeygen(flags: KeygenFlags, io: FirmwareCliIo = processIo): Promise<void> {
  if ((flags.out === undefined) === (flags.keyLabel === undefined)) throw new Error('give exactly one of --out (a key file) and --key-label (a key in the key store)');
  if (flags.keyLabel !== undefined) {
    if (flags.pub !== undefined && existsSync(flags.pub)) throw new Error(`${flags.pub} exists`);
    const store = await openKeyStore(storeFlags(flags), io.keys, true);
    try {
      const spki = await store.generateSigningKey(flags.keyLabel, { alg: flags.alg });
      const pem = spkiPem(spki);
      const kid = Buffer.from(keyId(createPublicKey(pem))).toString('hex');
      if (flags.pub !== undefined) writeFileSync(flags.pub, pem, { flag: 'wx' });
      io.out(`created ${flags.alg} signing key ${flags.keyLabel} in the ${store.kind} key store${flags.pub !== undefined ? `; wrote ${flags.pub}` : ''}; key id ${kid}`);
      if (flags.pub === undefined) io.out(pem.trimEnd());
    } finally {
      await store.close();
    }
    return;
  }
  if (flags.pub !== undefined) throw new Error('--pub goes with --key-label (with --out the public key is written beside the key file)');
  const out = flags.out!;
  const { privateKey } = flags.alg === 'es256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const pubPath = publicKeyPath(out);
  writeFileSync(out, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(pubPath, createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }), { flag: 'wx' });
  io.out(`wrote ${out} (private, 0600) and ${pubPath}; key id ${Buffer.from(keyId(privateKey)).toString('hex')}`);
}

/** `warden firmware pubkey --key-label L`: the public key (PEM) of a signing key in the key store, to a file or stdout. */
export async function firmwarePubkey(flags: FirmwareStoreFlags & { keyLabel: string; out?: string }, io: FirmwareCliIo = processIo): Promise<void> {
  const store = await openKeyStore(storeFlags(flags), io.keys);
  try {
    const pem = spkiPem(await store.publicKey(flags.keyLabel));
    if (flags.out !== undefined) {
      writeFileSync(flags.out, pem, { flag: 'wx' });
      io.out(`wrote ${flags.out}; key id ${Buffer.from(keyId(createPublicKey(pem))).toString('hex')}`);
    } else {
      io.out(pem.trimEnd());
    }
  } finally {
    await store.close();
  }
}

export interface SignFlags extends FirmwareStoreFlags {
  /** A private key file; or else */
  key?: string;
  /** the label of a signing key in the key store. */
  keyLabel?: string;
  version: string;
  vendor: string;
  class: string;
  sequence?: number;
  deltaBase?: string;
  patch?: string;
  output: string;
}

/**
 * Signs `imagePath` (or, with deltaBase and patch, a patch producing it) into a package file with a key file or a key
 * store key; returns the manifest.
 */
export async function firmwareSign(imagePath: string, flags: SignFlags, io: FirmwareCliIo = processIo): Promise<Manifest> {
  if ((flags.deltaBase === undefined) !== (flags.patch === undefined)) throw new Error('--delta-base and --patch go together');
  if ((flags.key === undefined) === (flags.keyLabel === undefined)) throw new Error('give exactly one of --key (a key file) and --key-label (a key in the key store)');
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
  let pkg: Uint8Array;
  if (flags.key !== undefined) {
    pkg = await signPackageAsync(manifest, payload, keyObjectSigner(readPrivateKey(flags.key)));
  } else {
    const store = await openKeyStore(storeFlags(flags), io.keys);
    try {
      pkg = await signPackageAsync(manifest, payload, await keyStoreSigner(store, flags.keyLabel!));
    } finally {
      await store.close();
    }
  }
  writeFileSync(flags.output, pkg);
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

/** How the repository commands reach the API. */
export interface FirmwareApiFlags extends ApiTokenFlags {
  /** Base URL of the REST API, e.g. http://127.0.0.1:8080. */
  api: string;
}


function firmwareApi(flags: FirmwareApiFlags, method: string, path: string, body?: Uint8Array): Promise<{ status: number; json: unknown }> {
  return callApi(flags, method, path, body);
}

const ID_PREFIX_RE = /^[0-9a-f]{4,64}$/;

/** A full package id from an id or a unique prefix of one (at least 4 hex digits). */
async function resolvePackageId(flags: FirmwareApiFlags, id: string): Promise<string> {
  const want = id.toLowerCase();
  if (!ID_PREFIX_RE.test(want)) throw new Error(`"${id}" is not a package id (hex, at least 4 digits)`);
  if (want.length === 64) return want;
  const all = (await firmwareApi(flags, 'GET', '/api/firmware')).json as FirmwarePackage[];
  const found = all.filter((p) => p.id.startsWith(want));
  if (found.length === 0) throw new Error(`no firmware package ${id}`);
  if (found.length > 1) throw new Error(`${id} is ambiguous: ${found.map((p) => p.id.slice(0, 16)).join(', ')}`);
  return found[0]!.id;
}

type PackageJson = Omit<FirmwarePackage, 'uploadedAt'> & { uploadedAt: string };

/** `warden firmware upload`: stores a package in the server's repository; prints and returns its record. */
export async function firmwareUpload(pkgPath: string, flags: FirmwareApiFlags & { name?: string; notes?: string }, io: FirmwareCliIo = processIo): Promise<PackageJson> {
  const data = readFileSync(pkgPath);
  const q = new URLSearchParams();
  if (flags.name !== undefined) q.set('name', flags.name);
  if (flags.notes !== undefined) q.set('notes', flags.notes);
  const query = q.size ? `?${q.toString()}` : '';
  const { status, json } = await firmwareApi(flags, 'POST', `/api/firmware${query}`, data);
  const p = json as PackageJson;
  io.out(`${status === 201 ? 'stored' : 'already stored'} ${p.id}: ${p.kind} ${p.version}, sequence ${p.sequence}, ${p.packageSize} bytes`);
  return p;
}

/** `warden firmware list`: the repository's packages as a table (or JSON). */
export async function firmwareList(flags: FirmwareApiFlags & { vendor?: string; class?: string; version?: string; json?: boolean }, io: FirmwareCliIo = processIo): Promise<PackageJson[]> {
  const q = new URLSearchParams();
  for (const k of ['vendor', 'class', 'version'] as const) if (flags[k] !== undefined) q.set(k, flags[k]!);
  const list = (await firmwareApi(flags, 'GET', `/api/firmware${q.size ? `?${q.toString()}` : ''}`)).json as PackageJson[];
  if (flags.json) {
    io.out(JSON.stringify(list, null, 2));
    return list;
  }
  if (list.length === 0) {
    io.out('no firmware packages');
    return list;
  }
  const rows = [['ID', 'VERSION', 'SEQUENCE', 'KIND', 'BYTES', 'UPLOADED', 'NAME']];
  for (const p of list) rows.push([p.id.slice(0, 16), p.version, String(p.sequence), p.kind, String(p.packageSize), p.uploadedAt.replace(/\.\d{3}Z$/, 'Z'), p.name ?? '']);
  for (const line of formatTable(rows)) io.out(line);
  return list;
}

/** `warden firmware show <id>`: one package with its manifest, as JSON. */
export async function firmwareShow(id: string, flags: FirmwareApiFlags, io: FirmwareCliIo = processIo): Promise<void> {
  const full = await resolvePackageId(flags, id);
  io.out(JSON.stringify((await firmwareApi(flags, 'GET', `/api/firmware/${full}`)).json, null, 2));
}

/** `warden firmware rm <id>`: removes a package (refused while a campaign uses it). */
export async function firmwareRemove(id: string, flags: FirmwareApiFlags, io: FirmwareCliIo = processIo): Promise<void> {
  const full = await resolvePackageId(flags, id);
  await firmwareApi(flags, 'DELETE', `/api/firmware/${full}`);
  io.out(`removed ${full}`);
}

/** Adds `warden firmware ...` to the program. */
export function registerFirmwareCommands(program: Command): void {
  // `sign --version V` is the issue's flag; without positional options the root program's own --version (which
  // prints the program version) would take it wherever it appears. Root options now go before the subcommand only.
  program.enablePositionalOptions();
  const fw = program.command('firmware').description('signed firmware packages: keys, signing, verification, the server\'s repository');
  storeOptions(fw.command('keygen'))
    .description('generate a signing key: a key file (PKCS#8 PEM, 0600, public key beside it as <out>.pub.pem) or a key in the key store')
    .addOption(new Option('--alg <alg>', 'signature algorithm').choices(['es256', 'ed25519']).default('es256'))
    .option('--out <file>', 'private key file to create')
    .option('--key-label <label>', 'instead of --out: create the key in the key store (its private key never leaves it)')
    .option('--pub <file>', 'with --key-label: write the public key (PEM) here instead of printing it')
    .action((flags: KeygenFlags) => firmwareKeygen(flags));
  storeOptions(fw.command('pubkey'))
    .description('the public key (PEM) of a signing key in the key store')
    .requiredOption('--key-label <label>', 'the signing key')
    .option('--out <file>', 'file to create (default: print it)')
    .action((flags: FirmwareStoreFlags & { keyLabel: string; out?: string }) => firmwarePubkey(flags));
  storeOptions(fw.command('sign'))
    .description('sign an image (or a patch that produces it) into a package')
    .argument('<image>', 'the image file (for a delta: the image the patch produces)')
    .option('--key <file>', 'signing key file (PEM or DER PKCS#8, P-256 or Ed25519)')
    .option('--key-label <label>', 'instead of --key: the signing key of that label in the key store')
    .requiredOption('--version <version>', 'version text')
    .requiredOption('--vendor <name>', 'vendor domain name (the vendor ID is UUIDv5 of it)')
    .requiredOption('--class <name>', 'device class name (the class ID is UUIDv5 of it under the vendor ID)')
    .option('--sequence <n>', 'anti-rollback sequence number (default: the current time in seconds)', uint)
    .option('--delta-base <file>', 'delta package: the image the patch applies to')
    .option('--patch <file>', 'delta package: the patch')
    .requiredOption('-o, --output <file>', 'package file to write')
    .action(async (image: string, flags: SignFlags) => void (await firmwareSign(image, flags)));
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
  const api = apiClientOptions;
  api(fw.command('upload'))
    .description('store a signed package in the server\'s repository (it must verify against a trusted firmware key)')
    .argument('<package>', 'package file')
    .option('--name <text>', 'a name to show in listings')
    .option('--notes <text>', 'free text kept with the package')
    .action(async (pkg: string, flags: FirmwareApiFlags & { name?: string; notes?: string }) => void (await firmwareUpload(pkg, flags)));
  api(fw.command('list'))
    .description('packages in the server\'s repository')
    .option('--vendor <name|uuid>', 'vendor domain name or vendor ID')
    .option('--class <name|uuid>', 'device class name (with --vendor) or class ID')
    .option('--version <text>', 'exact version')
    .option('--json', 'print JSON with full ids')
    .action(async (flags: FirmwareApiFlags & { vendor?: string; class?: string; version?: string; json?: boolean }) => void (await firmwareList(flags)));
  api(fw.command('show'))
    .description('one package of the repository with its manifest (JSON)')
    .argument('<id>', 'package id or a unique prefix of it')
    .action((id: string, flags: FirmwareApiFlags) => firmwareShow(id, flags));
  api(fw.command('rm'))
    .description('remove a package from the repository (refused while a campaign uses it)')
    .argument('<id>', 'package id or a unique prefix of it')
    .action((id: string, flags: FirmwareApiFlags) => firmwareRemove(id, flags));
}
