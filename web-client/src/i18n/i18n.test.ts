import { describe, expect, it } from "vitest";
import { ERROR_CODES, tableFor } from "./index";
import { zh } from "./zh";

describe("the string tables", () => {
  it("every error code has a text in both languages", () => {
    for (const code of ERROR_CODES) {
      expect(tableFor("zh-CN")[`err_${code}` as keyof typeof zh], code).toBeTruthy();
      expect(tableFor("en")[`err_${code}` as keyof typeof zh], code).toBeTruthy();
    }
  });

  it("English has every key, in English", () => {
    const en = tableFor("en");
    for (const key of Object.keys(zh) as Array<keyof typeof zh>) {
      expect(en[key], key).toBeTruthy();
      // "中" is the language switch's short label; everything else is free of CJK.
      if (key !== "language" && key !== "languageShort") expect(en[key], key).not.toMatch(/[\u3400-\u9fff\uff08\uff09\uff1a\uff0c\u3001\u3002]/);
    }
  });

  it("every key built from a code exists", () => {
    const groups: Record<string, string[]> = {
      kind_: ["point_of_order", "interjection", "reply", "scheduled", "impromptu"],
      raise_: ["impromptu", "interjection", "point_of_order"],
      state_: ["scheduled", "check_in", "in_session", "paused", "closed"],
      ended_: ["yielded", "host", "time_up", "dropped", "superseded", "session_closed"],
      outcome_: ["passed", "failed", "no_quorum", "not_declared"],
      reason_: ["duplicate", "off_topic", "abusive", "advertising", "personal_information", "other"],
      role_: ["host", "member", "respondent", "venue", "observer", "recorder", "audience"],
      ordering_: ["first_come", "fewest_turns", "least_time", "rotate_sectors", "rotate_venues"],
      poll_: ["draft", "open", "closed", "published"],
      quality_: ["good", "fair", "poor", "unknown"],
      media_: ["off", "starting", "connecting", "connected", "failed", "unavailable"],
      tab_: ["queue", "polls", "questions", "comments", "chat", "attendance", "time", "feed"],
      method_: ["yes_no_abstain", "single", "multiple", "rating"],
      visibility_: ["live", "after_close", "hosts_until_published"],
      majority_: ["simple", "absolute", "two_thirds"],
      notice_: ["floor_given", "time_warning", "time_up", "turn_ended_by_host", "paused", "resumed", "comment_approved", "comment_rejected", "question_approved", "question_rejected", "question_answered", "added_to_queue"],
    };
    for (const [prefix, codes] of Object.entries(groups)) {
      for (const code of codes) expect(zh[`${prefix}${code}` as keyof typeof zh], `${prefix}${code}`).toBeTruthy();
    }
  });
});
