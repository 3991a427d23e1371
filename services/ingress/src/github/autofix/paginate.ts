/** Most pages read of one listing (100 items each). */
export const MAX_PAGES = 10;
export const PER_PAGE = 100;

/** Reads a GitHub listing page by page (`per_page` 100) until a short page, at most `MAX_PAGES`. */
export async function paginate<T>(fetchPage: (page: number) => Promise<T[]>): Promise<T[]> {
  const all: T[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const items = await fetchPage(page);
    all.push(...items);
    if (items.length < PER_PAGE) break;
  }
  return all;
}
