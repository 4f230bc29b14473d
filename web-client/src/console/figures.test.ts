import { describe, expect, it } from "vitest";
import { hms, percent, seconds, textWidth, wrap } from "./figures";

describe("the statistics' numbers", () => {
  it("writes a rate as the CSV does", () => {
    expect(percent(667)).toBe("66.7%");
    expect(percent(1000)).toBe("100%");
    expect(percent(0)).toBe("0%");
    expect(percent(5)).toBe("0.5%");
  });
  it("splits a duration into hours, minutes and seconds, rounded to the second", () => {
    expect(hms(185_000)).toEqual({ h: 0, m: 3, s: 5, mm: "03", ss: "05" });
    expect(hms(2_499)).toMatchObject({ h: 0, m: 0, s: 2 });
    expect(hms(2_500)).toMatchObject({ h: 0, m: 0, s: 3 });
    expect(hms(3_723_600)).toEqual({ h: 1, m: 2, s: 4, mm: "02", ss: "04" });
    expect(hms(0)).toMatchObject({ h: 0, m: 0, s: 0 });
  });
  it("rounds seconds half up", () => {
    expect(seconds(1_499)).toBe(1);
    expect(seconds(1_500)).toBe(2);
  });
});

describe("labels in lines", () => {
  it("counts a CJK character as a square and latin as about half", () => {
    expect(textWidth("协商会", 18)).toBe(54);
    expect(textWidth("ab", 10)).toBe(12);
  });
  it("keeps a short label on one line", () => {
    expect(wrap("协商会", 100, 18, 2)).toEqual(["协商会"]);
  });
  it("breaks a long title and ends the last line with an ellipsis", () => {
    const lines = wrap("关于老旧小区加装电梯的专题协商会", 90, 18, 2);
    expect(lines).toEqual(["关于老旧小", "区加装电…"]);
    for (const l of lines) expect(textWidth(l, 18)).toBeLessThanOrEqual(90);
  });
  it("balances the lines rather than leave one character alone", () => {
    expect(wrap("社区养老服务专题协商会", 188, 18, 2)).toEqual(["社区养老服务", "专题协商会"]);
  });
  it("never loses a character when the text fits the lines", () => {
    expect(wrap("社区养老服务", 54, 18, 2).join("")).toBe("社区养老服务");
  });
});
