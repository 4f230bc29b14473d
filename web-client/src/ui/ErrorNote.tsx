// A refused command's reason, next to the control that caused it, in the user's
// language (never the server's English message).
import { useApp } from "../app/context";
import { errorText, t } from "../i18n";

export function ErrorNote({ at, id }: { at: string | string[]; id?: string }) {
  const app = useApp();
  const keys = Array.isArray(at) ? at : [at];
  const key = keys.find((k) => app.errors.value[k]);
  if (!key) return null;
  return (
    <p class="error-note" role="alert" id={id} data-testid={`error-${key}`}>
      {errorText(app.errors.value[key])}
      <button class="link" onClick={() => app.clearError(key)}>
        {t("dismiss")}
      </button>
    </p>
  );
}
