import { ulid as makeUlid } from "ulid";

// ulid's default source finds the crypto object again and calls crypto.getRandomValues once per
// character, 16 times per id, each a trip out of JavaScript: 6.6% of a miss's CPU and 9.4% of a hit's
// in `npm run bench:profile`. The same CSPRNG, drawn 4 KiB at a time, is one trip per 256 ids.
const pool = new Uint8Array(4096);
let next = pool.length;

function pooledRandom(): number {
  if (next === pool.length) {
    crypto.getRandomValues(pool);
    next = 0;
  }
  return (pool[next++] ?? 0) / 256;
}

/** A ULID: time-ordered, with 80 fresh random bits (not monotonic, so neighbours are not guessable). */
export const ulid = (): string => makeUlid(Date.now(), pooledRandom);
