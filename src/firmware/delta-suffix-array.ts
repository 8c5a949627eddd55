/**
 * Suffix array construction by induced sorting (SA-IS: G. Nong, S. Zhang, W. H. Chan, "Two Efficient Algorithms
 * for Linear Time Suffix Array Construction", 2011). Linear time, Int32Array only; a 10 MiB image sorts in seconds.
 */

/**
 * The suffix array of `data` with the empty suffix first, as bsdiff's `I`: `sa[0] === data.length`, and
 * `sa[1..n]` the start offsets of the non-empty suffixes in lexicographic order. Length `data.length + 1`.
 */
export function suffixArray(data: Uint8Array): Int32Array {
  const n = data.length + 1;
  const s = new Int32Array(n);
  for (let i = 0; i < data.length; i++) s[i] = data[i]! + 1;
  s[n - 1] = 0;
  const sa = new Int32Array(n);
  sais(s, sa, n, 257);
  return sa;
}

function buckets(s: Int32Array, bkt: Int32Array, n: number, k: number, end: boolean): void {
  bkt.fill(0, 0, k);
  for (let i = 0; i < n; i++) bkt[s[i]!]!++;
  let sum = 0;
  for (let i = 0; i < k; i++) {
    sum += bkt[i]!;
    bkt[i] = end ? sum : sum - bkt[i]!;
  }
}

/** `s[n-1]` is a unique sentinel smaller than every other symbol; symbols are in [0, k). */
function sais(s: Int32Array, sa: Int32Array, n: number, k: number): void {
  if (n === 1) {
    sa[0] = 0;
    return;
  }
  // t[i] = 1 for S-type suffixes, 0 for L-type.
  const t = new Uint8Array(n);
  t[n - 1] = 1;
  t[n - 2] = 0;
  for (let i = n - 3; i >= 0; i--) t[i] = s[i]! < s[i + 1]! || (s[i] === s[i + 1] && t[i + 1] === 1) ? 1 : 0;
  const isLms = (i: number): boolean => i > 0 && t[i] === 1 && t[i - 1] === 0;
  const bkt = new Int32Array(k);

  const induce = (): void => {
    buckets(s, bkt, n, k, false);
    for (let i = 0; i < n; i++) {
      const j = sa[i]! - 1;
      if (j >= 0 && t[j] === 0) sa[bkt[s[j]!]!++] = j;
    }
    buckets(s, bkt, n, k, true);
    for (let i = n - 1; i >= 0; i--) {
      const j = sa[i]! - 1;
      if (j >= 0 && t[j] === 1) sa[--bkt[s[j]!]!] = j;
    }
  };

  buckets(s, bkt, n, k, true);
  sa.fill(-1, 0, n);
  for (let i = 1; i < n; i++) if (isLms(i)) sa[--bkt[s[i]!]!] = i;
  induce();

  let n1 = 0;
  for (let i = 0; i < n; i++) if (isLms(sa[i]!)) sa[n1++] = sa[i]!;
  sa.fill(-1, n1, n);
  let name = 0;
  let prev = -1;
  for (let i = 0; i < n1; i++) {
    const pos = sa[i]!;
    let diff = false;
    for (let d = 0; d < n; d++) {
      if (prev === -1 || s[pos + d] !== s[prev + d] || t[pos + d] !== t[prev + d]) {
        diff = true;
        break;
      } else if (d > 0 && (isLms(pos + d) || isLms(prev + d))) break;
    }
    if (diff) {
      name++;
      prev = pos;
    }
    sa[n1 + (pos >> 1)] = name - 1;
  }
  for (let i = n - 1, j = n - 1; i >= n1; i--) if (sa[i]! >= 0) sa[j--] = sa[i]!;

  const sa1 = sa.subarray(0, n1);
  const s1 = sa.subarray(n - n1, n);
  if (name < n1) sais(s1, sa1, n1, name);
  else for (let i = 0; i < n1; i++) sa1[s1[i]!] = i;

  buckets(s, bkt, n, k, true);
  for (let i = 1, j = 0; i < n; i++) if (isLms(i)) s1[j++] = i;
  for (let i = 0; i < n1; i++) sa1[i] = s1[sa1[i]!]!;
  sa.fill(-1, n1, n);
  for (let i = n1 - 1; i >= 0; i--) {
    const j = sa[i]!;
    sa[i] = -1;
    sa[--bkt[s[j]!]!] = j;
  }
  induce();
}
