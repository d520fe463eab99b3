// entgguf's public API.
export { CodeKind, type NativeStreamInfo as StreamInfo } from "./native/binding.js";
export { EntqStreamError } from "./stream/EntqStreamError.js";
export { encodeStream, type EncodeStreamOptions } from "./stream/encodeStream.js";
export { decodeStream, type DecodeStreamOptions } from "./stream/decodeStream.js";
export { validateStream, type ValidateStreamOptions } from "./stream/validateStream.js";
