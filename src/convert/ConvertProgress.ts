// A one-line progress display for long conversions: tensor i/N, MB/s, ETA.
// Quiet unless the stream is a terminal (CI logs stay clean).

export interface ProgressStream {
    isTTY?: boolean;
    columns?: number;
    write(s: string): boolean;
}

export class ConvertProgress {
    private readonly start = performance.now();
    private doneBytes = 0;
    private lastDraw = 0;

    constructor(
        private readonly totalTensors: number,
        private readonly totalBytes: number,
        private readonly out: ProgressStream = process.stderr,
        private readonly enabled = Boolean(out.isTTY)
    ) {}

    /** Called when tensor `index` (0-based) starts. */
    tensor(index: number, name: string): void {
        this.draw(`tensor ${index + 1}/${this.totalTensors} ${name}`, index === 0);
    }

    /** A step that is not a tensor (e.g. the lambda search's evaluations). */
    status(what: string): void {
        this.draw(what, true);
    }

    /** Adds finished input bytes. */
    advance(bytes: number): void {
        this.doneBytes += bytes;
    }

    /** Clears the line before a final summary. */
    finish(): void {
        if (this.enabled) this.out.write("\r\x1b[2K");
    }

    private draw(what: string, force: boolean): void {
        if (!this.enabled) return;
        const now = performance.now();
        if (!force && now - this.lastDraw < 100) return;
        this.lastDraw = now;
        const secs = (now - this.start) / 1000;
        const rate = secs > 0 ? this.doneBytes / secs : 0;
        const eta = rate > 0 ? (this.totalBytes - this.doneBytes) / rate : NaN;
        const pct = this.totalBytes ? Math.floor((100 * this.doneBytes) / this.totalBytes) : 0;
        let line = `${pct}% ${what}  ${(rate / 1e6).toFixed(1)} MB/s  ETA ${formatDuration(eta)}`;
        const width = (this.out.columns ?? 100) - 1;
        if (line.length > width) line = line.slice(0, width);
        this.out.write(`\r\x1b[2K${line}`);
    }
}

export function formatDuration(seconds: number): string {
    if (!Number.isFinite(seconds)) return "--";
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
    const m = Math.floor(seconds / 60);
    if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
    return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}
