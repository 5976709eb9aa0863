import type { Category, CategoryStatistics, CommandStatus } from "@catalog/proto";
import { executeCommand, idempotencyOf, vanished } from "./command.ts";
import type { GatewayContext } from "./context.ts";
import { pageOf, uuidOf } from "./validation.ts";

type Mutation<Args> = Args & { idempotencyKey?: string | null };

async function category(_: unknown, args: { id: string }, context: GatewayContext) {
  const id = uuidOf(args.id);
  if (!id) return null;
  return await context.loaders.categoryById.load(id) ?? null;
}

async function categoryByName(_: unknown, args: { name: string }, context: GatewayContext) {
  const { categories } = await context.queries.ListCategories({
    name: args.name,
    page: { page: 1, perPage: 1 },
  });
  return categories[0] ?? null;
}

async function categories(_: unknown, _args: unknown, context: GatewayContext) {
  return (await context.queries.ListCategories({})).categories;
}

async function searchCategories(
  _: unknown,
  args: { searchTerm: string },
  context: GatewayContext,
) {
  return (await context.queries.ListCategories({ nameContains: args.searchTerm })).categories;
}

async function categoriesPaginated(
  _: unknown,
  args: { page?: number | null; perPage?: number | null },
  context: GatewayContext,
) {
  return (await context.queries.ListCategories({ page: pageOf(args) })).categories;
}

async function categoryStatistics(_: unknown, _args: unknown, context: GatewayContext) {
  const statistics: CategoryStatistics = await context.queries.GetCategoryStatistics({});
  return {
    totalCount: statistics.totalCount,
    hasCategories: statistics.totalCount > 0,
    withProductsCount: statistics.withProductsCount,
    emptyCount: statistics.emptyCount,
  };
}

async function categoryExists(_: unknown, args: { id: string }, context: GatewayContext) {
  const id = uuidOf(args.id);
  return id !== undefined && await context.loaders.categoryById.load(id) !== undefined;
}

async function products(parent: Category, _args: unknown, context: GatewayContext) {
  return await context.loaders.productsByCategoryId.load(parent.id) ?? [];
}

/** The category a command just applied to, as the read side now shows it. */
async function readCategory(context: GatewayContext, status: CommandStatus): Promise<Category> {
  const category = await context.loaders.categoryById.load(status.aggregateId);
  if (!category) throw vanished(status);
  return category;
}

async function createCategory(
  _: unknown,
  args: Mutation<{ input: { name: string } }>,
  context: GatewayContext,
): Promise<Category> {
  const status = await executeCommand(context, {
    type: "CreateCategory",
    request: {
      name: args.input.name,
      ...idempotencyOf(args.idempotencyKey),
    },
  });
  return await readCategory(context, status);
}

async function updateCategory(
  _: unknown,
  args: Mutation<{ input: { id: string; name: string } }>,
  context: GatewayContext,
): Promise<Category> {
  const status = await executeCommand(context, {
    type: "UpdateCategory",
    request: {
      id: args.input.id,
      name: args.input.name,
      ...idempotencyOf(args.idempotencyKey),
    },
  });
  return await readCategory(context, status);
}

async function deleteCategory(
  _: unknown,
  args: Mutation<{ id: string }>,
  context: GatewayContext,
): Promise<boolean> {
  await executeCommand(context, {
    type: "DeleteCategory",
    request: {
      id: args.id,
      ...idempotencyOf(args.idempotencyKey),
    },
  });
  return true;
}

/** Category queries, mutations and the Category type's fields. */
export const categoryResolvers = {
  Query: {
    category,
    categoryByName,
    categories,
    searchCategories,
    categoriesPaginated,
    categoryStatistics,
    categoryExists,
  },
  Mutation: { createCategory, updateCategory, deleteCategory },
  Category: { products },
};
