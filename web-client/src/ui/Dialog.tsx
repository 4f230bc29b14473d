// A modal dialog: centred on a desktop, a bottom sheet on a phone (CSS). Focus moves in
// when it opens and back when it closes; Escape closes it unless it must be answered.
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { t } from "../i18n";

export function Dialog({
  title,
  onClose,
  children,
  testid,
  wide = false,
  alert = false,
}: {
  title: string;
  onClose?: () => void;
  children: ComponentChildren;
  testid?: string;
  wide?: boolean;
  /** It needs an answer now (a ballot, being given the floor): `alertdialog`. */
  alert?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const el = ref.current;
    const first = el?.querySelector<HTMLElement>("[data-autofocus], button:not(.dialog-close), input, select, textarea");
    (first ?? el)?.focus();
    return () => before?.focus?.();
  }, []);
  useEffect(() => {
    if (!onClose) return;
    const key = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, [onClose]);
  const id = `dlg-${testid ?? "x"}`;
  return (
    <div class="backdrop">
      <div ref={ref} class={`dialog ${wide ? "wide" : ""}`} role={alert ? "alertdialog" : "dialog"} aria-modal="true" aria-labelledby={id} tabIndex={-1} data-testid={testid}>
        <header class="dialog-head">
          <h2 id={id}>{title}</h2>
          {onClose ? (
            <button class="dialog-close" onClick={onClose} aria-label={t("close")}>
              ✕
            </button>
          ) : null}
        </header>
        <div class="dialog-body">{children}</div>
      </div>
    </div>
  );
}
