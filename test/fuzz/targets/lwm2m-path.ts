/** LwM2M paths (Core §6.1, §7.1): text and Uri-Path segments. Lwm2mPath.parse rejects with RangeError by contract. */
import { Lwm2mPath } from '../../../src/lwm2m/index.js';
import { afterDecode, check, checkSame, latin1, utf8, type FuzzTarget } from '../target.js';

export default {
  name: 'lwm2m-path',
  seeds: () => ['/3/0/1', '3/0', '/', '', '/65535/65535/65535/65535', '//1//', '/1/2/3/4/5', '/00001/0'].map(utf8),
  maxLen: 64,
  dictionary: ['/', '65535', '65536', '0', '00000', '99999'],
  // The declared rejections: parse's "invalid LwM2M path" and of's range checks (path.ts).
  expected: (err) => err instanceof RangeError && /LwM2M path/.test(err.message),
  run(data) {
    const text = latin1(data);
    const segs = text.split('/').filter((s, i, a) => !(s === '' && (i === 0 || i === a.length - 1)));
    const fromSegs = Lwm2mPath.fromSegments(segs);
    let p: Lwm2mPath;
    try {
      p = Lwm2mPath.parse(text);
    } catch (err) {
      check(fromSegs === undefined || text.includes('//'), () => `parse rejected "${text}" that fromSegments accepts`);
      throw err;
    }
    check(p.ids.length <= 4 && p.ids.every((id) => Number.isInteger(id) && id >= 0 && id <= 65535), 'path id out of range');
    checkSame(afterDecode('parse(toString(p))', () => Lwm2mPath.parse(p.toString())).ids, p.ids, 'parse(toString(p))');
    checkSame(Lwm2mPath.fromSegments(p.segments())?.ids, p.ids, 'fromSegments(segments(p))');
    if (fromSegs) checkSame(fromSegs.ids, p.ids, 'fromSegments and parse disagree');
    if (p.ids.length > 0) check(p.parent().contains(p) && p.contains(p) && p.equals(p), 'containment');
  },
} satisfies FuzzTarget;
