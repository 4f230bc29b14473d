import { describe, expect, it } from "vitest";
import { BOARD_ERRORS, tables } from "./strings";

describe("the board's strings", () => {
  it("has every key in both languages, none empty", () => {
    const zh = Object.keys(tables["zh-CN"]).sort();
    expect(Object.keys(tables.en).sort()).toEqual(zh);
    for (const table of Object.values(tables)) for (const text of Object.values(table)) expect(text.trim()).not.toBe("");
  });
  it("says every error code of the board's API in words", () => {
    for (const code of BOARD_ERRORS) {
      expect(tables["zh-CN"]).toHaveProperty(`err_${code}`);
      expect(tables.en).toHaveProperty(`err_${code}`);
    }
  });
  it("writes the zh-CN texts in Chinese", () => {
    for (const [key, text] of Object.entries(tables["zh-CN"])) {
      if (key === "language") continue;
      expect(text.replace(/\{\w+\}/g, ""), key).not.toMatch(/[A-Za-z]{3,}/);
    }
  });
});
