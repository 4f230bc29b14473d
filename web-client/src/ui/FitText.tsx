// Text on one line, shrunk until it fits its box (the speaker's name on the projector).
import type { ComponentChildren } from "preact";
import { useLayoutEffect, useRef } from "preact/hooks";

export function FitText({ children, max, min = 16, class: cls = "", testid }: { children: ComponentChildren; max: number; min?: number; class?: string; testid?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const fit = () => {
      let size = max;
      el.style.fontSize = `${size}px`;
      while (size > min && el.scrollWidth > el.clientWidth) {
        size = Math.max(min, Math.floor(size * 0.92));
        el.style.fontSize = `${size}px`;
      }
    };
    fit();
    const ro = typeof ResizeObserver !== "undefined" ? new ResizeObserver(fit) : undefined;
    ro?.observe(el);
    return () => ro?.disconnect();
  });
  return (
    <div ref={ref} class={`fit ${cls}`} data-testid={testid}>
      {children}
    </div>
  );
}
