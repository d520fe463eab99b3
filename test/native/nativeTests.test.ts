import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

import { packageRoot } from "../../src/native/binding.js";

// The C++ unit tests (native/test/*.cpp), built by `npm install` next to the addon.
it("native unit tests pass", () => {
    const exe = join(packageRoot(), "build", process.platform === "win32" ? "entgguf_native_tests.exe" : "entgguf_native_tests");
    expect(existsSync(exe), `${exe} is missing: run \`npm run build:native\``).toBe(true);
    const r = spawnSync(exe, [], { encoding: "utf8", timeout: 600_000 });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    expect(r.stdout).toMatch(/\d+ passed, 0 failed/);
    expect(r.status).toBe(0);
});
