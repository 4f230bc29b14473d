// What the statistics charts (Chart.tsx, Statistics.tsx) compute, apart from drawing:
// numbers in words as the CSV writes them, and text laid out in lines of a given width.
// Pure, so it is unit tested.

/** `66.7%`, `100%`: thousandths as a percentage with at most one decimal (as the CSV). */
export function percent(permille: number): string {
  const tenths = permille % 10;
  return tenths === 0 ? `${Math.floor(permille / 10)}%` : `${Math.floor(permille / 10)}.${tenths}%`;
}

/** Milliseconds rounded to the second (half up, as the CSV), as hours, minutes and
 * seconds; `pad`: the minutes and seconds after a larger unit as two digits. */
export function hms(ms: number): { h: number; m: number; s: number; mm: string; ss: string } {
  const total = Math.floor((ms + 500) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor(total / 60) % 60;
  const s = total % 60;
  return { h, m, s, mm: String(m).padStart(2, "0"), ss: String(s).padStart(2, "0") };
}

/** Milliseconds as whole seconds, rounded half up (as the CSV). */
export function seconds(ms: number): number {
  return Math.floor((ms + 500) / 1000);
}

/** The width of `text` at `size` px, estimated: a CJK character is a square, others
 * about half of one. Enough to place a label; the charts leave room to spare. */
export function textWidth(text: string, size: number): number {
  let w = 0;
  for (const ch of text) w += ch.charCodeAt(0) > 0x2e7f ? size : size * 0.6;
  return w;
}

/** `text` in lines of at most `width` px at `size` px, each as full as it can be. */
function greedy(text: string, width: number, size: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const ch of text) {
    if (line !== "" && textWidth(line + ch, size) > width) {
      lines.push(line);
      line = "";
    }
    line += ch;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** `text` broken into at most `maxLines` lines of `width` px at `size` px, of about the
 * same length (never a long line and a lone character); the last line ends with `…`
 * when the text does not fit. */
export function wrap(text: string, width: number, size: number, maxLines: number): string[] {
  const lines = greedy(text, width, size);
  if (lines.length <= maxLines) {
    const even = greedy(text, Math.min(width, Math.ceil(textWidth(text, size) / lines.length) + size - 1), size);
    return even.length === lines.length ? even : lines;
  }
  const kept = lines.slice(0, maxLines);
  let last = kept[maxLines - 1];
  while (last.length > 0 && textWidth(`${last}…`, size) > width) last = [...last].slice(0, -1).join("");
  kept[maxLines - 1] = `${last}…`;
  return kept;
}
