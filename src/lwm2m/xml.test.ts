import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childElement, parseXml, XmlError } from './xml.js';

test('parses elements, attributes, text, CDATA, entities and char refs; skips prolog, comments, PIs, DOCTYPE', () => {
  const doc = parseXml(
    '\uFEFF<?xml version="1.0"?>\n<!DOCTYPE a [ <!ENTITY x "y"> ]>\n<!-- c -->\n' +
      '<a k="1 &amp; 2" j=\'&#x41;&#66;\'><b>t &lt;x&gt; &quot;q&quot; &apos;</b><!-- in --><?pi x?>' +
      '<c><![CDATA[<raw> & ]]></c><d/>tail</a>\n<!-- after -->\n',
  );
  assert.equal(doc.name, 'a');
  assert.deepEqual(doc.attributes, { k: '1 & 2', j: 'AB' });
  assert.deepEqual(
    doc.children.map((c) => c.name),
    ['b', 'c', 'd'],
  );
  assert.equal(childElement(doc, 'b')?.text, 't <x> "q" \'');
  assert.equal(childElement(doc, 'C', true)?.text, '<raw> & ');
  assert.equal(childElement(doc, 'C'), undefined);
  assert.equal(childElement(doc, 'd')?.children.length, 0);
  assert.equal(doc.text, 'tail');
});

test('rejects malformed documents with the line number', () => {
  const cases: [string, number, RegExp][] = [
    ['<a>\n<b>\n</a>', 3, /does not close <b>/],
    ['<a>\n\n<b x=1/></a>', 3, /not quoted/],
    ['<a>&foo;</a>', 1, /unknown entity/],
    ['<a>&amp</a>', 1, /unterminated reference/],
    ['<a>&#0;</a>', 1, /invalid character reference/],
    ['<a>\n<!-- x', 2, /unterminated comment/],
    ['<a/>\n<b/>', 2, /after the root/],
    ['text<a/>', 1, /before the root/],
    ['', 1, /no root element/],
    ['<a>\n<![CDATA[x', 2, /CDATA/],
    ['<a x="1" x="2"/>', 1, /repeated/],
    ['<a>\n\n\n', 1, /not closed/],
    ['<a b="<"/>', 1, /"<"/],
  ];
  for (const [text, line, re] of cases) {
    assert.throws(
      () => parseXml(text),
      (err: unknown) => err instanceof XmlError && err.line === line && re.test(err.message) && err.message.includes(`line ${line}`),
      JSON.stringify(text),
    );
  }
});
