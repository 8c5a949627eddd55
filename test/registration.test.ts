/** The Registration interface (Core §6.2) byte by byte, from a bare CoAP endpoint. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getStrings, OptionNumber, uintOption, uriPathOptions, uriQueryOptions, type CoapOption } from '../src/coap/index.js';
import { rawEndpoint, startTestServer, until } from './helpers.js';

const LINKS = Buffer.from('</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</5>;ver=1.0');

function registerOptions(query: string[]): CoapOption[] {
  return [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions(query)];
}

test('register, update and de-register follow Core §6.2 and are stored', async (t) => {
  const ts = await startTestServer();
  const dev = await rawEndpoint();
  t.after(async () => {
    await dev.close();
    await ts.close();
  });
  const created = await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=dev1', 'lt=120', 'lwm2m=1.1', 'b=U']), payload: LINKS });
  assert.equal(created.code, 65, '2.01 Created');
  const location = getStrings(created, OptionNumber.LocationPath);
  assert.equal(location[0], 'rd');
  assert.equal(location.length, 2);
  const reg = ts.server.getRegistration('dev1');
  assert.ok(reg);
  assert.equal(reg.lifetime, 120);
  assert.equal(reg.lwm2mVersion, '1.1');
  assert.deepEqual(reg.supportedContentFormats, [11542]);
  assert.deepEqual([...reg.objects.keys()].sort((a, b) => a - b), [1, 3, 5]);
  assert.equal(ts.store.loadRegistrations()[0]?.endpoint, 'dev1');

  const updated = await dev.request(ts.peer, { code: 2, options: [...uriPathOptions(location), ...uriQueryOptions(['lt=600'])] });
  assert.equal(updated.code, 68, '2.04 Changed');
  assert.equal(ts.server.getRegistration('dev1')?.lifetime, 600);
  assert.equal(ts.store.loadRegistrations()[0]?.lifetime, 600);

  const unknown = await dev.request(ts.peer, { code: 2, options: uriPathOptions('/rd/nope') });
  assert.equal(unknown.code, 132, 'update of an unknown registration is 4.04');

  const deleted = await dev.request(ts.peer, { code: 4, options: uriPathOptions(location) });
  assert.equal(deleted.code, 66, '2.02 Deleted');
  assert.equal(ts.server.getRegistration('dev1'), undefined);
  assert.equal(ts.store.loadRegistrations().length, 0);
});

test('bad Register requests get the specified errors and store nothing', async (t) => {
  const ts = await startTestServer();
  const dev = await rawEndpoint();
  t.after(async () => {
    await dev.close();
    await ts.close();
  });
  const cases: [string[], number, string][] = [
    [['lt=60'], 128, 'missing ep is 4.00'],
    [['ep=x', 'lt=abc'], 128, 'bad lifetime is 4.00'],
    [['ep=x', 'lt=0'], 128, 'zero lifetime is 4.00'],
    [['ep=x', 'lwm2m=9.9'], 140, 'unsupported version is 4.12'],
    [['ep=x', 'b=Z'], 128, 'unknown binding is 4.00'],
  ];
  for (const [query, code, why] of cases) {
    const res = await dev.request(ts.peer, { code: 2, options: registerOptions(query), payload: LINKS });
    assert.equal(res.code, code, why);
  }
  const badLinks = await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=x']), payload: Buffer.from('</1/0;;;<<') });
  assert.equal(badLinks.code, 128, 'malformed links are 4.00');
  const wrongFormat = await dev.request(ts.peer, {
    code: 2, options: [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 50), ...uriQueryOptions(['ep=x'])], payload: LINKS,
  });
  assert.equal(wrongFormat.code, 143, 'a payload that is not link-format is 4.15');
  assert.equal(ts.server.registrationCount(), 0);
  assert.equal(ts.store.loadRegistrations().length, 0);
});

test('a second Register of one endpoint replaces the first and ends its observations', async (t) => {
  const ts = await startTestServer();
  const dev = await rawEndpoint();
  t.after(async () => {
    await dev.close();
    await ts.close();
  });
  const reasons: string[] = [];
  ts.server.on('deregistered', (_reg, reason: string) => reasons.push(reason));
  await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=dev1']), payload: LINKS });
  const first = ts.server.getRegistration('dev1')!.registrationId;
  await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=dev1']), payload: LINKS });
  assert.notEqual(ts.server.getRegistration('dev1')!.registrationId, first);
  assert.deepEqual(reasons, ['replaced']);
  assert.equal(ts.server.registrationCount(), 1);
  assert.equal(ts.store.loadRegistrations().length, 1);
});

test('a registration whose lifetime runs out expires and leaves the store', async (t) => {
  const ts = await startTestServer({ expiryGrace: 0 });
  const dev = await rawEndpoint();
  t.after(async () => {
    await dev.close();
    await ts.close();
  });
  const reasons: string[] = [];
  ts.server.on('deregistered', (_reg, reason: string) => reasons.push(reason));
  await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=short', 'lt=1']), payload: LINKS });
  await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=long', 'lt=600']), payload: LINKS });
  await until(() => reasons.length > 0, 5000, 'expiry');
  assert.deepEqual(reasons, ['expired']);
  assert.equal(ts.server.getRegistration('short'), undefined);
  assert.ok(ts.server.getRegistration('long'));
  assert.deepEqual(ts.store.loadRegistrations().map((r) => r.endpoint), ['long']);
});

test('a registration flood is absorbed: every device is stored and others keep being served', async (t) => {
  const ts = await startTestServer();
  const devs = await Promise.all(Array.from({ length: 20 }, () => rawEndpoint()));
  t.after(async () => {
    await Promise.all(devs.map((d) => d.close()));
    await ts.close();
  });
  const results = await Promise.all(
    devs.flatMap((d, i) =>
      Array.from({ length: 50 }, (_, j) =>
        d.request(ts.peer, { code: 2, options: registerOptions([`ep=flood-${i}-${j}`, 'lt=300']), payload: LINKS }))),
  );
  assert.ok(results.every((r) => r.code === 65));
  assert.equal(ts.server.registrationCount(), 1000);
  assert.equal(ts.store.loadRegistrations().length, 1000);
});

test('the server refuses registrations past its limit with 5.03 and keeps the ones it has', async (t) => {
  const ts = await startTestServer({ maxRegistrations: 2 });
  const dev = await rawEndpoint();
  t.after(async () => {
    await dev.close();
    await ts.close();
  });
  for (const ep of ['a', 'b']) {
    assert.equal((await dev.request(ts.peer, { code: 2, options: registerOptions([`ep=${ep}`]), payload: LINKS })).code, 65);
  }
  const refused = await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=c']), payload: LINKS });
  assert.equal(refused.code, 163);
  const again = await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=a']), payload: LINKS });
  assert.equal(again.code, 65, 'an already registered endpoint may register again');
  assert.equal(ts.server.registrationCount(), 2);
});

test('the authorizer decides who may register under an endpoint name: refusals are 4.03 and store nothing', async (t) => {
  const seen: [string, string | undefined][] = [];
  const ts = await startTestServer({
    authorize: (endpoint, identity) => {
      seen.push([endpoint, identity?.name]);
      return endpoint !== 'someone-else';
    },
  });
  const dev = await rawEndpoint();
  t.after(async () => {
    await dev.close();
    await ts.close();
  });
  const refused = await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=someone-else']), payload: LINKS });
  assert.equal(refused.code, 131);
  assert.equal(refused.payload.length, 0, 'the refusal says nothing about why');
  assert.equal(ts.server.registrationCount(), 0);
  assert.equal((await dev.request(ts.peer, { code: 2, options: registerOptions(['ep=me']), payload: LINKS })).code, 65);
  assert.deepEqual(seen, [['someone-else', undefined], ['me', undefined]], 'plain CoAP carries no identity');
  assert.equal(ts.store.loadRegistrations()[0]?.secure, false);
});
