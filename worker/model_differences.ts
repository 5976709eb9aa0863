/**
 * How rows of the read model differ from the write model's, field by field:
 * the comparison behind compareModels(), with no database.
 */

/** One way in which the read model differs from the write model. */
export interface ModelDifference {
  kind: "category" | "product" | "command" | "statistics";
  id: string;
  /** "missing from the read model", or `price: read "9.99", write "10.00"`. */
  what: string;
}

/** A row of either model, every column as text, so values compare exactly as stored. */
export type Row = Record<string, string | null>;

/**
 * The differences between the write model's rows of one kind and the read
 * model's (`rows.write`, `rows.read`), matched by their `id` column: a row missing from the read model, a
 * row only in it, and each field whose text differs, named in the row's
 * column order.
 */
export function differencesOf(
  kind: ModelDifference["kind"],
  rows: { write: readonly Row[]; read: readonly Row[] },
): ModelDifference[] {
  const { write, read } = rows;
  const readById = new Map(read.map((row) => [row.id!, row]));
  const differences: ModelDifference[] = [];
  for (const written of write) {
    const id = written.id!;
    const shown = readById.get(id);
    readById.delete(id);
    if (!shown) {
      differences.push({ kind, id, what: "missing from the read model" });
      continue;
    }
    const fields = Object.keys(written).filter((field) => written[field] !== shown[field]);
    if (fields.length === 0) continue;
    const what = fields.map((field) =>
      `${field}: read ${JSON.stringify(shown[field])}, write ${JSON.stringify(written[field])}`
    ).join("; ");
    differences.push({ kind, id, what });
  }
  for (const id of readById.keys()) {
    differences.push({ kind, id, what: "in the read model only" });
  }
  return differences;
}
