// Opening and editing members' studios (委员网上工作室) in the console: the studios open
// now, each with its photo (or initials) and 编辑; a form that opens a roster member's
// studio or changes one — the name and 界别 shown (taken from the roster), a photo chosen
// from the computer (made smaller in the browser, then uploaded), topics of interest and
// the days the member has to reply to a message (docs/board.md).
import { useEffect, useState } from "preact/hooks";
import type { StudioSummary } from "../board/api";
import { api, type Member, studioStaffApi } from "./api";
import { codeOf, Problem } from "./common";
import { ct } from "./strings";

/** The longest side of an uploaded photo: enough for the studio's portrait on any screen. */
const PHOTO_SIDE = 640;

/** A chosen image drawn at most [`PHOTO_SIDE`] wide or high, as JPEG; `not_an_image` if
 * the browser cannot read it. */
async function smaller(file: File): Promise<Blob> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error("not_an_image");
  }
  const scale = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const g = canvas.getContext("2d");
  if (!g) throw new Error("not_an_image");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("not_an_image"))), "image/jpeg", 0.85));
}

/** Topics of interest as typed: split at commas, 、 and spaces. */
const interestsOf = (text: string) =>
  text
    .split(/[,，、\s]+/)
    .map((t) => t.trim())
    .filter(Boolean);

interface Draft {
  member: string;
  name: string;
  sector: string;
  photo: string | null;
  interests: string;
  days: string;
}

const empty: Draft = { member: "", name: "", sector: "", photo: null, interests: "", days: "7" };

