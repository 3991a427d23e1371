import { extract, pack } from 'tar-stream';

/** One entry of an archive put into a container. */
export interface ArchiveEntry {
  /** Relative path inside the archive; directories may end with `/`. */
  name: string;
  type: 'file' | 'directory';
  mode: number;
  content?: string;
}

/**
 * A tar archive (what `PUT /containers/{id}/archive` takes) of the given entries, in order, owned
 * by `owner` (the engine extracts as root and gives each entry the owner its header names).
 */
export async function packArchive(entries: readonly ArchiveEntry[], owner: { uid: number; gid: number } = { uid: 0, gid: 0 }): Promise<Buffer> {
  const archive = pack();
  const mtime = new Date();
  const { uid, gid } = owner;
  for (const entry of entries) {
    if (entry.type === 'directory') archive.entry({ name: entry.name, type: 'directory', mode: entry.mode, mtime, uid, gid });
    else archive.entry({ name: entry.name, type: 'file', mode: entry.mode, mtime, uid, gid }, Buffer.from(entry.content ?? '', 'utf8'));
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * The content of the first regular file of a tar stream (`GET /containers/{id}/archive` of a file
 * path gives an archive holding just that file); undefined when it holds none.
 */
export async function readArchiveFile(archive: NodeJS.ReadableStream): Promise<Buffer | undefined> {
  const entries = extract();
  archive.on('error', (err: Error) => entries.destroy(err));
  archive.pipe(entries);
  let found: Buffer | undefined;
  for await (const entry of entries) {
    if (found === undefined && entry.header.type === 'file') {
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
      found = Buffer.concat(chunks);
    } else {
      entry.resume();
    }
  }
  return found;
}
