export { Hub } from "./hub.ts";
export { Connection } from "./connection.ts";
export { checkUpgrade, upgradeToConnection } from "./upgrade.ts";
export { websocketHandler } from "./websocket-handler.ts";
export { frame } from "./frames.ts";
export { rates } from "./metrics.ts";
export { openFileLimit, socketCapFor } from "./socket-cap.ts";
