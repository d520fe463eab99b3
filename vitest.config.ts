import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        testTimeout: 120_000,
        hookTimeout: 900_000,
        // native work runs on 2 cores; files in parallel would only fight for them
        fileParallelism: false
    }
});
