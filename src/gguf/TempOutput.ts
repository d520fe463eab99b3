// The temporary file a GGUF is written to before it is renamed over the target, named so
// that it is recognisably ours and says who writes it:
//   <target>.entgguf-tmp-<pid>-<host tag>-<random>
// A killed writer (SIGKILL, a crash, power loss) leaves it behind; the next write to the same
// target removes such files whose process is gone. A CLI removes the live ones on SIGINT/SIGTERM.
import { createHash, randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import fs from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";

const MARK = ".entgguf-tmp-";
/** A short tag of this machine's name: a pid only means something on the machine that made it (shared folders, containers). */
const HOST_TAG = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);
const NAME = /^(.+)\.entgguf-tmp-(\d+)-([0-9a-f]{8})-[0-9a-f]{12}$/;

/** Temp files being written by this process, removed by removeAllSync(). */
const active = new Set<string>();

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
    }
}

export class TempOutput {
    private constructor(readonly path: string, readonly handle: fs.FileHandle) {}

    /**
     * Removes temp files of earlier writes to `target` whose writer (a process on this machine) is
     * gone; returns their paths. Files of live processes, of other machines and of other targets stay.
     */
    static async removeStale(target: string): Promise<string[]> {
        const dir = path.dirname(target);
        const removed: string[] = [];
        for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
            const m = NAME.exec(name);
            if (!m || m[1] !== path.basename(target) || m[3] !== HOST_TAG || alive(Number(m[2]))) continue;
            const file = path.join(dir, name);
            if (active.has(file)) continue;
            // a stale file that cannot be removed (permissions) must not fail the write that noticed it
            if (await fs.rm(file, { force: true }).then(() => true, () => false)) removed.push(file);
        }
        return removed;
    }

    /** Creates (exclusively) a fresh temp file beside `target` and tracks it until done() or removal. */
    static async open(target: string): Promise<TempOutput> {
        const file = path.join(path.dirname(target), `${path.basename(target)}${MARK}${process.pid}-${HOST_TAG}-${randomBytes(6).toString("hex")}`);
        const handle = await fs.open(file, "wx");
        active.add(file);
        return new TempOutput(file, handle);
    }

    /** Removes every temp file this process is writing, synchronously: for signal handlers that exit next. */
    static removeAllSync(): string[] {
        const removed = [...active];
        for (const file of removed) rmSync(file, { force: true });
        active.clear();
        return removed;
    }

    /** Closes the handle (if open) and deletes the file: the write failed. */
    async discard(): Promise<void> {
        await this.handle.close().catch(() => undefined); // already closed when the rename failed
        await fs.rm(this.path, { force: true });
        active.delete(this.path);
    }

    /** The file was renamed to its target: nothing to remove any more. */
    done(): void {
        active.delete(this.path);
    }
}
