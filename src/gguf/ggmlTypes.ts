/** What a ggml tensor type needs for byte sizes: ne[0] must be a multiple of blockSize, and a block takes typeSize bytes. */
export type GgmlTypeInfo = {
    readonly id: number;
    /** ggml's type_name, e.g. "q8_0" */
    readonly name: string;
    readonly blockSize: number;
    readonly typeSize: number;
};

/**
 * Our coded-weight type: a 1-D byte tensor whose length is the ENTQ stream's byte count
 * (GUIDE §2 point 4). 100 is far above ggml's GGML_TYPE_COUNT (43 in llama.cpp v0.5.0), so
 * upstream is unlikely to reach it soon; the stream header carries its own format version.
 */
export const ENTQ_GGML_TYPE = 100;

function line<const N extends string>(id: number, name: N, blockSize: number, typeSize: number) {
    return { id, name, blockSize, typeSize } satisfies GgmlTypeInfo;
}

// Ids from ggml/include/ggml.h, block and type sizes from ggml.c's type_traits (sizeof of the
// block structs in ggml-common.h), llama.cpp v0.5.0 as bundled by node-llama-cpp 3.22.1.
// Removed ids (4, 5, 31-33, 36-38) are absent: gguf refuses them too.
const table = [
    //   id  name        block  bytes
    line( 0, "f32",          1,     4),
    line( 1, "f16",          1,     2),
    line( 2, "q4_0",        32,    18),
    line( 3, "q4_1",        32,    20),
    line( 6, "q5_0",        32,    22),
    line( 7, "q5_1",        32,    24),
    line( 8, "q8_0",        32,    34),
    line( 9, "q8_1",        32,    36),
    line(10, "q2_K",       256,    84),
    line(11, "q3_K",       256,   110),
    line(12, "q4_K",       256,   144),
    line(13, "q5_K",       256,   176),
    line(14, "q6_K",       256,   210),
    line(15, "q8_K",       256,   292),
    line(16, "iq2_xxs",    256,    66),
    line(17, "iq2_xs",     256,    74),
    line(18, "iq3_xxs",    256,    98),
    line(19, "iq1_s",      256,    50),
    line(20, "iq4_nl",      32,    18),
    line(21, "iq3_s",      256,   110),
    line(22, "iq2_s",      256,    82),
    line(23, "iq4_xs",     256,   136),
    line(24, "i8",           1,     1),
    line(25, "i16",          1,     2),
    line(26, "i32",          1,     4),
    line(27, "i64",          1,     8),
    line(28, "f64",          1,     8),
    line(29, "iq1_m",      256,    56),
    line(30, "bf16",         1,     2),
    line(34, "tq1_0",      256,    54),
    line(35, "tq2_0",      256,    66),
    line(39, "mxfp4",       32,    17),
    line(40, "nvfp4",       64,    36),
    line(41, "q1_0",       128,    18),
    line(42, "q2_0",        64,    18),
    line(ENTQ_GGML_TYPE, "entq", 1, 1)
] as const;

/** The ggml tensor types a GGUF may hold, by id. */
export const ggmlTypes: ReadonlyMap<number, GgmlTypeInfo> = new Map(table.map((t) => [t.id, t]));

/** Ids by upper-case name, for readable call sites: GgmlType.F16, GgmlType.Q8_0, GgmlType.ENTQ. */
export const GgmlType = Object.freeze(Object.fromEntries(table.map((t) => [t.name.toUpperCase(), t.id]))) as Readonly<
    Record<Uppercase<(typeof table)[number]["name"]>, number>
>;
