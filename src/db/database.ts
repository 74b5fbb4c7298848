/**
 * The database as Kysely sees it: one interface per table, snake_case as in SQL.
 * Rows are mapped to domain shapes in each domain's `*.queries.ts`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Database {}
