import type { CodegenConfig } from '@graphql-codegen/cli';
import { printSchema } from 'graphql';
import { schema } from './src/graphql/schema.js';

/**
 * Prints the code-first schema to schema/schema.graphql and types the operations the tests send.
 * `npm run codegen` writes both; `npm run schema:check` fails when either is stale.
 */
const config: CodegenConfig = {
  schema: printSchema(schema),
  documents: ['test/operations/**/*.graphql'],
  ignoreNoDocuments: true,
  generates: {
    'schema/schema.graphql': { plugins: ['schema-ast'], config: { includeDirectives: false } },
    'test/generated/graphql.ts': {
      plugins: ['typescript', 'typescript-operations', 'typed-document-node'],
      config: { useTypeImports: true, enumsAsTypes: true, avoidOptionals: false, scalars: { DateTime: 'string', Date: 'string', SafeInt: 'number' } },
    },
  },
};

export default config;
