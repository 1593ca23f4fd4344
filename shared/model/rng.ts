/**
 * Seeded pseudo-random numbers: mulberry32 exactly as docs/model-format.md ("Probes") defines it, and
 * a small generator on top of it for sampling and synthetic weights. Deterministic for a seed.
 */

/** A stream of uniform numbers in [0, 1). */
export type Uniform = () => number;

/** mulberry32 over uint32 state `seed` (docs/model-format.md): each call returns u / 2^32. */
export function mulberry32(seed: number): Uniform {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded generator: uniforms, standard normals (Box-Muller), and integers. */
export interface Rng {
  next(): number;
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/** A seeded Rng over mulberry32. Any integer seed is reduced to uint32. */
export function createRng(seed: number): Rng {
  const u = mulberry32(seed);
  let spare: number | undefined;
  return {
    next: u,
    normal() {
      if (spare !== undefined) { const s = spare; spare = undefined; return s; }
      let a = u();
      while (a === 0) a = u();
      const r = Math.sqrt(-2 * Math.log(a));
      const th = 2 * Math.PI * u();
      spare = r * Math.sin(th);
      return r * Math.cos(th);
    },
    int: (n) => Math.floor(u() * n),
  };
}
