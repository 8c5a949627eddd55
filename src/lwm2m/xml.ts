/**
 * A small strict XML 1.0 parser, enough for OMA DDF files: elements, attributes, text, CDATA,
 * comments, processing instructions, the DOCTYPE (skipped), the five predefined entities and
 * numeric character references. No namespaces processing (prefixes stay in names), no DTD.
 */

/** An element: `text` is the concatenation of its direct character data (text and CDATA). */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/** Malformed XML; `line` is 1-based. */
export class XmlError extends Error {
  readonly line: number;
  constructor(message: string, line: number) {
    super(`XML error at line ${line}: ${message}`);
    this.name = 'XmlError';
    this.line = line;
  }
}

const NAME_START = /[A-Za-z_:\u00C0-\uFFFF]/;
const NAME_CHAR = /[A-Za-z0-9_:.\-\u00B7\u00C0-\uFFFF]/;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };
/** Element nesting limit: DDF files nest five deep; the parser recurses per level, so the stack stays bounded. */
const MAX_DEPTH = 256;

class Parser {
  private pos = 0;
  constructor(private readonly src: string) {}

  fail(message: string, at: number = this.pos): never {
    let line = 1;
    for (let i = 0; i < at && i < this.src.length; i++) if (this.src.charCodeAt(i) === 10) line++;
    throw new XmlError(message, line);
  }

  private startsWith(s: string): boolean {
    return this.src.startsWith(s, this.pos);
  }

