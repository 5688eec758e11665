/**
 * A contact's postal address, as the library hands it to the UI and to the vCard writer. Kept apart
 * from contacts.ts (which opens databases) so the page can format addresses without loading SQLite.
 */

/** One postal address; `street` may hold several lines. */
export interface PostalAddress {
  label: string | undefined;
  street: string | undefined;
  city: string | undefined;
  state: string | undefined;
  postalCode: string | undefined;
  country: string | undefined;
  /** ISO 3166 code ("de", "us"), as iOS stores it beside the country's name. */
  countryCode: string | undefined;
}

/** An address as lines, the way a letter is written: street lines, "ZIP City", state, country. */
export function addressLines(a: PostalAddress): string[] {
  const locality = [a.postalCode, a.city].filter(Boolean).join(' ');
  return [...(a.street ? a.street.split(/\r\n?|\n/) : []), locality, a.state ?? '', a.country ?? ''].filter((line) => line.trim() !== '');
}
