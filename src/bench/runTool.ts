// Runs one of llama.cpp's tools, its output teed to a log file; a failure names the command and shows
// the output's last lines.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";

export class ToolRunError extends Error {
    constructor(
        readonly command: string,
        message: string
    ) {
        super(message);
        this.name = "ToolRunError";
    }
}

export function quoteCommand(exe: string, args: string[]): string {
    return [exe, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
}

/** Returns stdout and stderr as one text (and in the log file); stdout alone in `stdout`. */
export function runTool(
    exe: string,
    args: string[],
    logFile: string,
    options: { signal?: AbortSignal } = {}
): Promise<{ output: string; stdout: string }> {
    const command = quoteCommand(exe, args);
    return new Promise((resolve, reject) => {
        const log = createWriteStream(logFile);
        log.write(`$ ${command}\n`);
        const child = spawn(exe, args, { stdio: ["ignore", "pipe", "pipe"], signal: options.signal });
        const all: Buffer[] = [];
        const out: Buffer[] = [];
        child.stdout.on("data", (b: Buffer) => (all.push(b), out.push(b), log.write(b)));
        child.stderr.on("data", (b: Buffer) => (all.push(b), log.write(b)));
        child.on("error", (e) => {
            log.end();
            reject(new ToolRunError(command, `could not run ${exe}: ${e.message}`));
        });
        child.on("close", (code, sig) => {
            log.end();
            const output = Buffer.concat(all).toString("utf8");
            if (code === 0) resolve({ output, stdout: Buffer.concat(out).toString("utf8") });
            else
                reject(
                    new ToolRunError(
                        command,
                        `${command}\nfailed (${sig ?? `exit ${code}`}); full log: ${logFile}\n--- last lines ---\n${output.trimEnd().split("\n").slice(-20).join("\n")}`
                    )
                );
        });
    });
}
