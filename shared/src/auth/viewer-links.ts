import { createHmac, timingSafeEqual } from 'node:crypto';

/** The `key` query parameter of a viewer link: an HMAC of the task id, so links can be shared without the API token. */
export function viewerKey(secret: string, taskId: string): string {
  return createHmac('sha256', secret).update(`viewer:${taskId}`).digest('base64url').slice(0, 32);
}

export function verifyViewerKey(secret: string, taskId: string, key: string | undefined): boolean {
  if (!key) return false;
  const expected = Buffer.from(viewerKey(secret, taskId));
  const given = Buffer.from(key);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function viewerUrl(publicUrl: string, secret: string, taskId: string): string {
  return `${publicUrl}/tasks/${taskId}?key=${viewerKey(secret, taskId)}`;
}