  private skipSpace(): void {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else break;
    }
  }

  private skipPast(end: string, what: string): void {
    const i = this.src.indexOf(end, this.pos);
    if (i < 0) this.fail(`unterminated ${what}`);
    this.pos = i + end.length;
  }

  private readName(): string {
    const start = this.pos;
    const s = this.src;
    if (this.pos >= s.length || !NAME_START.test(s[this.pos]!)) this.fail('expected a name');
    this.pos++;
    while (this.pos < s.length && NAME_CHAR.test(s[this.pos]!)) this.pos++;
    return s.slice(start, this.pos);
  }

  /** Replaces entity and character references (XML 1.0 §4.1, §4.6). */
  private decode(raw: string, at: number): string {
    if (raw.indexOf('&') < 0) return raw;
    return raw.replace(/&([^;&\s]*);?/g, (match, ref: string, offset: number) => {
      if (!match.endsWith(';')) this.fail(`unterminated reference "${match}"`, at + offset);
      if (ref.startsWith('#x') || ref.startsWith('#X')) {
        if (!/^[0-9a-fA-F]+$/.test(ref.slice(2))) this.fail(`bad character reference "${match}"`, at + offset);
        return this.codePoint(parseInt(ref.slice(2), 16), match, at + offset);
      }
      if (ref.startsWith('#')) {
        if (!/^[0-9]+$/.test(ref.slice(1))) this.fail(`bad character reference "${match}"`, at + offset);
        return this.codePoint(parseInt(ref.slice(1), 10), match, at + offset);
      }
      const v = ENTITIES[ref];
      if (v === undefined) this.fail(`unknown entity "${match}"`, at + offset);
      return v;
    });
  }

  private codePoint(cp: number, match: string, at: number): string {
    if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail(`invalid character reference "${match}"`, at);
    return String.fromCodePoint(cp);
  }

  /** Skips the prolog's misc items: XML declaration, PIs, comments, whitespace, DOCTYPE. */
  private skipMisc(allowDoctype: boolean): void {
    for (;;) {
      this.skipSpace();
      if (this.startsWith('<?')) this.skipPast('?>', 'processing instruction');
      else if (this.startsWith('<!--')) this.skipComment();
      else if (allowDoctype && this.startsWith('<!DOCTYPE')) this.skipDoctype();
      else return;
    }
  }

  private skipComment(): void {
    this.pos += 4;
    const i = this.src.indexOf('--', this.pos);
    if (i < 0) this.fail('unterminated comment');
    if (this.src[i + 2] !== '>') this.fail('"--" inside a comment', i);
    this.pos = i + 3;
  }

  /** DOCTYPE with an optional internal subset in brackets (XML 1.0 §2.8); skipped. */
  private skipDoctype(): void {
    const s = this.src;
    let depth = 0;
    let quote = '';
    for (let i = this.pos + 9; i < s.length; i++) {
      const c = s[i]!;
      if (quote) {
        if (c === quote) quote = '';
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '[') depth++;
      else if (c === ']') depth--;
      else if (c === '>' && depth === 0) {
        this.pos = i + 1;
        return;
      }
    }
    this.fail('unterminated DOCTYPE');
  }

  parseDocument(): XmlElement {
    if (this.src.charCodeAt(0) === 0xfeff) this.pos = 1;
    this.skipMisc(true);
    if (!this.startsWith('<')) this.fail(this.pos >= this.src.length ? 'no root element' : 'text before the root element');
    const root = this.parseElement(1);
    this.skipMisc(false);
    if (this.pos < this.src.length) this.fail('content after the root element');
    return root;
  }

  private parseElement(depth: number): XmlElement {
    const open = this.pos;
    if (depth > MAX_DEPTH) this.fail(`elements nested deeper than ${MAX_DEPTH}`);
    this.pos++; // '<'
    const name = this.readName();
    const attributes: Record<string, string> = {};
    const el: XmlElement = { name, attributes, children: [], text: '' };
    for (;;) {
      const before = this.pos;
      this.skipSpace();
      if (this.startsWith('/>')) {
        this.pos += 2;
        return el;
      }
      if (this.startsWith('>')) {
        this.pos++;
        break;
      }
      if (this.pos >= this.src.length) this.fail(`unterminated start tag <${name}>`, open);
      if (this.pos === before) this.fail(`expected whitespace before an attribute in <${name}>`);
      const attr = this.readName();
      this.skipSpace();
      if (this.src[this.pos] !== '=') this.fail(`attribute ${attr} of <${name}> has no value`);
      this.pos++;
      this.skipSpace();
      const q = this.src[this.pos];
      if (q !== '"' && q !== "'") this.fail(`attribute ${attr} of <${name}> is not quoted`);
      const end = this.src.indexOf(q, this.pos + 1);
      if (end < 0) this.fail(`unterminated value of attribute ${attr}`);
      const raw = this.src.slice(this.pos + 1, end);
      if (raw.includes('<')) this.fail(`"<" in the value of attribute ${attr}`);
      if (Object.prototype.hasOwnProperty.call(attributes, attr)) this.fail(`attribute ${attr} repeated in <${name}>`);
      attributes[attr] = this.decode(raw, this.pos + 1);
      this.pos = end + 1;
    }
    // content (XML 1.0 §3.1)
    const s = this.src;
    for (;;) {
      const lt = s.indexOf('<', this.pos);
      if (lt < 0) this.fail(`element <${name}> is not closed`, open);
      if (lt > this.pos) el.text += this.decode(s.slice(this.pos, lt), this.pos);
      this.pos = lt;
      if (this.startsWith('</')) {
        this.pos += 2;
        const closing = this.readName();
        if (closing !== name) this.fail(`</${closing}> does not close <${name}>`);
        this.skipSpace();
        if (s[this.pos] !== '>') this.fail(`malformed end tag </${closing}>`);
        this.pos++;
        return el;
      }
      if (this.startsWith('<![CDATA[')) {
        const end = s.indexOf(']]>', this.pos + 9);
        if (end < 0) this.fail('unterminated CDATA section');
        el.text += s.slice(this.pos + 9, end);
        this.pos = end + 3;
      } else if (this.startsWith('<!--')) {
        this.skipComment();
      } else if (this.startsWith('<?')) {
        this.skipPast('?>', 'processing instruction');
      } else if (this.startsWith('<!')) {
        this.fail('unexpected markup declaration');
      } else {
        el.children.push(this.parseElement(depth + 1));
      }
    }
  }
}

/** Parses a whole document and returns its root element. Throws XmlError naming the line. */
export function parseXml(text: string): XmlElement {
  return new Parser(text).parseDocument();
}

/** The first direct child named `name` (case-insensitive when `ci`). */
export function childElement(el: XmlElement, name: string, ci = false): XmlElement | undefined {
  if (!ci) return el.children.find((c) => c.name === name);
  const lower = name.toLowerCase();
  return el.children.find((c) => c.name.toLowerCase() === lower);
}
