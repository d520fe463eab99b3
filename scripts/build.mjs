#!/usr/bin/env node
// Builds what `npm install` must leave ready: the native addon + native tests
// (cmake-js, incremental) and the TypeScript (tsc). Safe to run again.
//   --native / --ts   one half only;  --sanitize   native tests with ASan + UBSan in build-sanitize/
//   --prebuilt        (npm pack) the portable addon the package ships, in prebuilds/<platform>-<arch>/
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

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

const tsc = () => run("compiling TypeScript to dist/ (tsc)", process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);

if (args.has("--prebuilt")) {
    // one N-API binary serves every Node >= 20 on linux-x64 (glibc); elsewhere the package builds on first use
    const platform = `${process.platform}-${process.arch}`;
    const glibc = process.report?.getReport().header.glibcVersionRuntime;
    rmSync(join(root, "prebuilds"), { recursive: true, force: true });
    if (platform !== "linux-x64" || !glibc) {
        console.log(`[entgguf] no prebuilt addon for ${platform}${glibc ? "" : " without glibc"}: the package will build it on first use`);
        process.exit(0);
    }
    tsc();
    const { buildNativeAddon, prebuiltAddonPath } = await import(pathToFileURL(join(root, "dist", "src", "native", "buildNativeAddon.js")).href);
    // linked like any addon against the system's libstdc++: linking it statically would raise the glibc
    // needed from 2.29 to 2.36 (libstdc++.a calls newer glibc); GCC 12's libstdc++ asks for GCC >= 11's
    // (GLIBCXX_3.4.29: Ubuntu 22.04, Debian 12, RHEL 9 and later)
    const target = buildNativeAddon(root, { target: prebuiltAddonPath(root), log: (m) => console.log(`[entgguf] ${m}`) });
    // it must load in a plain Node process, as an app would
    run(`checking that ${target} loads`, process.execPath, ["-e", `const a = require(${JSON.stringify(target)}); if (typeof a.encode !== "function") process.exit(1)`]);
    const needs = spawnSync("objdump", ["-T", target], { encoding: "utf8" }).stdout?.match(/\b(GLIBC|GLIBCXX)_[0-9.]+/g);
    if (needs) {
        const newest = (p) => [...new Set(needs.filter((v) => v.startsWith(p + "_")))].sort((a, b) => a.localeCompare(b, "en", { numeric: true })).pop();
        console.log(`[entgguf] ${target} needs ${newest("GLIBC")} and ${newest("GLIBCXX")}`);
    }
    process.exit(0);
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
if (only !== "native") tsc();
