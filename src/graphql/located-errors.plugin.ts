import SchemaBuilder, { BasePlugin, isThenable, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import { defaultFieldResolver, type GraphQLFieldResolver } from 'graphql';
import { locatedError } from './located-error.js';

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      locatedErrors: LocatedErrorsPlugin<Types>;
    }
  }
}

/**
 * Locates what a resolver throws or rejects with as graphql-js would (`locatedError`), with the
 * line breaks of the document found once per request: graphql-js counts them from the start of
 * the document for each error, and a query can make an error of each of thousands of values (a
 * cursor refused under each of them), each under as many blank lines as the body holds.
 */
export class LocatedErrorsPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    _fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    // A field read from its parent as it is (`t.expose*`) throws nothing of its own, and left
    // unwrapped it has no resolver at all, which graphql-jit compiles to a property read.
    if (resolver === defaultFieldResolver) return resolver;
    return (parent, args, context: object, info) => {
      let result: unknown;
      try {
        result = resolver(parent, args, context, info);
      } catch (error) {
        throw locatedError(context, info, error);
      }
      return isThenable(result)
        ? result.then(undefined, (error: unknown) => {
            throw locatedError(context, info, error);
          })
        : result;
    };
  }
}

const pluginName = 'locatedErrors';
SchemaBuilder.registerPlugin(pluginName, LocatedErrorsPlugin);

/** The name to list among the builder's plugins, as Pothos plugins export theirs. */
export default pluginName;
