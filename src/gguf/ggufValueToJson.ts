import type { GgufValue } from "./GgufFileInfo.js";
import { GgufValueType } from "./GgufValueType.js";

export type JsonValue = string | number | boolean | null | JsonValue[];

function item(x: unknown): JsonValue {
    if (typeof x === "bigint") return x.toString();
    // JSON has no NaN or infinities; spell them as JavaScript does
    if (typeof x === "number" && !Number.isFinite(x)) return String(x);
    return x as JsonValue;
}

/**
 * A metadata value as JSON (for `inspect --json`): 64-bit integers as decimal strings (exact),
 * non-finite floats as "NaN" / "Infinity" / "-Infinity", arrays as arrays.
 */
export function ggufValueToJson(v: GgufValue): JsonValue {
    if (v.type !== GgufValueType.ARRAY) return item(v.value);
    if (v.itemType === GgufValueType.ARRAY) return v.items.map(ggufValueToJson);
    return Array.from(v.items as ArrayLike<unknown>, item);
}
