/** The open SSE streams of the app, so that a shutdown can end them all. */
export class SseHub {
  private readonly streams = new Set<{ close(): void }>();

  add(stream: { close(): void }): () => void {
    this.streams.add(stream);
    return () => this.streams.delete(stream);
  }

  get size(): number {
    return this.streams.size;
  }

  closeAll(): void {
    for (const stream of [...this.streams]) stream.close();
  }
}
