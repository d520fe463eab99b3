// Applies entgguf's patches (patches/manifest.json, in order) to the unpacked llama.cpp source.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { packageRoot } from "../native/binding.js";
import { git } from "./prepareLlamaSource.js";

export interface PatchManifest {
    /** the llama.cpp release the patches were written against */
    llamaCppRelease: string;
    /** the node-llama-cpp version that bundles it */
    nodeLlamaCppVersion: string;
    patches: { file: string; title: string }[];
}

/** A patch that does not apply: names the patch and the release it was tried on. */
export class PatchApplyError extends Error {
    constructor(
        readonly patch: string,
        readonly release: string,
        detail: string
    ) {
        super(`patch ${patch} does not apply to llama.cpp ${release}: ${detail}`);
        this.name = "PatchApplyError";
    }
}

export function patchesDir(): string {
    return join(packageRoot(), "patches");
}

export function readPatchManifest(): PatchManifest {
    const path = join(patchesDir(), "manifest.json");
    const m = JSON.parse(readFileSync(path, "utf8")) as PatchManifest;
    if (typeof m.llamaCppRelease !== "string" || !Array.isArray(m.patches) || m.patches.some((p) => !p.file || !p.title))
        throw new Error(`${path}: expected {llamaCppRelease, nodeLlamaCppVersion, patches: [{file, title}]}`);
    for (const p of m.patches)
        if (!existsSync(join(patchesDir(), p.file))) throw new Error(`${path} lists ${p.file}, which is not in ${patchesDir()}`);
    return m;
}

/** sha256 over the manifest and every patch it lists, in order. */
export function patchSetHash(manifest: PatchManifest = readPatchManifest()): string {
    const h = createHash("sha256");
    h.update(readFileSync(join(patchesDir(), "manifest.json")));
    for (const p of manifest.patches) h.update(p.file).update("\0").update(readFileSync(join(patchesDir(), p.file)));
    return h.digest("hex");
}

const APPLIED_FILE = ".entgguf-patches.json";

/**
 * Brings `sourceDir` (from prepareLlamaSource) to exactly "release + our patch set": a tree that
 * already carries this patch set is left alone; one that carries another is reset first. Each
 * patch is checked (`git apply --check`) before it is applied; a failure resets the tree to pristine.
 */
export function applyPatches(sourceDir: string, release: string, log?: (message: string) => void): { hash: string; applied: string[] } {
    const manifest = readPatchManifest();
    const hash = patchSetHash(manifest);
    const stampPath = join(sourceDir, APPLIED_FILE);
    if (existsSync(stampPath) && (JSON.parse(readFileSync(stampPath, "utf8")) as { hash: string }).hash === hash)
        return { hash, applied: manifest.patches.map((p) => p.file) };

    git(sourceDir, ["reset", "--quiet", "--hard", "HEAD"]);
    git(sourceDir, ["clean", "--quiet", "-fd"]);
    if (manifest.llamaCppRelease !== release)
        log?.(`patches target llama.cpp ${manifest.llamaCppRelease} but node-llama-cpp bundles ${release}; trying them anyway`);
    for (const [i, p] of manifest.patches.entries()) {
        const file = join(patchesDir(), p.file);
        try {
            git(sourceDir, ["apply", "--check", file]);
            git(sourceDir, ["apply", file]);
        } catch (e) {
            git(sourceDir, ["reset", "--quiet", "--hard", "HEAD"]);
            git(sourceDir, ["clean", "--quiet", "-fd"]);
            const stderr = String((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
            throw new PatchApplyError(
                `${p.file} ("${p.title}", ${i + 1} of ${manifest.patches.length})`,
                release,
                `${stderr}\nThe patches were written for llama.cpp ${manifest.llamaCppRelease} (node-llama-cpp ${manifest.nodeLlamaCppVersion}); ` +
                    `pin that node-llama-cpp version or port the patch.`
            );
        }
    }
    writeFileSync(stampPath, JSON.stringify({ hash, patches: manifest.patches.map((p) => p.file) }));
    log?.(`applied ${manifest.patches.length} entgguf patches to llama.cpp ${release}`);
    return { hash, applied: manifest.patches.map((p) => p.file) };
}
