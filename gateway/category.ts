import type { Category, CategoryStatistics, CommandStatus } from "@catalog/proto";
import {
  type CatalogCommand,
  executeCommand,
  expectedVersionOf,
  idempotencyOf,
  readApplied,
  submitCommand,
} from "./command.ts";
import { type ConnectionArgs, connectionOf, pageRequestOf } from "./connection.ts";
import type { GatewayContext } from "./context.ts";
import { MAX_CATEGORY_SEARCH_LENGTH, pageOf, searchTermOf, uuidOf } from "./validation.ts";

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
  const nameContains = searchTermOf(args.searchTerm, MAX_CATEGORY_SEARCH_LENGTH);
  return (await context.queries.ListCategories({ nameContains })).categories;
}

async function categoriesPaginated(
  _: unknown,
  args: { page?: number | null; perPage?: number | null },
  context: GatewayContext,
) {
  return (await context.queries.ListCategories({ page: pageOf(args) })).categories;
}

type CategoriesConnectionArgs = ConnectionArgs<"NAME" | "CREATED_AT"> & {
  filter?: { nameContains?: string | null } | null;
};

async function categoriesConnection(
  _: unknown,
  args: CategoriesConnectionArgs,
  context: GatewayContext,
) {
  const nameContains = args.filter?.nameContains;
  const page = await context.queries.PageCategories({
    ...pageRequestOf(args),
    filter: nameContains == null ? {} : { nameContains },
  });
  return connectionOf(page);
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
function readCategory(context: GatewayContext, status: CommandStatus): Promise<Category> {
  return readApplied(status, () => context.loaders.categoryById.load(status.aggregateId));
}

type CreateCategoryArgs = Mutation<{ input: { name: string } }>;
type UpdateCategoryArgs = Mutation<
  { input: { id: string; name: string; expectedVersion?: number | null } }
>;
type DeleteCategoryArgs = Mutation<{ id: string; expectedVersion?: number | null }>;

/** The commands of the category mutations, shared by the waiting and the submit ones. */
function createCategoryCommand(args: CreateCategoryArgs): CatalogCommand {
  return {
    type: "CreateCategory",
    request: { name: args.input.name, ...idempotencyOf(args.idempotencyKey) },
  };
}

function updateCategoryCommand(args: UpdateCategoryArgs): CatalogCommand {
  return {
    type: "UpdateCategory",
    request: {
      id: args.input.id,
      name: args.input.name,
      ...expectedVersionOf(args.input.expectedVersion),
      ...idempotencyOf(args.idempotencyKey),
    },
  };
}

function deleteCategoryCommand(args: DeleteCategoryArgs): CatalogCommand {
  return {
    type: "DeleteCategory",
    request: {
      id: args.id,
      ...expectedVersionOf(args.expectedVersion),
      ...idempotencyOf(args.idempotencyKey),
    },
  };
}

async function createCategory(
  _: unknown,
  args: CreateCategoryArgs,
  context: GatewayContext,
): Promise<Category> {
  const status = await executeCommand(context, createCategoryCommand(args));
  return await readCategory(context, status);
}

async function updateCategory(
  _: unknown,
  args: UpdateCategoryArgs,
  context: GatewayContext,
): Promise<Category> {
  const status = await executeCommand(context, updateCategoryCommand(args));
  return await readCategory(context, status);
}

async function deleteCategory(
  _: unknown,
  args: DeleteCategoryArgs,
  context: GatewayContext,
): Promise<boolean> {
  await executeCommand(context, deleteCategoryCommand(args));
  return true;
}

function submitCreateCategory(_: unknown, args: CreateCategoryArgs, context: GatewayContext) {
  return submitCommand(context, createCategoryCommand(args));
}

function submitUpdateCategory(_: unknown, args: UpdateCategoryArgs, context: GatewayContext) {
  return submitCommand(context, updateCategoryCommand(args));
}

function submitDeleteCategory(_: unknown, args: DeleteCategoryArgs, context: GatewayContext) {
  return submitCommand(context, deleteCategoryCommand(args));
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
    categoriesConnection,
  },
  Mutation: {
    createCategory,
    updateCategory,
    deleteCategory,
    submitCreateCategory,
    submitUpdateCategory,
    submitDeleteCategory,
  },
  Category: { products },
};
