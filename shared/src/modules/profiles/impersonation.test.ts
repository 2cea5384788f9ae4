import { expect, test } from "bun:test";
import { staffLookalike } from "./impersonation.ts";

test("names that read as the site's staff are caught through look-alikes, spacing and ticks", () => {
  for (const name of ["Xplicit Support", "xpl1c1t", "аdmin", "ADMIN", "Ａｄｍｉｎ", "ad\u200bmin", "The Official One", "m0derator", "Support ✔", "Jane ✅", "XplicitTeam", "Staff", "xpIicit", "ᴀᴅᴍɪɴ", "admın", "ɑdmin", "A d m i n", "a.d.m.i.n", "AdminJane", "SupportTeam", "adm!n", "xplicit_support722", "Suppօrt", "Օfficial", "Ꭺdmin", "Ꮪtaff", "ꓢupport", "Ⲭplicit", "Admɨn", "Xpl¡cit", "Admins", "Moderators", "Adminteam", "Supportteam", "Mod Team", "Moderation", "A d m i n Team", "Team S u p p o r t", "admins", "Max Plicit"]) {
    expect({ name, caught: staffLookalike(name) !== null }).toEqual({ name, caught: true });
  }
});

test("ordinary names pass, in any script", () => {
  for (const name of ["Jane", "Supportive Sam", "Staffy lover", "Администратор Вася", "Оля", "Nguyễn Thị Minh Khai", "Ζωή", "🔥Carol", "Mod Squad", "Admina", "Badminton fan", "Unofficial Jane", "m_abc123", "Lily Bell", "Explicit Dreams", "Alex Plicit", "Rex Plicity", "explicit_lover", "alex_plicit", "Team Rocket", "Jo A B"]) {
    expect({ name, caught: staffLookalike(name) }).toEqual({ name, caught: null });
  }
});
