// The weights of a Hugging Face folder: model.safetensors, or the shards that
// model.safetensors.index.json names. Every header is read and checked up front
// (so a missing shard or a lying header fails before anything is written); tensor
// data stays on disk until asked for.
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";

import { HfInputError } from "./HfInputError.js";
import { SafetensorsFile, type SafetensorsTensor } from "./SafetensorsFile.js";

export const SAFETENSORS_SINGLE = "model.safetensors";
export const SAFETENSORS_INDEX = "model.safetensors.index.json";

/** A tensor and the file that holds it. */
export type CheckpointTensor = SafetensorsTensor & { readonly source: SafetensorsFile };

export type SafetensorsCheckpoint = {
    /** every tensor of every shard, by name, in shard order then header order */
    readonly tensors: ReadonlyMap<string, CheckpointTensor>;
    close(): Promise<void>;
};

/** The shard files, and the index's name -> shard map when there is one. */
async function shardNames(folder: string): Promise<{ shards: string[]; weightMap?: Record<string, string> }> {
    const index = path.join(folder, SAFETENSORS_INDEX);
    if (existsSync(index)) {
        let weightMap: unknown;
        try {
            weightMap = (JSON.parse(await fs.readFile(index, "utf8")) as { weight_map?: unknown }).weight_map;
        } catch (e) {
            throw new HfInputError("BAD_JSON", index, `not valid JSON (${(e as Error).message})`);
        }
        if (typeof weightMap !== "object" || weightMap === null || !Object.values(weightMap).every((f) => typeof f === "string"))
            throw new HfInputError("BAD_JSON", index, "has no weight_map of tensor name -> shard file");
        const shards = [...new Set(Object.values(weightMap as Record<string, string>))];
        for (const s of shards) {
            // a shard is a file beside the index, never a path elsewhere
            if (s !== path.basename(s)) throw new HfInputError("BAD_JSON", index, `names shard "${s}", which is not a file name in this folder`);
            if (!existsSync(path.join(folder, s))) throw new HfInputError("MISSING_FILE", path.join(folder, s), `missing: ${SAFETENSORS_INDEX} lists this shard`);
        }
        return { shards, weightMap: weightMap as Record<string, string> };
    }
    if (existsSync(path.join(folder, SAFETENSORS_SINGLE))) return { shards: [SAFETENSORS_SINGLE] };
    throw new HfInputError("MISSING_FILE", folder, `holds neither ${SAFETENSORS_SINGLE} nor ${SAFETENSORS_INDEX} (only safetensors checkpoints are read, not pytorch_model.bin)`);
}

/** Opens the folder's safetensors weights (one file or sharded through the index). close() when done. */
export async function readSafetensors(folder: string): Promise<SafetensorsCheckpoint> {
    const files: SafetensorsFile[] = [];
    const close = async () => {
        await Promise.all(files.map((f) => f.close()));
    };
    try {
        const tensors = new Map<string, CheckpointTensor>();
        const { shards, weightMap } = await shardNames(folder);
        for (const name of shards) {
            const file = await SafetensorsFile.open(path.join(folder, name));
            files.push(file);
            for (const t of file.tensors.values()) {
                const other = tensors.get(t.name);
                if (other) throw new HfInputError("BAD_SAFETENSORS", file.file, `tensor "${t.name}" is also in ${other.source.file}`);
                tensors.set(t.name, { ...t, source: file });
            }
        }
        for (const [name, shard] of Object.entries(weightMap ?? {}))
            if (tensors.get(name)?.source.file !== path.join(folder, shard))
                throw new HfInputError("BAD_SAFETENSORS", path.join(folder, shard), `${SAFETENSORS_INDEX} says tensor "${name}" is here, but its header has no such tensor`);
        return { tensors, close };
    } catch (e) {
        await close();
        throw e;
    }
}
