/**
 * Child process for the registration benchmark: registers `count` endpoints over `sockets`
 * CoAP endpoints against the server given in argv, then reports the rate over IPC.
 */
import { CoapEndpoint, OptionNumber, UdpTransport, uintOption, uriPathOptions, uriQueryOptions } from '../src/coap/index.js';

const [port, count, sockets, prefix] = process.argv.slice(2).map((v, i) => (i < 3 ? Number(v) : v)) as [number, number, number, string];
const peer = { address: '127.0.0.1', port };
const links = Buffer.from('</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</4/0>,</5/0>,</6/0>');

const endpoints = await Promise.all(Array.from({ length: sockets }, async () => new CoapEndpoint(await UdpTransport.bind(0, '127.0.0.1'))));
let next = 0;
let failed = 0;
const start = performance.now();
await Promise.all(
  endpoints.map(async (ep) => {
    for (let i = next++; i < count; i = next++) {
      const res = await ep.request(peer, {
        code: 2,
        options: [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions([`ep=${prefix}${i}`, 'lt=3600', 'lwm2m=1.1', 'b=U'])],
        payload: links,
      });
      if (res.code !== 65) failed++;
    }
  }),
);
const seconds = (performance.now() - start) / 1000;
process.send!({ rate: count / seconds, failed });
await Promise.all(endpoints.map((e) => e.close()));
process.disconnect();
