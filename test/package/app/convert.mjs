// An app's conversion: the bundled demo model at 4 bits/weight, through the public API.
import { convertModel, demoModelPath, nativeBindingPath } from "entgguf";

const summary = await convertModel(demoModelPath(), "coded.gguf", { bits: 4, progress: false });
console.log(JSON.stringify({ tensors: summary.tensors.length, bitsPerWeight: summary.bitsPerWeight, addon: nativeBindingPath() }));
