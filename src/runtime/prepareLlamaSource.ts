// Unpacks the llama.cpp release bundled in node-llama-cpp's npm package into .cache/, offline.
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { entCacheDir, nodeLlamaCppPaths } from "./llamaPaths.js";

export interface LlamaSource {
    /** the unpacked source: a git work tree whose HEAD is the release plus node-llama-cpp's own fixes */
    dir: string;
    /** e.g. "v0.5.0" */
    release: string;
    repo: string;
    nodeLlamaCppVersion: string;
}

export interface PrepareLlamaSourceOptions {
    log?: (message: string) => void;
}

const READY_FILE = ".entgguf-source.json";

export function git(cwd: string, args: string[]): string {
    return execFileSync("git", ["-c", "user.name=entgguf", "-c", "user.email=entgguf@localhost", "-c", "advice.detachedHead=false", ...args], {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"]
    });
}

/**
 * The pristine source of the llama.cpp release node-llama-cpp bundles, with node-llama-cpp's own
 * patches committed on top (what its `source download` would build). Idempotent: an existing,
 * complete unpack of the same release is reused; our patches are applied later by applyPatches().
 */
export async function prepareLlamaSource(options: PrepareLlamaSourceOptions = {}): Promise<LlamaSource> {
    const nlc = nodeLlamaCppPaths();
    if (!existsSync(nlc.bundle) || !existsSync(nlc.releaseInfo))
        throw new Error(`node-llama-cpp ${nlc.version} has no bundled llama.cpp source (${nlc.bundle}); reinstall it with \`npm ci\``);
    const info = JSON.parse(readFileSync(nlc.releaseInfo, "utf8")) as { tag: string; llamaCppGithubRepo: string };
    const dir = join(entCacheDir(), info.tag);
    const stamp = JSON.stringify({ release: info.tag, nodeLlamaCpp: nlc.version });
    if (existsSync(join(dir, READY_FILE)) && readFileSync(join(dir, READY_FILE), "utf8") === stamp)
        return { dir, release: info.tag, repo: info.llamaCppGithubRepo, nodeLlamaCppVersion: nlc.version };

    options.log?.(`unpacking llama.cpp ${info.tag} from node-llama-cpp ${nlc.version}'s bundle into ${dir}`);
    mkdirSync(entCacheDir(), { recursive: true });
    // unpack beside, then rename: an interrupted unpack never looks complete
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    git(entCacheDir(), ["clone", "--quiet", nlc.bundle, tmp]);
    git(tmp, ["remote", "remove", "origin"]);
    const own = existsSync(nlc.ownPatches) ? readdirSync(nlc.ownPatches).filter((f) => f.endsWith(".diff") || f.endsWith(".patch")).sort() : [];
    for (const file of own) {
        const patch = join(nlc.ownPatches, file);
        try {
            git(tmp, ["apply", "--check", patch]);
        } catch {
            // node-llama-cpp skips its fixes that the release already contains; so do we
            options.log?.(`node-llama-cpp's patch ${file} does not apply to ${info.tag}; skipped as node-llama-cpp does`);
            continue;
        }
        git(tmp, ["apply", patch]);
    }
    // our stamps live in the work tree but never in its diffs
    appendFileSync(join(tmp, ".git", "info", "exclude"), `${READY_FILE}\n.entgguf-*\n`);
    git(tmp, ["add", "-A"]);
    git(tmp, ["commit", "--quiet", "--allow-empty", "-m", `node-llama-cpp ${nlc.version} patches: ${own.join(", ") || "none"}`]);
    writeFileSync(join(tmp, READY_FILE), stamp);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    return { dir, release: info.tag, repo: info.llamaCppGithubRepo, nodeLlamaCppVersion: nlc.version };
}
