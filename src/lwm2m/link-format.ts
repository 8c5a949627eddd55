/** RFC 6690 CoRE Link Format: parse and serialize link-value lists. */
import { Lwm2mError, ResponseCode } from './error.js';

/** One link-value: the URI-Reference between `<` and `>` and its link-params. */
export interface Link {
  uri: string;
  /** Quoted values are unquoted; a parameter without `=` is `true`; the last repetition wins. */
  attributes: Record<string, string | true>;
}

const LT = 0x3c;
const GT = 0x3e;
const SEMI = 0x3b;
const COMMA = 0x2c;
const EQ = 0x3d;
const DQUOTE = 0x22;
const BSLASH = 0x5c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** RFC 6690 §2 parmname = 1*ptokenchar-ish: ALPHA / DIGIT / "!" "#" "$" "&" "+" "-" "." "^" "_" "`" "|" "~" and "*" (RFC 5987 ext). */
function isParmNameChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x21 ||
    c === 0x23 ||
    c === 0x24 ||
    c === 0x26 ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e ||
    c === 0x2a
  );
}

function malformed(text: string, at: number, why: string): Lwm2mError {
  return new Lwm2mError(ResponseCode.BadRequest, `malformed link format at offset ${at}: ${why} (in ${JSON.stringify(text.slice(0, 80))})`);
}

/**
 * Parses a link-value list (RFC 6690 §2). Whitespace around separators is tolerated.
 * Throws Lwm2mError(4.00) on malformed input. An empty (or blank) text gives [].
 */
export function parseLinks(text: string): Link[] {
  const links: Link[] = [];
  const n = text.length;
  let i = 0;
  const skipSpace = (): void => {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
  };
  skipSpace();
  if (i === n) return links;
  for (;;) {
    skipSpace();
    if (text.charCodeAt(i) !== LT) throw malformed(text, i, 'expected "<"');
    const end = text.indexOf('>', i + 1);
    if (end < 0) throw malformed(text, i, 'unterminated "<"');
    const uri = text.slice(i + 1, end);
    if (/[\s<"]/.test(uri)) throw malformed(text, i, 'invalid character in URI-Reference');
    i = end + 1;
    const attributes: Record<string, string | true> = {};
    skipSpace();
    while (i < n && text.charCodeAt(i) === SEMI) {
      i++;
      skipSpace();
      const nameStart = i;
      while (i < n && isParmNameChar(text.charCodeAt(i))) i++;
      if (i === nameStart) throw malformed(text, i, 'expected a parameter name');
      const name = text.slice(nameStart, i);
      skipSpace();
      if (i < n && text.charCodeAt(i) === EQ) {
        i++;
        skipSpace();
        if (i < n && text.charCodeAt(i) === DQUOTE) {
          // quoted-string (RFC 2616 §2.2): backslash escapes the next character.
          i++;
          let value = '';
          let closed = false;
          while (i < n) {
            const c = text.charCodeAt(i);
            if (c === BSLASH && i + 1 < n) {
              value += text[i + 1];
              i += 2;
            } else if (c === DQUOTE) {
              i++;
              closed = true;
              break;
            } else {
              value += text[i];
              i++;
            }
          }
          if (!closed) throw malformed(text, i, `unterminated quoted value of "${name}"`);
          attributes[name] = value;
        } else {
          const valueStart = i;
          while (i < n) {
            const c = text.charCodeAt(i);
            if (c === SEMI || c === COMMA || isSpace(c) || c === DQUOTE || c === LT || c === GT) break;
            i++;
          }
          if (i === valueStart) throw malformed(text, i, `empty value of "${name}"`);
          attributes[name] = text.slice(valueStart, i);
        }
        skipSpace();
      } else {
        attributes[name] = true;
      }
    }
    links.push({ uri, attributes });
    skipSpace();
    if (i === n) return links;
    if (text.charCodeAt(i) !== COMMA) throw malformed(text, i, 'expected "," or ";"');
    i++;
  }
}

/** Parameters RFC 6690 §2 defines as quoted-string; others are quoted only when needed. */
const QUOTED_PARAMS = new Set(['rt', 'if', 'title', 'anchor', 'rev', 'rel', 'hreflang', 'media', 'type']);

/**
 * RFC 6690 §2 ptoken characters, less "<" and ">": ptokenchars, but parseLinks (like other readers)
 * ends an unquoted value there, so such values are written as quoted-strings, which are always valid.
 */
const PTOKEN = /^[!#$%&'()*+\-./0-9:=?@A-Z[\]^_`a-z{|}~]+$/;

function formatValue(name: string, value: string): string {
  if (!QUOTED_PARAMS.has(name) && PTOKEN.test(value)) return value;
  return '"' + value.replace(/["\\]/g, '\\$&') + '"';
}

/** Serializes links as a link-value list (RFC 6690 §2), attributes in insertion order. */
export function formatLinks(links: readonly Link[]): string {
  let out = '';
  for (let k = 0; k < links.length; k++) {
    const link = links[k]!;
    if (k > 0) out += ',';
    out += '<' + link.uri + '>';
    for (const name in link.attributes) {
      const value = link.attributes[name]!;
      out += value === true ? ';' + name : ';' + name + '=' + formatValue(name, value);
    }
  }
  return out;
}
