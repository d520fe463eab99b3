#!/usr/bin/env node
// Builds what `npm install` must leave ready: the native addon + native tests
// (cmake-js, incremental) and the TypeScript (tsc). Safe to run again.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const only = args.has("--native") ? "native" : args.has("--ts") ? "ts" : "all";
const sanitize = args.has("--sanitize");

function run(title, cmd, cmdArgs) {
    console.log(`[entgguf] ${title}`);
    const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: "inherit" });
    if (r.status !== 0) {
        console.error(`[entgguf] failed: ${title} (${cmd} ${cmdArgs.join(" ")} exited with ${r.status ?? r.signal})`);
        process.exit(r.status ?? 1);
    }
}

if (only !== "ts") {
    const cmakeJs = join(root, "node_modules", "cmake-js", "bin", "cmake-js");
    if (!existsSync(cmakeJs)) {
        console.error("[entgguf] cmake-js is missing: run `npm install` first");
        process.exit(1);
    }
    const out = sanitize ? "build-sanitize" : "build";
    const cmakeArgs = ["compile", "--out", out, "--parallel", "2"];
    if (sanitize) cmakeArgs.push("--debug", "--CDENTGGUF_SANITIZE=ON");
    run(`building the native addon and tests in ${out}/ (cmake-js)`, process.execPath, [cmakeJs, ...cmakeArgs]);
}
if (only !== "native") {
    run("compiling TypeScript to dist/ (tsc)", process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);
}
