import type {
  Category,
  CommandStatus,
  Product,
  ProductFilter,
  UpdateProductRequest,
} from "@catalog/proto";
import { type FieldNode, type GraphQLResolveInfo, Kind, type SelectionSetNode } from "graphql";
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
import {
  decimalOf,
  floatOf,
  MAX_PRODUCT_SEARCH_LENGTH,
  pageOf,
  priceRangeOf,
  searchTermOf,
  uuidOf,
} from "./validation.ts";

type Mutation<Args> = Args & { idempotencyKey?: string | null };

async function product(_: unknown, args: { id: string }, context: GatewayContext) {
  const id = uuidOf(args.id);
  if (!id) return null;
  return await context.loaders.productById.load(id) ?? null;
}

async function productByName(_: unknown, args: { name: string }, context: GatewayContext) {
  const { products } = await context.queries.ListProducts({
    name: args.name,
    page: { page: 1, perPage: 1 },
  });
  return products[0] ?? null;
}

async function products(_: unknown, _args: unknown, context: GatewayContext) {
  return (await context.queries.ListProducts({})).products;
}

async function searchProducts(_: unknown, args: { searchTerm: string }, context: GatewayContext) {
  const nameContains = searchTermOf(args.searchTerm, MAX_PRODUCT_SEARCH_LENGTH);
  return (await context.queries.ListProducts({ nameContains })).products;
}

async function productsPaginated(
  _: unknown,
  args: { page?: number | null; perPage?: number | null },
  context: GatewayContext,
) {
  return (await context.queries.ListProducts({ page: pageOf(args) })).products;
}

async function productsByCategory(
  _: unknown,
  args: { categoryId: string },
  context: GatewayContext,
) {
  const categoryId = uuidOf(args.categoryId);
  if (!categoryId) return [];
  return await context.loaders.productsByCategoryId.load(categoryId) ?? [];
}

async function productsByPriceRange(
  _: unknown,
  args: { minPrice: number; maxPrice: number },
  context: GatewayContext,
) {
  return (await context.queries.ListProducts(priceRangeOf(args))).products;
}

type ProductsConnectionArgs = ConnectionArgs<"NAME" | "PRICE" | "CREATED_AT"> & {
  filter?: {
    categoryId?: string | null;
    minPrice?: number | null;
    maxPrice?: number | null;
    nameContains?: string | null;
  } | null;
};

/** The filter as the query service takes it: absent for null, prices as decimal strings. */
function productFilterOf(filter: ProductsConnectionArgs["filter"]): ProductFilter {
  const request: ProductFilter = {};
  if (filter?.categoryId != null) request.categoryId = filter.categoryId;
  if (filter?.minPrice != null) request.minPrice = decimalOf(filter.minPrice);
  if (filter?.maxPrice != null) request.maxPrice = decimalOf(filter.maxPrice);
  if (filter?.nameContains != null) request.nameContains = filter.nameContains;
  return request;
}

async function productsConnection(
  _: unknown,
  args: ProductsConnectionArgs,
  context: GatewayContext,
) {
  const page = await context.queries.PageProducts({
    ...pageRequestOf(args),
    filter: productFilterOf(args.filter),
  });
  return connectionOf(page);
}

async function productStatistics(_: unknown, _args: unknown, context: GatewayContext) {
  const statistics = await context.queries.GetProductStatistics({});
  return {
    totalCount: statistics.totalCount,
    hasProducts: statistics.totalCount > 0,
    averagePrice: floatOf(statistics.averagePrice),
    totalValue: floatOf(statistics.totalValue) ?? 0,
    minPrice: floatOf(statistics.minPrice),
    maxPrice: floatOf(statistics.maxPrice),
  };
}

async function productExists(_: unknown, args: { id: string }, context: GatewayContext) {
  const id = uuidOf(args.id);
  return id !== undefined && await context.loaders.productById.load(id) !== undefined;
}

function price(parent: Product): number {
  return Number(parent.price);
}

/** The Category fields a product's row carries: the read model keeps category_name current. */
const rowCategoryFields = new Set(["id", "name", "__typename"]);
/** Per field node of a parsed (and cached) document: whether it asks only for rowCategoryFields. */
const asksOnlyRowFields = new WeakMap<FieldNode, boolean>();

function selectsOnlyRowFields(
  selectionSet: SelectionSetNode,
  info: GraphQLResolveInfo,
  spread: Set<string>,
): boolean {
  return selectionSet.selections.every((selection) => {
    if (selection.kind === Kind.FIELD) return rowCategoryFields.has(selection.name.value);
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      return selectsOnlyRowFields(selection.selectionSet, info, spread);
    }
    const name = selection.name.value;
    const fragment = info.fragments[name];
    if (!fragment) return false;
    if (spread.has(name)) return true;
    spread.add(name);
    return selectsOnlyRowFields(fragment.selectionSet, info, spread);
  });
}

