#!/usr/bin/env node
// The CLI only registers commands; each command lives in bin/commands/ and calls library functions.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { Command } from "commander";

import { packageRoot } from "../src/native/binding.js";
import { registerBenchCommand } from "./commands/bench.js";
import { registerBuildCommand } from "./commands/build.js";
import { registerChatCommand } from "./commands/chat.js";
import { registerConvertCommand } from "./commands/convert.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerInspectCommand } from "./commands/inspect.js";
import { registerRpcServerCommand } from "./commands/rpcServer.js";

const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string };

const program = new Command()
    .name("entgguf")
    .description("Entropy-coded GGUF: 8-bit weights at 2-4 bits each, run through a patched llama.cpp")
    .version(pkg.version)
    .showHelpAfterError();

registerConvertCommand(program);
registerInspectCommand(program);
registerBuildCommand(program);
registerChatCommand(program);
registerBenchCommand(program);
registerRpcServerCommand(program);
registerDemoCommand(program);

try {
    await program.parseAsync(process.argv);
} catch (e) {
    // library errors already start with "entgguf: " (they reach API users too); say it once
    console.error(`entgguf: ${(e as Error).message.replace(/^entgguf: /, "")}`);
    process.exitCode = 1;
}
