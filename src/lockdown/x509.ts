// The single entry point to @peculiar/x509: guarantees the Reflect metadata shim loads first.
import './reflect-metadata-shim.ts';
export * from '@peculiar/x509';
