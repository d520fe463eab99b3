import { Command, Option } from "commander";

import { getNativeBinding, nativeBindingPath, packageRoot } from "../../src/native/binding.js";
import { buildNativeAddon } from "../../src/native/buildNativeAddon.js";
import { buildLlama } from "../../src/runtime/buildLlama.js";
import { buildLlamaTools } from "../../src/runtime/buildLlamaTools.js";

export function registerBuildCommand(program: Command): void {
    program
        .command("build")
        .description("make entgguf ready to run: its native addon (prebuilt where the package has one) and node-llama-cpp's bundled llama.cpp with entgguf's patches (offline; minutes, once per patch set and native sources)")
        .addOption(new Option("--gpu <kind>", "backend to build besides the CPU (auto: Metal on macOS, none elsewhere; coded weights have no Metal kernels yet and stay on the CPU)").choices(["auto", "none", "cuda", "metal"]).default("auto"))
        .option("--cuda-arch <list>", "CMAKE_CUDA_ARCHITECTURES for --gpu cuda, e.g. 89 or '80;90' (default: node-llama-cpp's)")
        .option("--force", "rebuild even when this build exists")
        .option("--addon", "only (re)build entgguf's native addon (convert, inspect) from source; cmake + a C++17 compiler, ~1 min")
        .option("--tools", "build llama.cpp's tools instead (llama-quantize, llama-perplexity, llama-bench, llama-imatrix, test-backend-ops, rpc-server; CPU, CMake) for `entgguf bench` and `entgguf rpc-server`")
        .option("--rpc", "build the runtime with llama.cpp's RPC backend (`entgguf chat --rpc`, getEntLlama({ rpcServers })), then the tools (rpc-server among them: `entgguf rpc-server`, `entgguf bench --rpc`)")
        .action(async (o: { gpu: "auto" | "none" | "cuda" | "metal"; cudaArch?: string; force?: boolean; tools?: boolean; addon?: boolean; rpc?: boolean }) => {
            if (o.addon) {
                console.log(`native addon: ${buildNativeAddon(packageRoot())}`);
                return;
            }
            // the addon first: the prebuilt one where the package has it, else built from source now
            getNativeBinding();
            console.log(`native addon: ${nativeBindingPath()}`);
            if (o.tools) {
                if (o.gpu !== "none" && o.gpu !== "auto") throw new Error("--tools builds the CPU tools only; leave out --gpu");
                const tools = await buildLlamaTools({ build: o.force ? "force" : "auto" });
                console.log(`llama.cpp ${tools.source.release} tools + entgguf patches, build ${tools.buildId}: ${tools.binDir}`);
                return;
            }
            const build = await buildLlama({ gpu: o.gpu === "auto" ? undefined : o.gpu === "none" ? false : o.gpu, cudaArchitectures: o.cudaArch, rpc: o.rpc, force: o.force });
            console.log(`llama.cpp ${build.source.release} + entgguf patches, build ${build.buildId}: ${build.binaryDir}`);
            if (o.rpc) {
                const tools = await buildLlamaTools({ build: o.force ? "force" : "auto" });
                console.log(`rpc-server (llama.cpp ${tools.source.release} tools + entgguf patches, build ${tools.buildId}): ${tools.tools["ggml-rpc-server"]}`);
            }
        });
}
