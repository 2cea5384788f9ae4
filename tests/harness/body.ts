/** What the test clients (api, edge, compose) share about reading a response. */

/** A response body as text and as JSON (the text itself when it is not JSON, null when empty). */
export async function readBody(res: Response): Promise<{ text: string; json: any }> {
  const text = await res.text();
  try {
    return { text, json: text ? JSON.parse(text) : null };
  } catch {
    return { text, json: text };
  }
}