export function StudioEditor({ studios, changed }: { studios: StudioSummary[]; changed: () => Promise<void> }) {
  const [roster, setRoster] = useState<Member[]>([]);
  const [draft, setDraft] = useState<Draft>(empty);
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState<"photo" | "save" | "load">();
  const [problem, setProblem] = useState<string>();
  const [done, setDone] = useState<string>();
  useEffect(() => {
    api.roster("").then(
      (r) => setRoster(r.members.filter((m) => m.active)),
      (e) => setProblem(codeOf(e)),
    );
  }, []);
  const set = (part: Partial<Draft>) => setDraft((d) => ({ ...d, ...part }));
  const pickMember = (id: string) => {
    const m = roster.find((r) => String(r.id) === id);
    const open = studios.find((s) => String(s.member) === id);
    set({ member: id, name: open?.name ?? m?.name ?? "", sector: open?.sector ?? m?.sector ?? "" });
  };
  const edit = async (s: StudioSummary) => {
    setDone(undefined);
    setProblem(undefined);
    setEditing(true);
    // The reply deadline comes with the studio's own page: until it has, the form shows
    // no number and cannot be saved (a default would overwrite the studio's deadline).
    setDraft({ member: String(s.member), name: s.name, sector: s.sector, photo: s.photo, interests: s.interests.join("、"), days: "" });
    setBusy("load");
    try {
      const page = await studioStaffApi.studio(s.member);
      set({ days: String(page.deadline_days) });
    } catch (e) {
      setDraft(empty);
      setEditing(false);
      setProblem(codeOf(e));
    } finally {
      setBusy(undefined);
    }
    document.getElementById("se-form")?.scrollIntoView({ block: "start" });
  };
  const choosePhoto = async (input: HTMLInputElement) => {
    const file = input.files?.[0];
    input.value = "";
    if (!file) return;
    setBusy("photo");
    try {
      const { url } = await studioStaffApi.photo(await smaller(file));
      set({ photo: url });
      setProblem(undefined);
    } catch (e) {
      setProblem(e instanceof Error && e.message === "not_an_image" ? "not_an_image" : codeOf(e));
    } finally {
      setBusy(undefined);
    }
  };
  const save = async (e: Event) => {
    e.preventDefault();
    setDone(undefined);
    if (!draft.member || !draft.name.trim()) return setProblem("missing");
    setBusy("save");
    try {
      await studioStaffApi.command({
        type: "open_studio",
        member: Number(draft.member),
        name: draft.name.trim(),
        sector: draft.sector.trim(),
        photo: draft.photo,
        interests: interestsOf(draft.interests),
        deadline_days: Number(draft.days) || 7,
      });
      setProblem(undefined);
      setDone(ct(editing ? "se_saved" : "se_opened", { name: draft.name.trim() }));
      setDraft(empty);
      setEditing(false);
      await changed();
    } catch (err) {
      setProblem(codeOf(err));
    } finally {
      setBusy(undefined);
    }
  };
  return (
    <section class="c-card" aria-labelledby="se-h" data-testid="studio-editor">
      <h2 id="se-h">{ct("se_title")}</h2>
      <p class="c-muted">{ct("se_hint")}</p>
      {studios.length === 0 ? (
        <p data-testid="studios-none">{ct("se_none")}</p>
      ) : (
        <ul class="c-studio-list" data-testid="studio-list">
          {studios.map((s) => (
            <li key={s.member} data-testid={`studio-${s.member}`}>
              {s.photo ? <img class="c-portrait" src={s.photo} alt="" /> : <span class="c-portrait c-initial">{s.name.slice(0, 1)}</span>}
              <span class="c-studio-name">
                <strong>{s.name}</strong>
                <span class="c-muted">{[s.sector, s.interests.join("、")].filter(Boolean).join(" · ")}</span>
              </span>
              <a class="c-button" href={`/board#/studio/${s.member}`} target="_blank" rel="noopener">
                {ct("so_open")}
              </a>
              <button type="button" class="c-button" onClick={() => void edit(s)} data-testid={`studio-edit-${s.member}`}>
                {ct("se_edit")}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form id="se-form" class="c-form" onSubmit={save} data-testid="studio-form">
        <h3>{editing ? ct("se_editTitle", { name: draft.name }) : ct("se_openTitle")}</h3>
        <div class="c-row">
          <label>
            {ct("se_member")}
            <select value={draft.member} disabled={editing} onChange={(e) => pickMember(e.currentTarget.value)} data-testid="studio-member">
              <option value="">{ct("sd_pick")}</option>
              {roster.map((m) => (
                <option key={m.id} value={String(m.id)}>
                  {m.name}
                  {m.sector ? `（${m.sector}）` : ""}
                  {studios.some((s) => s.member === m.id) ? ` · ${ct("se_hasStudio")}` : ""}
                </option>
              ))}
            </select>
          </label>
          <label>
            {ct("se_name")}
            <input maxLength={60} value={draft.name} onInput={(e) => set({ name: e.currentTarget.value })} data-testid="studio-name" />
          </label>
          <label>
            {ct("se_sector")}
            <input maxLength={60} value={draft.sector} onInput={(e) => set({ sector: e.currentTarget.value })} data-testid="studio-sector" />
          </label>
        </div>
        <div class="c-row c-photo-row">
          {draft.photo ? <img class="c-portrait c-portrait-big" src={draft.photo} alt={ct("se_photoAlt")} data-testid="studio-photo-preview" /> : <span class="c-portrait c-portrait-big c-initial">{draft.name.slice(0, 1) || "?"}</span>}
          <label class="c-button">
            {busy === "photo" ? ct("se_uploading") : draft.photo ? ct("se_photoChange") : ct("se_photoChoose")}
            <input type="file" accept="image/*" class="c-visually-hidden" disabled={busy !== undefined} onChange={(e) => void choosePhoto(e.currentTarget)} data-testid="studio-photo" />
          </label>
          {draft.photo ? (
            <button type="button" class="c-button" onClick={() => set({ photo: null })} data-testid="studio-photo-remove">
              {ct("se_photoRemove")}
            </button>
          ) : null}
        </div>
        <label>
          {ct("se_interests")}
          <input maxLength={200} value={draft.interests} placeholder={ct("se_interestsHint")} onInput={(e) => set({ interests: e.currentTarget.value })} data-testid="studio-interests" />
        </label>
        <label>
          {ct("se_days")}
          <input type="number" min={1} max={90} value={draft.days} onInput={(e) => set({ days: e.currentTarget.value })} data-testid="studio-days" />
        </label>
        <Problem code={problem} scope="se" />
        <div class="c-row">
          <button type="submit" class="c-primary" disabled={busy !== undefined} data-testid="studio-save">
            {editing ? ct("se_save") : ct("se_open")}
          </button>
          {editing ? (
            <button
              type="button"
              class="c-button"
              onClick={() => {
                setDraft(empty);
                setEditing(false);
                setProblem(undefined);
              }}
            >
              {ct("se_cancel")}
            </button>
          ) : null}
        </div>
      </form>
      <p class="c-ok" role="status" data-testid="studio-status">
        {done ?? ""}
      </p>
    </section>
  );
}
