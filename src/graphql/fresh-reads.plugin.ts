import SchemaBuilder, { BasePlugin, contextCacheSymbol, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      freshReads: FreshReadsPlugin<Types>;
    }
  }
}

/**
 * Drops every read cached for this request (its DataLoaders and per-request decisions, all
 * Pothos context caches) once each mutation field has run, whether it changed something or
 * failed. GraphQL runs a mutation's fields one after another, each with its selection, so what a
 * field's payload reads, and every later field, sees the changes made before it, never a row
 * loaded ahead of them.
 */
export class FreshReadsPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    if (fieldConfig.kind !== 'Mutation') return resolver;
    return async (parent, args, context: object, info) => {
      try {
        return await resolver(parent, args, context, info);
      } finally {
        // A context cache is keyed by this object when the context holds one: a new one starts every cache afresh.
        Object.assign(context, { [contextCacheSymbol]: {} });
      }
    };
  }
}

const pluginName = 'freshReads';
SchemaBuilder.registerPlugin(pluginName, FreshReadsPlugin);

/** The name to list among the builder's plugins, as Pothos plugins export theirs. */
export default pluginName;
