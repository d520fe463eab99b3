// How long node-llama-cpp's own GGUF reader (readGgufFileInfo, what llama.loadModel runs before llama.cpp) spends on
// a file: its buffer growth is sampled at every doubling, and the run stops after a time limit. On a coded file
// whose tensor info has a flipped dimension count it reads on past the end of the file (BENCHMARKS, "Mutated files,
// second pass"). Usage: node scripts/measureNlcGgufReader.mjs <file.gguf> [seconds, default 90]
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

import { readGgufFileInfo } from "node-llama-cpp";

const [file, seconds = "90"] = process.argv.slice(2);
let root = dirname(createRequire(import.meta.url).resolve("node-llama-cpp"));
while (!root.endsWith("node-llama-cpp")) root = dirname(root);
const { GgufFileReader } = await import(pathToFileURL(join(root, "dist", "gguf", "fileReaders", "GgufFileReader.js")).href);
const add = GgufFileReader.prototype._addToBuffer;
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
let grows = 0;
GgufFileReader.prototype._addToBuffer = function (buffer) {
    add.call(this, buffer);
    if ((++grows & (grows - 1)) === 0)
        console.log(`${elapsed()}: buffer ${(this._buffer.length / 2 ** 20).toFixed(0)} MiB after ${grows} growths, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
};
setTimeout(() => {
    console.log(`stopped after ${seconds} s, still reading (${grows} growths)`);
    process.exit(0);
}, Number(seconds) * 1000).unref();
try {
    await readGgufFileInfo(file, { sourceType: "filesystem" });
    console.log(`read in ${elapsed()}`);
} catch (e) {
    console.log(`rejected after ${elapsed()}: ${e.message}`);
}
