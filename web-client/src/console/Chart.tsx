// Bar charts drawn as plain SVG, for the console's statistics (Statistics.tsx): columns
// (one per meeting) and horizontal bars (one per sector or member). 适老化: laid out in
// real pixels at the width of their panel, so labels stay at 16–20 px on a phone as on a
// laptop; one dark red on white (7:1), every bar with its value written on it and its
// name beside it, so nothing is said by colour alone. The SVG is hidden from screen
// readers: each chart's `Figure` carries its data as a table (read by screen readers
// always, shown on the page with a toggle) and a CSV download.
import type { ComponentChildren } from "preact";
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { textWidth, wrap } from "./figures";
import { ct } from "./strings";

/** One bar: its name (and a second, smaller line), its length and what is written on it. */
export interface Bar {
  label: string;
  sub?: string;
  /** Null: no bar (nothing to measure), `text` is written at the base. */
  value: number | null;
  text: string;
}

const INK = "#1a1a1a";
const BAR = "#a4161a";
const MUTED = "#374151";
const GRID = "#9ca3af";
const LABEL = 18;
const SUB = 16;
const VALUE = 19;

/** The width of the element `ref` is put on, kept up to date. */
function useWidth(): [preact.RefObject<HTMLDivElement>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    if (typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** An SVG drawn at its size, scaled down only when its box is narrower (print). */
function Svg({ width, height, children }: { width: number; height: number; children: ComponentChildren }) {
  return (
    <svg class="c-chart-svg" width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true" focusable="false" font-family="inherit">
      {children}
    </svg>
  );
}

/**
 * Columns, one per bar, over a scale from 0 to `max` (its gridlines labelled by
 * `tick`); the value on the column's top, the name below. More columns than fit scroll
 * sideways inside the chart's box.
 */
export function ColumnChart({ bars, max, tick, caption }: { bars: Bar[]; max: number; tick: (v: number) => string; caption: string }) {
  const [ref, width] = useWidth();
  const axis = Math.max(textWidth(tick(max), SUB) + 12, 48);
  const slot = Math.max(112, Math.min(200, (width - axis) / Math.max(bars.length, 1)));
  const svgWidth = Math.max(width, Math.ceil(axis + slot * bars.length));
  const top = 12;
  const plot = 220;
  const base = top + plot;
  const lineH = LABEL + 6;
  const height = base + 10 + 2 * lineH + SUB + 10;
  const scrolls = svgWidth > width + 1;
  const column = Math.min(88, slot * 0.62);
  // On a phone, columns that would scroll are read more easily as bars, one a line.
  if (width > 0 && scrolls && width < 600) {
    return (
      <div ref={ref} class="c-chart">
        <BarChart bars={bars} max={max} />
      </div>
    );
  }
  return (
    <div
      ref={ref}
      class="c-chart"
      {...(scrolls ? { tabIndex: 0, role: "group", "aria-label": ct("st_scroll", { caption }) } : {})}
    >
      {width > 0 ? (
        <Svg width={svgWidth} height={height}>
          {[0, 0.5, 1].map((f) => {
            const y = base - f * plot;
            return (
              <g key={f}>
                <line x1={axis} x2={svgWidth} y1={y} y2={y} stroke={f === 0 ? INK : GRID} stroke-width={f === 0 ? 2 : 1} stroke-dasharray={f === 0 ? undefined : "4 4"} />
                <text x={axis - 8} y={y + SUB / 3} text-anchor="end" font-size={SUB} fill={MUTED}>
                  {tick(f * max)}
                </text>
              </g>
            );
          })}
          {bars.map((bar, i) => {
            const cx = axis + slot * i + slot / 2;
            const h = bar.value === null ? 0 : Math.max(0, Math.min(1, bar.value / max)) * plot;
            const inside = h >= VALUE + 14;
            const lines = wrap(bar.label, slot - 12, LABEL, 2);
            return (
              <g key={i} data-bar={bar.label}>
                {h > 0 ? <rect x={cx - column / 2} y={base - h} width={column} height={h} fill={BAR} /> : null}
                <text x={cx} y={inside ? base - h + VALUE + 4 : base - h - 8} text-anchor="middle" font-size={VALUE} font-weight="bold" fill={inside ? "#fff" : INK}>
                  {bar.text}
                </text>
                {lines.map((line, l) => (
                  <text key={l} x={cx} y={base + 10 + lineH * (l + 1) - 6} text-anchor="middle" font-size={LABEL} fill={INK}>
                    {line}
                  </text>
                ))}
                {bar.sub ? (
                  <text x={cx} y={base + 10 + lineH * lines.length + SUB + 2} text-anchor="middle" font-size={SUB} fill={MUTED}>
                    {bar.sub}
                  </text>
                ) : null}
              </g>
            );
          })}
        </Svg>
      ) : null}
    </div>
  );
}

/** Horizontal bars in the order given, each with its name above it and its value
 * written at its end (inside when it fits, else just after it); the longest fills the
 * width, or `max` does. */
export function BarChart({ bars, max: scale }: { bars: Bar[]; max?: number }) {
  const [ref, width] = useWidth();
  const lineH = LABEL + 6;
  const barH = 32;
  const max = scale ?? Math.max(...bars.map((b) => b.value ?? 0), 1);
  const room = Math.max(...bars.map((b) => textWidth(b.text, VALUE))) + 16;
  // Each name on up to two lines above its bar; the rows one below the other.
  const rows = bars.map((bar) => wrap(bar.sub ? `${bar.label}（${bar.sub}）` : bar.label, width, LABEL, 2));
  const tops = rows.reduce<number[]>((acc, lines, i) => [...acc, (acc[i] ?? 0) + lines.length * lineH + 4 + barH + 14], [0]);
  return (
    <div ref={ref} class="c-chart">
      {width > 0 ? (
        <Svg width={width} height={tops[bars.length]}>
          {bars.map((bar, i) => {
            const y = tops[i];
            const labelH = rows[i].length * lineH + 4;
            const w = bar.value === null ? 0 : Math.max(2, (Math.min(bar.value, max) / max) * (width - room - 4));
            const inside = w >= textWidth(bar.text, VALUE) + 20;
            return (
              <g key={i} data-bar={bar.label}>
                {rows[i].map((line, l) => (
                  <text key={l} x={0} y={y + lineH * l + LABEL} font-size={LABEL} fill={INK}>
                    {line}
                  </text>
                ))}
                {w > 0 ? <rect x={0} y={y + labelH} width={w} height={barH} fill={BAR} /> : null}
                <text x={inside ? w - 10 : w + 8} y={y + labelH + barH / 2 + VALUE / 3} text-anchor={inside ? "end" : "start"} font-size={VALUE} font-weight="bold" fill={inside ? "#fff" : INK}>
                  {bar.text}
                </text>
              </g>
            );
          })}
        </Svg>
      ) : null}
    </div>
  );
}

/**
 * A chart with its caption, its data as a table (always there for screen readers, on
 * the page with the toggle) and a link to download that table as CSV.
 */
export function Figure({ id, caption, csv, chart, children }: { id: string; caption: string; csv: string; chart: ComponentChildren; children: ComponentChildren }) {
  const [open, setOpen] = useState(false);
  return (
    <figure class="c-figure" aria-labelledby={`${id}-cap`} data-testid={id}>
      <figcaption id={`${id}-cap`} class="c-figcaption">
        {caption}
      </figcaption>
      {chart}
      <div class="c-row c-actions c-no-print">
        <button type="button" aria-expanded={open} aria-controls={`${id}-data`} onClick={() => setOpen(!open)} data-testid={`${id}-toggle`}>
          {open ? ct("st_hideTable") : ct("st_showTable")}
        </button>
        <a class="c-button" href={csv} download data-testid={`${id}-csv`}>
          {ct("st_csv")}
        </a>
      </div>
      <div id={`${id}-data`} class={open ? "c-scroll c-figure-data" : "c-visually-hidden"} data-testid={`${id}-data`}>
        {children}
      </div>
    </figure>
  );
}
