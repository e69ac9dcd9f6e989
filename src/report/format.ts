// Text helpers shared by the report's modules (the HTML page, the SVG plots and the overlay captions), so that a
// number or a string shows the same way wherever it appears.

/** A number for display; null, undefined, NaN and infinities show as an en dash (JSON turns NaN into null). */
export function fmt(v: number | null | undefined, digits = 3): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–';
}

/** A number read back from JSON, where NaN was written as null. */
export function num(v: number | null | undefined): number {
  return typeof v === 'number' ? v : NaN;
}

/** Per-landmark values as an array, whether they come as an array, a typed array or a JSON-ified typed array. */
export function numbers(v: ArrayLike<number> | Record<string, number> | null | undefined): number[] {
  if (!v) return [];
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<number>);
  return Object.values(v as Record<string, number>);
}

/** A string escaped for HTML text and attribute values (SVG too). */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
