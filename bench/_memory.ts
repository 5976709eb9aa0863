/**
 * Samples the resident memory of this process's children (the services and
 * the baseline servers) from /proc, and keeps each one's peak. Linux only;
 * elsewhere it records nothing.
 */

/** Peak memory of one kind of process, over every process of that kind seen. */
export interface MemoryPeak {
  /** "gateway", "worker", "baseline yoga", "bench" (this process), … */
  name: string;
  /** Processes of this kind seen during the run. */
  processes: number;
  /** Highest VmHWM (the kernel's own peak RSS) of any of them, in MB. */
  peakMb: number;
  /** Highest VmRSS sampled, in MB. */
  sampledMb: number;
}

/** What a child process's command line runs, as a name; undefined if none of ours. */
export function processNameOf(commandLine: string): string | undefined {
  // The services run as their deno.json tasks do, with a path relative to the
  // repository; an absolute path counts too.
  const service = commandLine.match(/(?:^|\/|\0)(gateway|command|query|worker)\/main\.ts(?:\0|$)/);
  if (service) return service[1];
  const baseline = commandLine.match(/_baseline_server\.ts\0(\w+)/);
  if (baseline) return `baseline ${baseline[1]}`;
  return undefined;
}

function kilobytes(status: string, field: string): number {
  const match = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return match ? Number(match[1]) : 0;
}

/** Samples memory until stop(). */
export class MemorySampler {
  #peaks = new Map<string, { pids: Set<number>; hwmKb: number; rssKb: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Starts sampling every intervalMs (default 250). */
  start(intervalMs = 250): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Takes one sample of this process and its children now. */
  sample(): void {
    this.#record("bench", Deno.pid);
    let entries: Iterable<Deno.DirEntry>;
    try {
      entries = Deno.readDirSync("/proc");
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry.name)) continue;
      const pid = Number(entry.name);
      try {
        const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
        // The parent pid is the second field after the parenthesised name.
        const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (parent !== Deno.pid) continue;
        const name = processNameOf(Deno.readTextFileSync(`/proc/${pid}/cmdline`));
        if (name) this.#record(name, pid);
      } catch {
        // Gone meanwhile.
      }
    }
  }

  #record(name: string, pid: number): void {
    let status: string;
    try {
      status = Deno.readTextFileSync(`/proc/${pid}/status`);
    } catch {
      return;
    }
    const peak = this.#peaks.get(name) ?? { pids: new Set(), hwmKb: 0, rssKb: 0 };
    peak.pids.add(pid);
    peak.hwmKb = Math.max(peak.hwmKb, kilobytes(status, "VmHWM"));
    peak.rssKb = Math.max(peak.rssKb, kilobytes(status, "VmRSS"));
    this.#peaks.set(name, peak);
  }

  /** Stops sampling and answers the peaks, largest first. */
  stop(): MemoryPeak[] {
    clearInterval(this.#timer);
    this.sample();
    const mb = (kb: number) => Math.round(kb / 102.4) / 10;
    return [...this.#peaks].map(([name, peak]) => ({
      name,
      processes: peak.pids.size,
      peakMb: mb(peak.hwmKb),
      sampledMb: mb(peak.rssKb),
    })).sort((a, b) => b.peakMb - a.peakMb);
  }
}
