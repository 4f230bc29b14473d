// Irreversible acts confirm (ending the meeting, removing someone from the queue,
// granting the floor to someone offline, leaving).
import { useApp } from "../app/context";
import { t, type Key } from "../i18n";
import { Dialog } from "./Dialog";

export function ConfirmDialog() {
  const app = useApp();
  const c = app.confirm.value;
  if (!c) return null;
  const close = () => app.ask(undefined);
  return (
    <Dialog title={t("pleaseConfirm")} onClose={close} testid="confirm" alert={true}>
      <p>{t(c.text as Key, c.vars)}</p>
      <div class="dialog-actions">
        <button
          class="primary"
          data-testid="confirm-ok"
          data-autofocus
          onClick={() => {
            close();
            c.run();
          }}
        >
          {t(c.ok as Key)}
        </button>
        <button data-testid="confirm-cancel" onClick={close}>
          {t("cancel")}
        </button>
      </div>
    </Dialog>
  );
}
