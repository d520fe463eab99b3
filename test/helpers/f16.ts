/** IEEE binary16 bits -> number (exact). */
export function f16ToNumber(h: number): number {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const man = h & 0x3ff;
    if (exp === 0x1f) return man ? NaN : sign * Infinity;
    if (exp === 0) return sign * man * 2 ** -24;
    return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/** E4M3 byte -> number (OCP FP8; S.1111.111 is NaN). */
export function e4m3ToNumber(c: number): number {
    const e = (c >> 3) & 15;
    const m = c & 7;
    if (e === 15 && m === 7) return NaN;
    const v = e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
    return c & 0x80 ? -v : v;
}
