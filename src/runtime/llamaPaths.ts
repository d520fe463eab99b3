// Where node-llama-cpp keeps its llama.cpp (bundle, source folder, local builds) and where entgguf caches its own.
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { packageRoot } from "../native/binding.js";

export interface NodeLlamaCppPaths {
    /** node-llama-cpp's package folder */
    root: string;
    version: string;
    /** the llama.cpp release shipped as a git bundle inside the package */
    bundle: string;
    /** {tag, llamaCppGithubRepo} of the bundled release */
    releaseInfo: string;
    /** the folder node-llama-cpp builds from (we make it a link to our patched source) */
    sourceLink: string;
    /** node-llama-cpp's own fixes to llama.cpp, applied before ours as its `source download` does */
    ownPatches: string;
    localBuilds: string;
}

/** node-llama-cpp's layout, found from its resolved entry point (its package.json is not exported). */
export function nodeLlamaCppPaths(): NodeLlamaCppPaths {
    let root = dirname(createRequire(import.meta.url).resolve("node-llama-cpp"));
    while (!existsSync(join(root, "package.json")) || !existsSync(join(root, "llama"))) {
        const up = dirname(root);
        if (up === root) throw new Error("entgguf: cannot find node-llama-cpp's package folder; run `npm install`");
        root = up;
    }
    const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
    const llama = join(root, "llama");
    return {
        root,
        version,
        bundle: join(llama, "gitRelease.bundle"),
        releaseInfo: join(llama, "llama.cpp.info.json"),
        sourceLink: join(llama, "llama.cpp"),
        ownPatches: join(llama, "patches"),
        localBuilds: join(llama, "localBuilds")
    };
}

/** entgguf's gitignored cache for the unpacked, patched llama.cpp source. */
export function entCacheDir(): string {
    return join(packageRoot(), ".cache", "llama.cpp");
}
