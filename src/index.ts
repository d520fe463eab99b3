// entgguf's public API.
export { CodeKind, type NativeStreamInfo as StreamInfo } from "./native/binding.js";
export { EntqStreamError } from "./stream/EntqStreamError.js";
export { encodeStream, type EncodeStreamOptions } from "./stream/encodeStream.js";
export { decodeStream, type DecodeStreamOptions } from "./stream/decodeStream.js";
export { validateStream, type ValidateStreamOptions } from "./stream/validateStream.js";
export { QuantMethod } from "./native/binding.js";
export { quantizeTensor, type QuantizeTensorOptions, type QuantizedTensor } from "./quant/quantizeTensor.js";
export { quantObjective } from "./quant/quantObjective.js";
export { roundToCodes } from "./quant/roundToCodes.js";
export { QuantizeError, type QuantizeErrorCode } from "./quant/QuantizeError.js";
export { tensorRateCurve, defaultRateCurveLambdas, type TensorRateCurve, type TensorRateCurveOptions } from "./quant/tensorRateCurve.js";
export { findModelLambda } from "./quant/findModelLambda.js";
export { getEntLlama, EntLlamaLoadError, type GetEntLlamaOptions } from "./runtime/getEntLlama.js";
export { buildLlama, resolveEntLlamaBuild, type EntLlamaBuild, type EntLlamaBuildOptions, type EntLlamaGpu } from "./runtime/buildLlama.js";
export { prepareLlamaSource, type LlamaSource } from "./runtime/prepareLlamaSource.js";
export { applyPatches, readPatchManifest, PatchApplyError, type PatchManifest } from "./runtime/applyPatches.js";
