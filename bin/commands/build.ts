import { Command, Option } from "commander";

import { buildLlama } from "../../src/runtime/buildLlama.js";

export function registerBuildCommand(program: Command): void {
    program
        .command("build")
        .description("build node-llama-cpp's bundled llama.cpp with entgguf's patches (offline; minutes, once per patch set and native sources)")
        .addOption(new Option("--gpu <kind>", "backend to build besides the CPU").choices(["none", "cuda"]).default("none"))
        .option("--cuda-arch <list>", "CMAKE_CUDA_ARCHITECTURES for --gpu cuda, e.g. 89 or '80;90' (default: node-llama-cpp's)")
        .option("--force", "rebuild even when this build exists")
        .action(async (o: { gpu: "none" | "cuda"; cudaArch?: string; force?: boolean }) => {
            const build = await buildLlama({ gpu: o.gpu === "cuda" ? "cuda" : false, cudaArchitectures: o.cudaArch, force: o.force });
            console.log(`llama.cpp ${build.source.release} + entgguf patches, build ${build.buildId}: ${build.binaryDir}`);
        });
}
