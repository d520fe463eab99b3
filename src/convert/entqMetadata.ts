// The GGUF metadata keys an entropy-coded model carries (namespace "entq.").
export const ENTQ_KEYS = {
    /** u32: the ENTQ stream format version of every coded tensor */
    formatVersion: "entq.format_version",
    /** string: "entgguf <version>" */
    converter: "entq.converter",
    /** string: the converter options, JSON */
    options: "entq.options",
    /** string: "e4m3" or "int8" */
    codeKind: "entq.code_kind",
    /** u32: how many tensors are coded */
    codedTensors: "entq.coded_tensors",
    /** f32: coded bytes x 8 / coded elements, everything in the streams included */
    bitsPerWeight: "entq.bits_per_weight",
    /** f32 array, one per coded tensor in file order: the lambda used */
    lambdas: "entq.lambdas",
    /** u8 array, one per coded tensor: 1 where the outlier rule chose absmax */
    fallbacks: "entq.fallbacks",
    /** string, only in a dequantised reference model: the coded file it was made from */
    referenceOf: "entq.reference_of"
} as const;
