import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is test/helpers/sharedData.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The demo model the repository and the package carry (models/README.md): tests that need a real model use it. */
export const demoModel = path.resolve(repoRoot, "models", "stories260K.gguf");

/** The shared data folder beside the repository (GUIDE §5): models/ and text/. */
export const sharedDir = path.resolve(repoRoot, "..", "shared");

/**
 * A file under the shared folder, e.g. sharedFile("models/stories260K.gguf"). `missing` says why
 * tests that need it skip, for it.skipIf(f.missing) and the test's title; it is undefined when the file exists.
 */
export function sharedFile(relative: string): { path: string; missing?: string } {
    const file = path.join(sharedDir, relative);
    if (existsSync(file)) return { path: file };
    return { path: file, missing: `skipped: ${file} is absent (shared data lives in ../shared beside the repository)` };
}
