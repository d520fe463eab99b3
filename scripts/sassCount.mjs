#!/usr/bin/env node
// SASS instructions per decoded weight of the fused CUDA GEMV's inner loop: a benchmark that
// needs no GPU. Builds the kernels for sm_90 (nvcc -cubin), disassembles them (cuobjdump -sass),
// finds each GEMV's bulk decode loop and divides its instructions per iteration by the weights
// one lane decodes per iteration (the loop's table lookups: 32-bit or wider shared-memory loads). One SASS instruction is
// issued once per warp, so this is warp instructions per decoded weight per lane.
//
//   node scripts/sassCount.mjs [--json] [--arch 90]     (npm run bench:cuda-sass)
//
// Needs nvcc (NVCC, PATH or /usr/local/cuda/bin) and cuobjdump (CUOBJDUMP, beside nvcc, PATH, or
// .cache/cuda-binutils/bin from scripts/fetch-cuda-binutils.sh). Exit 2 when a tool is missing,
// 1 when a kernel or its loop is not found.
//
// The loop: among the kernel's backward branches, the loops holding both a shared-memory load
// (the decode table) and an FFMA (the product), the innermost ones; of those, the one with the
// most FFMAs (the unrolled bulk path, not the one-step tail). Loops nested in it (the old
// kernel's ring refill, which runs every few iterations) are left out of the count and reported.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The kernels counted: the batch-1 GEMV of each path. */
export const SASS_TARGETS = [
    { label: "before: shared-stream segments (entq_cuda.cu gemv_kernel<1>)", source: "native/cuda/entq_cuda.cu", kernel: /gemv_kernelILi1EE/, batch: 1 },
    { label: "after: lane streams (entq_tile_cuda.cu tile_gemv_kernel<1>)", source: "native/cuda/entq_tile_cuda.cu", kernel: /tile_gemv_kernelILi1EE/, batch: 1 },
    { label: "after: lane streams, batch 8 (tile_gemv_kernel<8>)", source: "native/cuda/entq_tile_cuda.cu", kernel: /tile_gemv_kernelILi8EE/, batch: 8 },
];

function works(cmd, args) {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    return r.status === 0;
}

export function findNvcc() {
    return [process.env.NVCC, "nvcc", "/usr/local/cuda/bin/nvcc"].find((c) => c && works(c, ["--version"]));
}

export function findCuobjdump(nvcc) {
    const toolkit = nvcc ? spawnSync("sh", ["-c", `dirname "$(readlink -f "$(command -v ${nvcc})")"`], { encoding: "utf8" }).stdout.trim() : "";
    const candidates = [process.env.CUOBJDUMP, toolkit && join(toolkit, "cuobjdump"), "cuobjdump", join(root, ".cache", "cuda-binutils", "bin", "cuobjdump")];
    return candidates.find((c) => c && works(c, ["--version"]));
}

// CUDA 12.8+ writes cubins with ELF ABI version 8 (e_ident[8]; arch in e_flags bits 8-15); an
// older cuobjdump (the distribution's CUDA 11.8) reads only version 7 (arch in bits 0-7, 16-23).
// The machine code is the same, so a copy with the old header disassembles identically.
function legacyHeader(cubin) {
    const b = Buffer.from(cubin);
    if (b.length < 0x34 || b.readUInt32BE(0) !== 0x7f454c46 || b[8] !== 8) return undefined;
    const sm = (b.readUInt32LE(0x30) >> 8) & 0xff;
    b[8] = 7;
    b.writeUInt32LE((sm << 16) | 0x500 | sm, 0x30); // EF_CUDA_64BIT_ADDRESS | EF_CUDA_VIRTUAL_SM(sm) | sm
    return b;
}

export function disassemble(nvcc, cuobjdump, source, arch, dir) {
    const cubin = join(dir, source.replace(/[/\\.]/g, "_") + ".cubin");
    const c = spawnSync(nvcc, ["-std=c++17", "-O3", "-cubin", `-arch=sm_${arch}`, "-I", join(root, "native"), join(root, source), "-o", cubin], { encoding: "utf8" });
    if (c.status !== 0) throw new Error(`nvcc ${source}: ${(c.stdout + c.stderr).slice(-2000)}`);
    let d = spawnSync(cuobjdump, ["-sass", cubin], { encoding: "utf8", maxBuffer: 1 << 28 });
    if (d.status !== 0) {
        const legacy = legacyHeader(readFileSync(cubin));
        if (legacy) {
            writeFileSync(cubin + ".v7", legacy);
            d = spawnSync(cuobjdump, ["-sass", cubin + ".v7"], { encoding: "utf8", maxBuffer: 1 << 28 });
        }
    }
    if (d.status !== 0) throw new Error(`cuobjdump -sass ${source}: ${(d.stdout + d.stderr).slice(-2000)}`);
    return d.stdout;
}

/** Functions of a cuobjdump listing: name -> [{ addr, text }]. */
export function parseSass(listing) {
    const fns = new Map();
    let cur;
    for (const line of listing.split("\n")) {
        const f = /Function : (\S+)/.exec(line);
        if (f) fns.set(f[1], (cur = []));
        const m = /\/\*([0-9a-f]{4,})\*\/\s+(.*?)\s*;/.exec(line);
        if (m && cur) cur.push({ addr: parseInt(m[1], 16), text: m[2] });
    }
    return fns;
}

