// A small deterministic PRNG (splitmix64): the same seed gives the same
// programs on every machine and Node version, which replay and minimization
// depend on. Math.random is never used by the fuzzer.
const MASK = (1n << 64n) - 1n;

function mix(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

/** The seed of program `index` of a campaign with seed `seed`: each program is reproducible on its own. */
export function programSeed(seed: number, index: number): number {
  return Number(mix((BigInt(seed) * 0x9e3779b97f4a7c15n + BigInt(index) + 1n) & MASK) & ((1n << 48n) - 1n));
}

export class Rng {
  #state: bigint;

  constructor(seed: number) {
    this.#state = BigInt.asUintN(64, BigInt(seed));
  }

  /** 64 random bits. */
  next64(): bigint {
    this.#state = (this.#state + 0x9e3779b97f4a7c15n) & MASK;
    return mix(this.#state);
  }

  /** A float in [0, 1). */
  float(): number {
    return Number(this.next64() >> 11n) / 2 ** 53;
  }

  /** An integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick of an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** One of `choices` with probability proportional to its weight (weights <= 0 never). */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((s, [, w]) => s + Math.max(0, w), 0);
    if (total <= 0) throw new Error('Rng.weighted with no positive weight');
    let x = this.float() * total;
    for (const [value, w] of choices) {
      if (w <= 0) continue;
      x -= w;
      if (x < 0) return value;
    }
    return choices.filter(([, w]) => w > 0).at(-1)![0];
  }
}
