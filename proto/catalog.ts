/**
 * TypeScript shapes of the catalog.v1 messages as @grpc/proto-loader presents
 * them (camelCase fields, int32 as number, absent `optional` fields undefined).
 */

export interface CreateCategoryRequest {
  name: string;
  idempotencyKey?: string;
}
export interface UpdateCategoryRequest {
  id: string;
  name: string;
  idempotencyKey?: string;
  /** Apply only if the category is at this version; see command.proto. */
  expectedVersion?: number;
}
export interface DeleteCategoryRequest {
  id: string;
  idempotencyKey?: string;
  /** Apply only if the category is at this version; see command.proto. */
  expectedVersion?: number;
}
export interface CreateProductRequest {
  name: string;
  price: string;
  categoryId: string;
  idempotencyKey?: string;
}
export interface UpdateProductRequest {
  id: string;
  name?: string;
  price?: string;
  categoryId?: string;
  idempotencyKey?: string;
  /** Apply only if the product is at this version; see command.proto. */
  expectedVersion?: number;
}
export interface DeleteProductRequest {
  id: string;
  idempotencyKey?: string;
  /** Apply only if the product is at this version; see command.proto. */
  expectedVersion?: number;
}

export interface CommandReceipt {
  commandId: string;
  type: string;
  aggregateId: string;
  status: "ACCEPTED";
  acceptedAt: string;
}

export interface CommandRequests {
  CreateCategory: CreateCategoryRequest;
  UpdateCategory: UpdateCategoryRequest;
  DeleteCategory: DeleteCategoryRequest;
  CreateProduct: CreateProductRequest;
  UpdateProduct: UpdateProductRequest;
  DeleteProduct: DeleteProductRequest;
}

export interface Empty {
  [key: string]: never;
}
export interface GetByIdsRequest {
  ids: string[];
}
export interface Page {
  page?: number;
  perPage?: number;
}
export interface ListCategoriesRequest {
  name?: string;
  nameContains?: string;
  page?: Page;
}
export interface ListProductsRequest {
  name?: string;
  nameContains?: string;
  categoryIds?: string[];
  minPrice?: string;
  maxPrice?: string;
  page?: Page;
}

export interface Category {
  id: string;
  name: string;
  version: number;
  productCount: number;
  createdAt: string;
  updatedAt: string;
}
export interface CategoryList {
  categories: Category[];
  totalCount: number;
}
export interface Product {
  id: string;
  name: string;
  price: string;
  categoryId: string;
  categoryName: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}
export interface ProductList {
  products: Product[];
  totalCount: number;
}
export interface CategoryStatistics {
  totalCount: number;
  withProductsCount: number;
  emptyCount: number;
}
export interface ProductStatistics {
  totalCount: number;
  averagePrice: string;
  totalValue: string;
  minPrice: string;
  maxPrice: string;
}

/** The end of a keyset page, as Relay's PageInfo has it; cursors empty for an empty page. */
export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string;
  endCursor: string;
}
/** Which way a keyset page runs; "" means ASC. */
export type SortDirection = "" | "ASC" | "DESC";
export interface ProductFilter {
  categoryId?: string;
  minPrice?: string;
  maxPrice?: string;
  nameContains?: string;
}
export interface PageProductsRequest {
  /** 0 to 100; absent means 20. */
  first?: number;
  /** A cursor of the previous page; "" or absent for the first page. */
  after?: string;
  filter?: ProductFilter | null;
  /** "" means NAME. */
  sort?: "" | "NAME" | "PRICE" | "CREATED_AT";
  direction?: SortDirection;
}
export interface ProductEdge {
  cursor: string;
  node: Product;
}
export interface ProductPage {
  edges: ProductEdge[];
  pageInfo: PageInfo;
  totalCount: number;
}
export interface CategoryFilter {
  nameContains?: string;
}
export interface PageCategoriesRequest {
  /** 0 to 100; absent means 20. */
  first?: number;
  /** A cursor of the previous page; "" or absent for the first page. */
  after?: string;
  filter?: CategoryFilter | null;
  /** "" means NAME. */
  sort?: "" | "NAME" | "CREATED_AT";
  direction?: SortDirection;
}
export interface CategoryEdge {
  cursor: string;
  node: Category;
}
export interface CategoryPage {
  edges: CategoryEdge[];
  pageInfo: PageInfo;
  totalCount: number;
}

/**
 * Where a command is in its life, as query.proto describes it. PENDING is
 * never stored: WaitForCommand answers it for a command the read side has not
 * heard of.
 */
export type CommandState = "PENDING" | "ACCEPTED" | "APPLIED" | "REJECTED" | "FAILED";

/** The states a command does not leave by itself (an operator may replay a FAILED one). */
export const finalCommandStates: readonly CommandState[] = ["APPLIED", "REJECTED", "FAILED"];

export interface GetCommandRequest {
  commandId: string;
}
export interface WaitForCommandRequest {
  commandId: string;
  timeoutMs: number;
}
export interface CommandStatus {
  commandId: string;
  type: string;
  aggregateId: string;
  status: CommandState;
  code: string;
  message: string;
  acceptedAt: string;
  /** Empty until the command is handled. */
  handledAt: string;
  /** For a VERSION_CONFLICT rejection: the version the entity is at. */
  currentVersion?: number;
}

export interface QueryRequests {
  GetCategories: GetByIdsRequest;
  ListCategories: ListCategoriesRequest;
  GetCategoryStatistics: Empty;
  GetProducts: GetByIdsRequest;
  ListProducts: ListProductsRequest;
  GetProductStatistics: Empty;
  PageProducts: PageProductsRequest;
  PageCategories: PageCategoriesRequest;
  GetCommand: GetCommandRequest;
  WaitForCommand: WaitForCommandRequest;
}

export interface QueryResponses {
  GetCategories: CategoryList;
  ListCategories: CategoryList;
  GetCategoryStatistics: CategoryStatistics;
  GetProducts: ProductList;
  ListProducts: ProductList;
  GetProductStatistics: ProductStatistics;
  PageProducts: ProductPage;
  PageCategories: CategoryPage;
  GetCommand: CommandStatus;
  WaitForCommand: CommandStatus;
}
