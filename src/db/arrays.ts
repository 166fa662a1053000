import type { Sql } from 'postgres';

// Arrays as query parameters. Without its type lookups (fetch_types: false, see
// src/events/connection.ts) postgres.js sends an array as an empty string, so they
// travel as JSON and become arrays in the query.

export const textArray = (sql: Sql, items: string[]) => sql`ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(items)}::text::jsonb))`;

export const uuidArray = (sql: Sql, items: string[]) => sql`ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(items)}::text::jsonb)::uuid)`;
