import { afterEach, describe, expect, it } from "vitest";
import { lang } from "../i18n/lang";
import { recordTables, spoken } from "./MeetingRecord";

describe("the meeting record", () => {
  afterEach(() => void (lang.value = "zh-CN"));
  it("writes a speech's length in seconds under a minute, in minutes and seconds above", () => {
    expect(spoken(2_000)).toBe("2秒");
    expect(spoken(45_400)).toBe("45秒");
    expect(spoken(59_600)).toBe("1分0秒");
    expect(spoken(95_000)).toBe("1分35秒");
    lang.value = "en";
    expect(spoken(45_000)).toBe("45 s");
    expect(spoken(95_000)).toBe("1 min 35 s");
  });
  it("has every key in both languages, the zh-CN ones in Chinese", () => {
    expect(Object.keys(recordTables.en).sort()).toEqual(Object.keys(recordTables["zh-CN"]).sort());
    for (const [key, text] of Object.entries(recordTables["zh-CN"])) expect(text.replace(/\{\w+\}/g, ""), key).not.toMatch(/[A-Za-z]{3,}/);
  });
});