/** Whether this Category field asks for nothing but what a product's row carries. */
function onlyRowFields(info: GraphQLResolveInfo): boolean {
  const [first] = info.fieldNodes;
  if (!first) return false;
  let only = asksOnlyRowFields.get(first);
  if (only === undefined) {
    const spread = new Set<string>();
    only = info.fieldNodes.every((node) =>
      !node.selectionSet || selectsOnlyRowFields(node.selectionSet, info, spread)
    );
    asksOnlyRowFields.set(first, only);
  }
  return only;
}

/**
 * A product's category. In a query, its id and name come with the product: the
 * projector renames a category in product_view in the transaction that
 * renames it in category_view, so they are as current as the product itself.
 * Any other field, and any subscription event, costs one GetCategories call
 * for all the products of the request (or event).
 */
function category(
  parent: Product,
  _args: unknown,
  context: GatewayContext,
  info: GraphQLResolveInfo,
): { id: string; name: string } | Promise<Category | null> {
  const subscription = info.operation.operation === "subscription";
  // Answered synchronously: a promise per product would cost the executor more than the field.
  if (!subscription && parent.categoryName && onlyRowFields(info)) {
    return { id: parent.categoryId, name: parent.categoryName };
  }
  return context.loaders.categoryById.load(parent.categoryId).then((found) => found ?? null);
}

/** The product a command just applied to, as the read side now shows it. */
function readProduct(context: GatewayContext, status: CommandStatus): Promise<Product> {
  return readApplied(status, async () => {
    const { products } = await context.queries.GetProducts({ ids: [status.aggregateId] });
    return products[0];
  });
}

type CreateProductArgs = Mutation<{ input: { name: string; price: number; categoryId: string } }>;

interface UpdateProductInput {
  id: string;
  name?: string | null;
  price?: number | null;
  categoryId?: string | null;
  expectedVersion?: number | null;
}
type UpdateProductArgs = Mutation<{ input: UpdateProductInput }>;
type DeleteProductArgs = Mutation<{ id: string; expectedVersion?: number | null }>;

/** The commands of the product mutations, shared by the waiting and the submit ones. */
function createProductCommand(args: CreateProductArgs): CatalogCommand {
  return {
    type: "CreateProduct",
    request: {
      name: args.input.name,
      price: decimalOf(args.input.price),
      categoryId: args.input.categoryId,
      ...idempotencyOf(args.idempotencyKey),
    },
  };
}

function updateProductCommand(args: UpdateProductArgs): CatalogCommand {
  const { input } = args;
  // Null and absent both mean "leave as is": no field of a product can be cleared.
  const request: UpdateProductRequest = {
    id: input.id,
    ...expectedVersionOf(input.expectedVersion),
    ...idempotencyOf(args.idempotencyKey),
  };
  if (input.name != null) request.name = input.name;
  if (input.price != null) request.price = decimalOf(input.price);
  if (input.categoryId != null) request.categoryId = input.categoryId;
  return { type: "UpdateProduct", request };
}

function deleteProductCommand(args: DeleteProductArgs): CatalogCommand {
  return {
    type: "DeleteProduct",
    request: {
      id: args.id,
      ...expectedVersionOf(args.expectedVersion),
      ...idempotencyOf(args.idempotencyKey),
    },
  };
}

async function createProduct(
  _: unknown,
  args: CreateProductArgs,
  context: GatewayContext,
): Promise<Product> {
  const status = await executeCommand(context, createProductCommand(args));
  return await readProduct(context, status);
}

async function updateProduct(
  _: unknown,
  args: UpdateProductArgs,
  context: GatewayContext,
): Promise<Product> {
  const status = await executeCommand(context, updateProductCommand(args));
  return await readProduct(context, status);
}

async function deleteProduct(
  _: unknown,
  args: DeleteProductArgs,
  context: GatewayContext,
): Promise<boolean> {
  await executeCommand(context, deleteProductCommand(args));
  return true;
}

function submitCreateProduct(_: unknown, args: CreateProductArgs, context: GatewayContext) {
  return submitCommand(context, createProductCommand(args));
}

function submitUpdateProduct(_: unknown, args: UpdateProductArgs, context: GatewayContext) {
  return submitCommand(context, updateProductCommand(args));
}

function submitDeleteProduct(_: unknown, args: DeleteProductArgs, context: GatewayContext) {
  return submitCommand(context, deleteProductCommand(args));
}

/** Product queries, mutations and the Product type's fields. */
export const productResolvers = {
  Query: {
    product,
    productByName,
    products,
    searchProducts,
    productsPaginated,
    productsByCategory,
    productsByPriceRange,
    productStatistics,
    productExists,
    productsConnection,
  },
  Mutation: {
    createProduct,
    updateProduct,
    deleteProduct,
    submitCreateProduct,
    submitUpdateProduct,
    submitDeleteProduct,
  },
  Product: { price, category },
};
