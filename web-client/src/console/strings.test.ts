import { describe, expect, it } from "vitest";
import { lang } from "../i18n";
import { errText } from "./strings";

/** Every code the board's staff API answers with (docs/board.md), and the console's own. */
const BOARD_CODES = ["forbidden", "not_found", "invalid_state", "already_supported", "merged", "text_empty", "text_invalid", "text_too_long", "invalid_argument", "unauthorized", "rate_limited", "csrf", "network"];

describe("the console's error words", () => {
  for (const l of ["zh-CN", "en"] as const) {
    it(`says every board error in words of its own (${l})`, () => {
      lang.value = l;
      const failure = errText("internal");
      const said = BOARD_CODES.map((code) => errText(code, "bd"));
      for (const [i, text] of said.entries()) expect(text, BOARD_CODES[i]).not.toBe(failure);
      expect(new Set(said).size).toBe(said.length);
    });
  }
  it("reads a screen's own words before the console's, and the console's when it has none", () => {
    lang.value = "zh-CN";
    expect(errText("not_found", "bd")).toMatch(/议题或成果/);
    expect(errText("not_found")).toMatch(/委员/);
    expect(errText("forbidden", "bd")).toBe(errText("forbidden"));
    expect(errText("no_such_code", "bd")).toBe(errText("internal"));
  });
});
