// scripts/fetch-cublas-headers.sh takes its archive from the system's own apt sources (one-line
// and deb822 files): the entries of the release's suite with component main, given the
// component that holds nvidia-cuda-dev. Checked on fixture configurations with --print-sources
// (the download itself is run by .ci/run on machines with nvcc).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { repoRoot } from "../helpers/sharedData.js";

const script = join(repoRoot, "scripts", "fetch-cublas-headers.sh");
const root = mkdtempSync(join(tmpdir(), "entgguf-apt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function printSources(osRelease: string, files: Record<string, string>) {
    const etc = join(root, `etc-${n++}`);
    mkdirSync(join(etc, "sources.list.d"), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(etc, name), text);
    writeFileSync(join(etc, "os-release"), osRelease);
    return spawnSync("bash", [script, "--print-sources"], { encoding: "utf8", env: { ...process.env, APT_ETC_DIR: etc, OS_RELEASE_FILE: join(etc, "os-release") } });
}

const bookworm = "ID=debian\nVERSION_CODENAME=bookworm\n";

describe.skipIf(process.platform !== "linux" || spawnSync("bash", ["-c", "command -v apt-get dpkg-deb"]).status !== 0)("fetch-cublas-headers.sh: apt sources", () => {
    it("one-line and deb822 entries of the release's suite with main, as deb822 for non-free, keys, architectures and trust kept", () => {
        const r = printSources(bookworm, {
            "sources.list": [
                "# deb http://commented.example/debian bookworm main",
                "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/one.gpg] http://one.example/debian bookworm main contrib",
                "deb http://two.example/debian bookworm-updates main",
                "deb-src http://three.example/debian bookworm main",
                "deb http://four.example/debian bookworm contrib",
                "deb [ trusted=yes ] http://ten.example/debian bookworm main"
            ].join("\n"),
            "sources.list.d/extra.list": "deb http://five.example/debian bookworm main # a comment\n",
            "sources.list.d/old.list.disabled": "deb http://eleven.example/debian bookworm main\n",
            "sources.list.d/a.sources": [
                "Types: deb deb-src",
                "URIs: http://six.example/debian http://seven.example/debian",
                "Suites: bookworm bookworm-updates",
                "Components: main",
                "Signed-By:",
                " -----BEGIN PGP PUBLIC KEY BLOCK-----",
                " .",
                " mQINBGx",
                " -----END PGP PUBLIC KEY BLOCK-----",
                "",
                "Types: deb",
                "URIs: http://eight.example/debian",
                "Suites: bookworm",
                "Components: main",
                "Enabled: no",
                "",
                "# a third-party repository whose component is also called main",
                "Types: deb",
                "URIs: http://nine.example/other",
                "Suites: nodistro",
                "Components: main",
                ""
            ].join("\n")
        });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toBe(
            [
                "Types: deb", "URIs: http://one.example/debian", "Suites: bookworm", "Components: non-free",
                "Signed-By: /usr/share/keyrings/one.gpg", "Architectures: amd64 arm64", "",
                "Types: deb", "URIs: http://ten.example/debian", "Suites: bookworm", "Components: non-free", "Trusted: yes", "",
                "Types: deb", "URIs: http://five.example/debian", "Suites: bookworm", "Components: non-free", "",
                "Types: deb", "URIs: http://six.example/debian http://seven.example/debian", "Suites: bookworm", "Components: non-free",
                "Signed-By:", " -----BEGIN PGP PUBLIC KEY BLOCK-----", " .", " mQINBGx", " -----END PGP PUBLIC KEY BLOCK-----", "", ""
            ].join("\n")
        );
    });

    it("Ubuntu's release gets multiverse; no entry for the release is one clear error", () => {
        const ubuntu = printSources("ID=ubuntu\nVERSION_CODENAME=noble\n", { "sources.list": "deb http://u.example/ubuntu noble main restricted\n" });
        expect(ubuntu.status, ubuntu.stderr).toBe(0);
        expect(ubuntu.stdout).toBe("Types: deb\nURIs: http://u.example/ubuntu\nSuites: noble\nComponents: multiverse\n\n");
        const none = printSources(bookworm, { "sources.list": "deb http://x.example/debian trixie main\n" });
        expect(none.status).toBe(2);
        expect(none.stderr).toMatch(/no apt source for bookworm with component main in .*sources\.list/);
        const other = printSources("ID=fedora\nVERSION_CODENAME=\n", {});
        expect(other.status).toBe(2);
        expect(other.stderr).toMatch(/fedora is neither Debian nor Ubuntu/);
    });
});
