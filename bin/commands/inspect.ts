import type { Command } from "commander";

import { inspectModel } from "../../src/inspect/inspectModel.js";
import { formatTable } from "../formatTable.js";

export function registerInspectCommand(program: Command): void {
    program
        .command("inspect")
        .description("show a GGUF's metadata and tensors; for entropy-coded tensors also bits/weight, code kind, entropy, segments")
        .argument("<file.gguf>", "model file")
        .option("--json", "print JSON (for machines)")
        .option("--no-decode", "do not decode coded tensors (faster; no entropy, no checksum check)")
        .action(async (file: string, opts: { json?: boolean; decode: boolean }) => {
            const r = await inspectModel(file, { decode: opts.decode });
            if (opts.json) {
                console.log(JSON.stringify(r, null, 2));
                return;
            }
            console.log(`${r.file}: GGUF v${r.version}, ${r.fileBytes} bytes, ${r.tensors.length} tensors`);
            console.log("\nmetadata:");
            for (const [k, v] of Object.entries(r.metadata)) console.log(`  ${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`);
            console.log("");
            const rows = r.tensors.map((t) => [
                t.name,
                !t.entq ? `[${t.dims.join(", ")}]` : t.entq.experts ? `[${t.entq.shape[0]}, ${t.entq.shape[1] / t.entq.experts}, ${t.entq.experts}]` : `[${t.entq.shape.join(", ")}]`,
                t.type,
                String(t.bytes),
                t.entq ? t.entq.bitsPerWeight.toFixed(3) : "",
                t.entq?.codeKind ?? "",
                t.entq?.entropyBits !== undefined ? t.entq.entropyBits.toFixed(3) : "",
                t.entq ? String(t.entq.segments) : ""
            ]);
            console.log(formatTable(["tensor", "shape", "type", "bytes", "bits/w", "codes", "entropy", "segments"], rows));
            const moe = r.tensors.filter((t) => t.entq?.expertBitsPerWeight);
            if (moe.length) {
                // each expert's own bytes (segments, index entries, row scales); the shared header and table are in bits/w above
                console.log("\nbits/weight per expert (its segments and row scales):");
                console.log(formatTable(["tensor", ...moe[0]!.entq!.expertBitsPerWeight!.map((_, e) => `e${e}`)],
                    moe.map((t) => [t.name, ...t.entq!.expertBitsPerWeight!.map((b) => b.toFixed(3))])));
            }
            if (r.codedBitsPerWeight !== undefined) {
                const coded = r.tensors.filter((t) => t.entq).length;
                console.log(`\n${coded} coded tensors, ${r.codedBitsPerWeight.toFixed(3)} bits/weight (streams' bytes x 8 / elements, tables and scales included)`);
            }
            console.log(`${r.codedBitsPerWeight !== undefined ? "" : "\n"}whole file: ${(r.fileBytes / 1e6).toFixed(2)} MB, ${r.fileBitsPerWeight.toFixed(3)} bits/weight over every tensor (embeddings, output head and norms included)`);
        });
}
