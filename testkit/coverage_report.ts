/**
 * Line and branch coverage per folder, from the lcov file `deno coverage
 * --lcov` writes. Deno prints coverage per file; a folder's figure (a
 * service, the runtime, a worker piece) is what tells where tests are thin,
 * so this sums the files' counts by folder.
 */

/** Lines and branches of a file or a folder, found and hit. */
export interface Coverage {
  lines: { found: number; hit: number };
  branches: { found: number; hit: number };
}

/** One source file's coverage. */
export interface FileCoverage extends Coverage {
  /** Relative to the repository's root: "worker/decide.ts". */
  path: string;
}

function empty(): Coverage {
  return { lines: { found: 0, hit: 0 }, branches: { found: 0, hit: 0 } };
}

/** Reads an lcov report into one entry per source file, paths made relative to `root`. */
export function parseLcov(lcov: string, root: string): FileCoverage[] {
  const files: FileCoverage[] = [];
  let current: FileCoverage | undefined;
  const prefix = root.endsWith("/") ? root : `${root}/`;
  for (const line of lcov.split("\n")) {
    const [key, value = ""] = line.split(/:(.*)/s);
    switch (key) {
      case "SF": {
        const path = value.startsWith("file://") ? new URL(value).pathname : value;
        current = { path: path.startsWith(prefix) ? path.slice(prefix.length) : path, ...empty() };
        break;
      }
      case "LF":
        if (current) current.lines.found = Number(value);
        break;
      case "LH":
        if (current) current.lines.hit = Number(value);
        break;
      case "BRF":
        if (current) current.branches.found = Number(value);
        break;
      case "BRH":
        if (current) current.branches.hit = Number(value);
        break;
      case "end_of_record":
        if (current) files.push(current);
        current = undefined;
        break;
    }
  }
  return files;
}

/**
 * The folder a file counts under: its top folder, and one level more for a
 * folder of folders ("worker/consume"), so that each piece shows.
 */
export function folderOf(path: string): string {
  const parts = path.split("/");
  if (parts.length <= 1) return ".";
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Sums the files' coverage per folder, sorted by folder name, with the total last. */
export function byFolder(files: readonly FileCoverage[]): [string, Coverage][] {
  const folders = new Map<string, Coverage>();
  const total = empty();
  for (const file of files) {
    const name = folderOf(file.path);
    const folder = folders.get(name) ?? empty();
    folders.set(name, folder);
    for (const sum of [folder, total]) {
      sum.lines.found += file.lines.found;
      sum.lines.hit += file.lines.hit;
      sum.branches.found += file.branches.found;
      sum.branches.hit += file.branches.hit;
    }
  }
  return [...[...folders].sort(([a], [b]) => a.localeCompare(b)), ["total", total]];
}

/** A percentage with one decimal, or "-" where there is nothing to count. */
export function percent(part: { found: number; hit: number }): string {
  return part.found === 0 ? "-" : `${((100 * part.hit) / part.found).toFixed(1)} %`;
}

/** The table `deno task coverage` prints: folder, lines, branches. */
export function coverageTable(rows: readonly [string, Coverage][]): string {
  const width = Math.max(6, ...rows.map(([name]) => name.length));
  const line = (name: string, lines: string, branches: string) =>
    `${name.padEnd(width)}  ${lines.padStart(24)}  ${branches.padStart(24)}`;
  const figure = (part: { found: number; hit: number }) =>
    `${percent(part)} (${part.hit}/${part.found})`;
  return [
    line("folder", "lines", "branches"),
    ...rows.map(([name, coverage]) =>
      line(name, figure(coverage.lines), figure(coverage.branches))
    ),
  ].join("\n");
}

/** The files with the lowest line coverage, lowest first, ties by size. */
export function leastCovered(files: readonly FileCoverage[], count: number): FileCoverage[] {
  const ratio = (file: FileCoverage) =>
    file.lines.found === 0 ? 1 : file.lines.hit / file.lines.found;
  return [...files]
    .filter((file) => file.lines.found > 0)
    .sort((a, b) => ratio(a) - ratio(b) || b.lines.found - a.lines.found)
    .slice(0, count);
}
