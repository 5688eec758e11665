/**
 * Where one file of a packed store lives, and its size and date. A value: the catalogue may hand out
 * a fresh copy on every lookup (see HexFileTable), so a change goes back through Catalogue.setFile.
 */
export class FileNode {
  constructor(
    /** Pack or blob id: blobs (files too large to pack) hold the whole file at offset 0. */
    readonly store: number,
    readonly offset: number,
    readonly size: number,
    /** Whole seconds since 2020 (see toStoredTime). */
    readonly mtime: number,
    /** Whether `store` names a blob file rather than a pack. */
    readonly blob: boolean,
  ) {}
}
