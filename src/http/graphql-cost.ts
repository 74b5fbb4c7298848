import type { ApolloServerPlugin } from '@apollo/server';
import { costLimitRule, type CostLimitOptions } from '@escape.tech/graphql-armor-cost-limit';
import { GraphQLError, Kind, validate, visit, type DocumentNode, type GraphQLSchema } from 'graphql';
import type { Context } from '../graphql/context.js';
import { HubError } from '../shared/errors.js';
import { PAGE } from '../shared/pagination.js';

/** Roughly the number of values one response may carry: each field costs 1, times the `first` of its list. */
export const MAX_COST = 20_000;

/** graphql-armor's cost rule, flat per field and multiplied by literal `first` and `last` arguments. */
export const COST_OPTIONS: CostLimitOptions = Object.freeze({ maxCost: MAX_COST, objectCost: 1, scalarCost: 1, depthCostFactor: 1 });

const PAGE_ARGUMENTS = new Set(['first', 'last']);

/**
 * The cost rule runs at validation, before variables are known, so `first: $n` would count as 1.
 * For documents that page by variable, this runs the same rule again once the request's
 * variables are in place (an absent or non-integer one counts as the largest page).
 */
export function variablePageCost(schema: GraphQLSchema): ApolloServerPlugin<Context> {
  const pagesByVariable = new WeakMap<DocumentNode, boolean>();
  const rule = costLimitRule({ ...COST_OPTIONS, exposeLimits: true });
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request }) {
          let paged = pagesByVariable.get(document);
          if (paged === undefined) pagesByVariable.set(document, (paged = hasPageVariable(document)));
          if (!paged) return;
          const bound = bindPageVariables(document, request.variables ?? {});
          let refusal: string | undefined;
          try {
            refusal = validate(schema, bound, [rule])[0]?.message;
          } catch (error) {
            // The rule throws its refusal rather than reporting it.
            if (!(error instanceof GraphQLError)) throw error;
            refusal = error.message;
          }
          if (refusal) throw new HubError('BAD_USER_INPUT', refusal, { http: { status: 400 } });
        },
      };
    },
  };
}

function hasPageVariable(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Argument(node) {
      if (PAGE_ARGUMENTS.has(node.name.value) && node.value.kind === Kind.VARIABLE) found = true;
    },
  });
  return found;
}

function bindPageVariables(document: DocumentNode, variables: Record<string, unknown>): DocumentNode {
  return visit(document, {
    Argument(node) {
      if (!PAGE_ARGUMENTS.has(node.name.value) || node.value.kind !== Kind.VARIABLE) return undefined;
      const value = variables[node.value.name.value];
      const size = typeof value === 'number' && Number.isInteger(value) ? value : PAGE.max;
      return { ...node, value: { kind: Kind.INT, value: String(size) } };
    },
  });
}
