export { requireSameOrigin, isAllowedOrigin } from "./origin.ts";
export { readJsonObject } from "./json-body.ts";
export { addressBudgetKey, clientIp, clientCertificate, clientCertificateRequired, peerAddress, isTrustedProxy, type ClientCertificate } from "./client-ip.ts";
export { requestMetrics } from "./request-metrics.ts";
export { requestDeadline } from "./deadline.ts";
export { securityHeaders } from "./security-headers.ts";
export { parsePage, type Page } from "./pagination.ts";
export { characterCount, hasBidiControls, hasControlCharacters, hasStackedMarks, hasVisibleText, isCanonicalId, isStorableText, MAX_MARKS_IN_A_ROW } from "./text.ts";
export { createWriteLimit, type WriteLimit } from "./write-limit.ts";
