// What the console's screens share: an API error's code, and an error shown next to the
// form that caused it.
import { ApiError } from "./api";
import { errText } from "./strings";

export function codeOf(e: unknown): string {
  return e instanceof ApiError ? e.code : "internal";
}

/** An error next to the form that caused it, announced to screen readers. */
export function Problem({ code }: { code?: string }) {
  return code ? (
    <p class="problem" role="alert" data-testid="problem">
      {errText(code)}
    </p>
  ) : null;
}
