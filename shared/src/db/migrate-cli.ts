import { loadConfigOrExit } from "../config/index.ts";
import { createDb, migrate } from "./index.ts";

const config = loadConfigOrExit();
const sql = createDb(config.databaseUrl, { max: 1, appName: "migrate" });
try {
  const result = await migrate(sql);
  process.stdout.write(JSON.stringify({ level: "info", module: "migrate", msg: "migrations done", ...result }) + "\n");
} finally {
  await sql.end({ timeout: 5 });
}
