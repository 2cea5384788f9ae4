import { expect, test } from "bun:test";
import { staffLookalike } from "./impersonation.ts";

test("names that read as the site's staff are caught through look-alikes, spacing and ticks", () => {
  for (const name of ["Xplicit Support", "xpl1c1t", "аdmin", "ADMIN", "Ａｄｍｉｎ", "ad\u200bmin", "The Official One", "m0derator", "Support ✔", "Jane ✅", "XplicitTeam", "Staff"]) {
    expect({ name, caught: staffLookalike(name) !== null }).toEqual({ name, caught: true });
  }
});

test("ordinary names pass, in any script", () => {
  for (const name of ["Jane", "Supportive Sam", "Staffy lover", "Администратор Вася", "Оля", "Nguyễn Thị Minh Khai", "Ζωή", "🔥Carol", "Mod Squad", "Admina"]) {
    expect({ name, caught: staffLookalike(name) }).toEqual({ name, caught: null });
  }
});
