// A matchmaker's view of each site's autocluster index (kept in Redis by DispatchQueues), refreshed
// at most every `ttlMs` per site, so adverts read it from memory. A queue that came back empty is
// skipped for a short while: the next pilot at a busy site does not pay a round trip for it.
import type { AutoclusterKey } from "../jobs/index.ts";

export interface AutoclusterIndexSource {
  autoclusters(site: string): Promise<Record<string, AutoclusterKey>>;
}

interface SiteEntry {
  acs: Array<[string, AutoclusterKey]>;
  at: number;
  loading?: Promise<void>;
  emptyUntil: Map<string, number>;
}

/**
 * Sites whose index a matchmaker keeps in memory at once. An advert is matched while its token is
 * being checked, so its site is read before anyone knows it is made up: anyone who may publish
 * adverts (`advert.*`) named a new site per message and each stayed here for good. Past this, the
 * site remembered longest is forgotten (read again from Redis when it is next advertised at).
 * Grids run tens to hundreds of sites.
 */
export const MAX_INDEXED_SITES = 10_000;

export class AutoclusterIndexCache {
  private readonly sites = new Map<string, SiteEntry>();

  constructor(
    private readonly source: AutoclusterIndexSource,
    private readonly ttlMs = 1000,
    private readonly emptyHoldMs = 100,
  ) {}

  /** The site's autoclusters whose queues are not known to be empty. */
  async live(site: string, now = Date.now()): Promise<Array<[string, AutoclusterKey]>> {
    let e = this.sites.get(site);
    if (!e) {
      e = { acs: [], at: 0, emptyUntil: new Map() };
      // A Map iterates in insertion order: its first key is the site remembered longest.
      if (this.sites.size >= MAX_INDEXED_SITES) this.sites.delete(this.sites.keys().next().value as string);
      this.sites.set(site, e);
    }
    if (now - e.at > this.ttlMs) await this.refresh(site, e);
    return this.notEmpty(e, now);
  }

  /**
   * The same as `live` when the site's index is fresh in memory, with no promise; undefined when it
   * must be read first. The matchmaker asks this first on every advert: an async call and its await
   * cost heap even when nothing is read.
   */
  liveNow(site: string, now = Date.now()): Array<[string, AutoclusterKey]> | undefined {
    const e = this.sites.get(site);
    return e !== undefined && now - e.at <= this.ttlMs ? this.notEmpty(e, now) : undefined;
  }

  private notEmpty(e: SiteEntry, now: number): Array<[string, AutoclusterKey]> {
    const hold = e.emptyUntil;
    return hold.size === 0 ? e.acs : e.acs.filter(([ac]) => (hold.get(ac) ?? 0) <= now);
  }

  private refresh(site: string, e: SiteEntry): Promise<void> {
    // One read per site however many adverts arrive while it is in flight.
    e.loading ??= this.source
      .autoclusters(site)
      .then((acs) => {
        e.acs = Object.entries(acs);
        e.at = Date.now();
      })
      .finally(() => {
        e.loading = undefined;
      });
    return e.loading;
  }

  markEmpty(site: string, ac: string, now = Date.now()): void {
    this.sites.get(site)?.emptyUntil.set(ac, now + this.emptyHoldMs);
  }

  /** Forces the next read of this site to go to Redis (after a nomatch, new jobs may be waiting). */
  invalidate(site: string): void {
    const e = this.sites.get(site);
    if (e) e.emptyUntil.clear();
  }
}