const opcode = (text) => text.replace(/^@!?U?P\w+\s+/, "").split(/\s/)[0];
const isFma = (text) => /^(FFMA|HFMA2|FFMA2)\b/.test(opcode(text)) && !/^HFMA2\.MMA\b/.test(opcode(text)); // HFMA2.MMA -RZ, RZ, 0, 0: a move
const isLds = (text) => /^LDS\b/.test(opcode(text));
/** A table lookup: one decoded symbol. Word reads (16-bit and narrower LDS) are not. */
const isTableLoad = (text) => isLds(text) && !/^LDS\.(U|S)(8|16)\b/.test(opcode(text));

/** The bulk decode loop of one kernel's instructions, or undefined. Counts go by address (16
 * bytes an instruction on sm_70+): an older cuobjdump prints nothing for an opcode it does not
 * know, and such instructions still count (reported as `unknown`). */
export function findLoop(insts) {
    const loops = [];
    for (const ins of insts) {
        const b = /\bBRA(?:\.\w+)*\s+(?:!?U?P\w+,\s*)?0x([0-9a-f]+)/.exec(ins.text);
        if (!b || /BRA\.DIV/.test(ins.text)) continue;
        const target = parseInt(b[1], 16);
        if (target < ins.addr) loops.push({ from: target, to: ins.addr });
    }
    const inside = (a, b) => a !== b && a.from >= b.from && a.to <= b.to;
    const decoded = (l) => insts.filter((x) => x.addr >= l.from && x.addr <= l.to);
    const holds = (l) => decoded(l).some((x) => isFma(x.text)) && decoded(l).some((x) => isLds(x.text));
    const candidates = loops.filter(holds);
    const innermost = candidates.filter((l) => !candidates.some((o) => inside(o, l)));
    let best;
    for (const l of innermost) {
        const nested = loops.filter((o) => inside(o, l));
        const inNested = (a) => nested.some((n) => a >= n.from && a <= n.to);
        let slots = 0;
        for (let a = l.from; a <= l.to; a += 16) if (!inNested(a)) slots++;
        const body = decoded(l).filter((x) => !inNested(x.addr));
        const fmas = body.filter((x) => isFma(x.text)).length;
        const lookups = body.filter((x) => isTableLoad(x.text)).length;
        const r = { from: l.from, to: l.to, body, instructions: slots, unknown: slots - body.length, fmas, lookups, nested: nested.map((n) => (n.to - n.from) / 16 + 1) };
        if (!best || fmas > best.fmas) best = r;
    }
    return best;
}

export function countTarget(fns, target) {
    const name = [...fns.keys()].find((n) => target.kernel.test(n));
    if (!name) return { ...target, error: `no kernel matching ${target.kernel} in ${target.source}` };
    const loop = findLoop(fns.get(name));
    if (!loop) return { ...target, name, error: "no loop with an LDS and an FFMA found" };
    const weights = loop.lookups;
    const mix = {};
    for (const x of loop.body) mix[opcode(x.text)] = (mix[opcode(x.text)] ?? 0) + 1;
    if (loop.unknown) mix["(not decoded by this cuobjdump)"] = loop.unknown;
    if (!weights) return { ...target, name, error: "no table lookup (32-bit or wider LDS) in the loop" };
    return {
        ...target, name, from: loop.from, to: loop.to, instructions: loop.instructions, fmas: loop.fmas, weightsPerLane: weights,
        perWeight: loop.instructions / weights, perWeightColumn: loop.instructions / weights / target.batch, nested: loop.nested, mix,
    };
}

function main() {
    const args = process.argv.slice(2);
    const json = args.includes("--json");
    const arch = args.includes("--arch") ? args[args.indexOf("--arch") + 1] : "90";
    const nvcc = findNvcc();
    if (!nvcc) { console.error("sassCount: nvcc not found (set NVCC or install the CUDA toolkit)"); process.exit(2); }
    const cuobjdump = findCuobjdump(nvcc);
    if (!cuobjdump) { console.error("sassCount: cuobjdump not found (set CUOBJDUMP, or run scripts/fetch-cuda-binutils.sh)"); process.exit(2); }
    const dir = mkdtempSync(join(tmpdir(), "entgguf-sass-"));
    const results = [];
    try {
        const listings = new Map();
        for (const t of SASS_TARGETS) {
            if (!existsSync(join(root, t.source))) { results.push({ ...t, error: `${t.source} not found` }); continue; }
            if (!listings.has(t.source)) listings.set(t.source, parseSass(disassemble(nvcc, cuobjdump, t.source, arch, dir)));
            results.push(countTarget(listings.get(t.source), t));
        }
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
    if (json) {
        console.log(JSON.stringify(results.map(({ kernel, ...r }) => ({ ...r, kernel: String(kernel) })), null, 1));
    } else {
        console.log(`SASS of the GEMV inner decode loop, sm_${arch} (nvcc -O3 -cubin, ${cuobjdump} -sass)`);
        for (const r of results) {
            if (r.error) { console.log(`${r.label}: ERROR ${r.error}`); continue; }
            console.log(`${r.label}`);
            console.log(`  loop 0x${r.from.toString(16)}-0x${r.to.toString(16)}: ${r.instructions} instructions/iteration` +
                (r.nested.length ? ` (nested loops left out: ${r.nested.join(", ")} instructions)` : "") +
                `, ${r.weightsPerLane} table lookups = weights decoded per lane, ${r.fmas} FFMA (batch ${r.batch})`);
            const mix = Object.entries(r.mix).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
            console.log(`  mix: ${mix}`);
            console.log(`  warp instructions per decoded weight: ${r.perWeight.toFixed(2)}` +
                (r.batch > 1 ? ` (${r.perWeightColumn.toFixed(2)} per weight and column)` : ""));
        }
    }
    if (results.some((r) => r.error)) process.exit(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
