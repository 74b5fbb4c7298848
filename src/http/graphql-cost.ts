import type { ApolloServerPlugin } from '@apollo/server';
import { costLimitRule, type CostLimitOptions } from '@escape.tech/graphql-armor-cost-limit';
import {
  GraphQLError,
  Kind,
  TypeInfo,
  getNamedType,
  validate,
  visit,
  visitWithTypeInfo,
  type ArgumentNode,
  type DocumentNode,
  type GraphQLField,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import type { Context } from '../graphql/context.js';
import { HubError } from '../shared/errors.js';
import { AUDIENCE_PAGE, PAGE } from '../shared/pagination.js';

/** Roughly the number of values one response may carry: each field costs 1, times the `first` of its list. */
export const MAX_COST = 20_000;

/** graphql-armor's cost rule, flat per field and multiplied by literal `first` and `last` arguments. */
export const COST_OPTIONS: CostLimitOptions = Object.freeze({ maxCost: MAX_COST, objectCost: 1, scalarCost: 1, depthCostFactor: 1 });

const PAGE_ARGUMENTS = new Set(['first', 'last']);

/**
 * The page a list's resolver returns when `first` is left out or null: audiences page by
 * AUDIENCE_PAGE (both `audience` and `SavedAudience.members` go through audience.service), every
 * other list by `pageSize` in src/shared/pagination.ts.
 */
const DEFAULT_PAGE_BY_TYPE: Readonly<Record<string, number>> = Object.freeze({ AudienceConnection: AUDIENCE_PAGE.default });

/** What a document needs beyond the count graphql-armor made at validation, kept per document. */
type CostPlan =
  /** No page variable: the cost is known once, from the document with left-out pages filled in. */
  | { readonly byVariable: false; readonly refusal: string | undefined }
  /** Counted per request, once the variables are bound into `document` (left-out pages filled in). */
  | { readonly byVariable: true; readonly document: DocumentNode };

/**
 * The cost rule runs at validation, before variables are known, and counts a list whose `first`
 * is a variable, null or left out as 1. This counts such documents again before they run: a
 * variable as the request gives it (an absent or non-integer one counts as the largest page), a
 * null or left-out `first` as the page its resolver returns then, so a document costs what the
 * same document with `first: <default>` costs.
 */
export function pageCost(schema: GraphQLSchema): ApolloServerPlugin<Context> {
  // Apollo reuses the parsed document of a query it has seen: the plan is made once per document.
  const plans = new WeakMap<DocumentNode, CostPlan>();
  const rule = costLimitRule({ ...COST_OPTIONS, exposeLimits: true });
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request }) {
          let plan = plans.get(document);
          if (plan === undefined) plans.set(document, (plan = planCost(schema, rule, document)));
          const refusal = plan.byVariable ? refusalOf(schema, rule, bindPageVariables(plan.document, request.variables ?? {})) : plan.refusal;
          if (refusal) throw new HubError('BAD_USER_INPUT', refusal, { http: { status: 400 } });
        },
      };
    },
  };
}

function planCost(schema: GraphQLSchema, rule: ValidationRule, document: DocumentNode): CostPlan {
  const typeInfo = new TypeInfo(schema);
  let byVariable = false;
  let filled = false;
  const costed = visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const field = typeInfo.getFieldDef();
        const pageArgument = field?.args.find((arg) => PAGE_ARGUMENTS.has(arg.name));
        if (!field || !pageArgument) return undefined;
        const given = node.arguments?.find((arg) => PAGE_ARGUMENTS.has(arg.name.value));
        if (given?.value.kind === Kind.VARIABLE) byVariable = true;
        if (given && given.value.kind !== Kind.NULL) return undefined;
        filled = true;
        const size: ArgumentNode = { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: pageArgument.name }, value: { kind: Kind.INT, value: String(defaultPageOf(field)) } };
        return { ...node, arguments: [...(node.arguments ?? []).filter((arg) => arg !== given), size] };
      },
    }),
  );
  if (byVariable) return { byVariable, document: costed };
  // Without a filled-in page, graphql-armor's count at validation was the whole count.
  return { byVariable, refusal: filled ? refusalOf(schema, rule, costed) : undefined };
}

function defaultPageOf(field: GraphQLField<unknown, unknown>): number {
  return DEFAULT_PAGE_BY_TYPE[getNamedType(field.type).name] ?? PAGE.default;
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

/** The cost rule's refusal of `document`, if it refuses it. */
function refusalOf(schema: GraphQLSchema, rule: ValidationRule, document: DocumentNode): string | undefined {
  try {
    return validate(schema, document, [rule])[0]?.message;
  } catch (error) {
    // The rule throws its refusal rather than reporting it.
    if (!(error instanceof GraphQLError)) throw error;
    return error.message;
  }
}
