/**
 * When a proposal's Ready runs at once: only for what looks like a lone client, and never
 * for two proposals in one event-loop turn, so that concurrent clients keep their group
 * commit (running every lone-looking proposal at once cost 64 clients a third of their puts).
 */
import { describe, expect, test } from "bun:test";
import { ProposalTurns } from "../../../server/member/proposal_turns.ts";

describe("proposal turns", () => {
  test("before any write, a proposal waits for the I/O already read", () => {
    expect(new ProposalTurns().runsNow(1)).toBe(false);
  });

  test("a lone client's proposals run at once, turn after turn", () => {
    const t = new ProposalTurns();
    t.wrote(1);
    for (let i = 0; i < 3; i++) {
      expect(t.runsNow(1)).toBe(true);
      t.ranNow();
      t.wrote(1);
      t.turnEnded();
    }
  });

  test("a second proposal in the turn waits, and joins the others read with it", () => {
    const t = new ProposalTurns();
    t.wrote(1);
    expect(t.runsNow(1)).toBe(true);
    t.ranNow();
    t.wrote(1);
    // Its Ready was answered; another client's request read in the same poll comes next.
    expect(t.runsNow(1)).toBe(false);
    // The gathered batch wrote many entries: the next turn's first proposal waits too.
    t.turnEnded();
    t.wrote(15);
    expect(t.runsNow(1)).toBe(false);
  });

  test("a proposal with others waiting is gathered with them", () => {
    const t = new ProposalTurns();
    t.wrote(1);
    expect(t.runsNow(2)).toBe(false);
  });
});
