import { z } from 'zod';

/** What is known of a shared file; kept in the region's Redis and carried by the file offer. */
export const FileMetaSchema = z.object({
  id: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/),
  room: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  name: z.string().min(1),
  size: z.number().int().positive(),
  type: z.string().min(1),
  from: z.object({ identity: z.string(), name: z.string() }),
  /** The region whose storage received the upload. */
  region: z.string(),
  node: z.string(),
  ts: z.number().int(),
});
export type FileMeta = z.infer<typeof FileMetaSchema>;

export function isFileId(id: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id);
}
