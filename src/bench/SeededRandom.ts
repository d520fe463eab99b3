/** SplitMix64, the same generator as native/test/test.h: seeded, identical everywhere. */
export class SeededRandom {
    private s: bigint;

    constructor(seed: number) {
        this.s = BigInt(seed);
    }

    next(): bigint {
        const mask = (1n << 64n) - 1n;
        this.s = (this.s + 0x9e3779b97f4a7c15n) & mask;
        let z = this.s;
        z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
        z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
        return z ^ (z >> 31n);
    }

    /** uniform in (0, 1) */
    uniform(): number {
        return (Number(this.next() >> 11n) + 0.5) / 2 ** 53;
    }

    below(n: number): number {
        return Math.floor(this.uniform() * n);
    }

    /** Laplace(0, b) */
    laplace(b: number): number {
        const u = this.uniform() - 0.5;
        return -b * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
    }
}
