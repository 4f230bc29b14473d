// Horizontal bars with the number written beside each, and the whole as text for
// screen readers (a chart never stands alone).
export interface Bar {
  key: string;
  label: string;
  value: number;
  /** What is written beside the bar (defaults to the value). */
  text?: string;
  /** Highlighted (the winner, my choice). */
  strong?: boolean;
  /** Over a budget: drawn in the warning colour. */
  over?: boolean;
}

export function BarChart({ bars, label, testid }: { bars: Bar[]; label: string; testid?: string }) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const summary = `${label}: ${bars.map((b) => `${b.label} ${b.text ?? b.value}`).join("; ")}`;
  return (
    <figure class="chart" data-testid={testid}>
      <figcaption class="sr">{summary}</figcaption>
      <div class="bars" aria-hidden="true">
        {bars.map((b) => (
          <div key={b.key} class={`bar-row ${b.strong ? "strong" : ""}`}>
            <span class="bar-label">{b.label}</span>
            <span class="bar-track">
              <span class={`bar ${b.over ? "over" : ""}`} style={{ width: `${Math.round((100 * b.value) / max)}%` }} />
            </span>
            <span class="bar-value">{b.text ?? b.value}</span>
          </div>
        ))}
      </div>
    </figure>
  );
}
