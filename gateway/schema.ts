/**
 * The GraphQL API. The seed's queries, mutations and types are kept with their
 * exact names; subscriptions are left out until they are delivered for real.
 */
export const typeDefs = /* GraphQL */ `
  "A group of products. Its name is unique, ignoring case."
  type Category {
    id: ID!
    name: String!
    "ISO-8601."
    createdAt: String!
    "ISO-8601."
    updatedAt: String!
    "Starts at 1 and grows with every change."
    version: Int!
    productCount: Int!
    products: [Product!]!
  }

  type Product {
    id: ID!
    name: String!
    "In currency units, with at most two decimals."
    price: Float!
    categoryId: ID!
    category: Category
    "ISO-8601."
    createdAt: String!
    "ISO-8601."
    updatedAt: String!
    "Starts at 1 and grows with every change."
    version: Int!
  }

  type CategoryStatistics {
    totalCount: Int!
    hasCategories: Boolean!
    withProductsCount: Int!
    emptyCount: Int!
  }

  type ProductStatistics {
    totalCount: Int!
    hasProducts: Boolean!
    "Null when there are no products."
    averagePrice: Float
    totalValue: Float!
    "Null when there are no products."
    minPrice: Float
    "Null when there are no products."
    maxPrice: Float
  }

  "Where a command is in its life. ACCEPTED is the only status that is not final."
  enum CommandStatus {
    "Durably queued; not handled yet."
    ACCEPTED
    "Applied, and its effects are readable."
    APPLIED
    "Refused by a domain rule; see code and message."
    REJECTED
    "Could not be processed and was set aside; message says why. An operator may replay it, after which it can still be APPLIED."
    FAILED
  }

  "A write request, as the command service accepted it and the worker handled it."
  type Command {
    id: ID!
    "CreateCategory, UpdateCategory, DeleteCategory, CreateProduct, UpdateProduct or DeleteProduct."
    type: String!
    "The id of the category or product the command addresses."
    aggregateId: ID!
    status: CommandStatus!
    "Why a REJECTED command was refused (CATEGORY_NAME_TAKEN, NOT_FOUND, CATEGORY_NOT_EMPTY, VERSION_CONFLICT, IDEMPOTENCY_KEY_REUSED, ...); DEAD_LETTERED for a FAILED one."
    code: String
    message: String
    "For VERSION_CONFLICT: the version the entity is at."
    currentVersion: Int
    "ISO-8601."
    acceptedAt: String!
    "ISO-8601; null until the command is handled."
    handledAt: String
  }

  "What a submit mutation answers at once: the command is durably queued. Follow it with command(id)."
  type CommandReceipt {
    commandId: ID!
    "CreateCategory, UpdateCategory, DeleteCategory, CreateProduct, UpdateProduct or DeleteProduct."
    type: String!
    "The id of the category or product the command addresses; for a create, the new entity's id."
    aggregateId: ID!
    "Always ACCEPTED."
    status: CommandStatus!
    "ISO-8601."
    acceptedAt: String!
  }

  type Query {
    "Null when there is no such category (or the id is not a UUID)."
    category(id: ID!): Category
    "Exact name, ignoring case."
    categoryByName(name: String!): Category
    categories: [Category!]!
    "Categories whose name contains the term, ignoring case."
    searchCategories(searchTerm: String!): [Category!]!
    "page from 1, perPage from 1 to 100."
    categoriesPaginated(page: Int = 1, perPage: Int = 10): [Category!]!
    categoryStatistics: CategoryStatistics!
    categoryExists(id: ID!): Boolean!

    "Null when there is no such product (or the id is not a UUID)."
    product(id: ID!): Product
    "Exact name, ignoring case; the first match when several products share it."
    productByName(name: String!): Product
    products: [Product!]!
    "Products whose name contains the term, ignoring case."
    searchProducts(searchTerm: String!): [Product!]!
    "page from 1, perPage from 1 to 100."
    productsPaginated(page: Int = 1, perPage: Int = 10): [Product!]!
    productsByCategory(categoryId: ID!): [Product!]!
    "Inclusive bounds; minPrice must not exceed maxPrice."
    productsByPriceRange(minPrice: Float!, maxPrice: Float!): [Product!]!
    productStatistics: ProductStatistics!
    productExists(id: ID!): Boolean!

    "A command by its id (from a receipt, or a COMMAND_PENDING error); null if unknown."
    command(id: ID!): Command
  }

  input CreateCategoryInput {
    name: String!
  }

  input UpdateCategoryInput {
    id: ID!
    name: String!
    "Apply only if the category is still at this version; otherwise VERSION_CONFLICT."
    expectedVersion: Int
  }

  input CreateProductInput {
    name: String!
    price: Float!
    categoryId: ID!
  }

  "Only the fields given change."
  input UpdateProductInput {
    id: ID!
    name: String
    price: Float
    categoryId: ID
    "Apply only if the product is still at this version; otherwise VERSION_CONFLICT."
    expectedVersion: Int
  }

  """
  Each mutation sends one command. The seed's six answer once its effects are
  readable. A refused command fails with the refusal's code (CATEGORY_NAME_TAKEN,
  NOT_FOUND, CATEGORY_NOT_FOUND, CATEGORY_NOT_EMPTY, VERSION_CONFLICT with
  currentVersion, ...) and its commandId; one that could not be processed fails
  with COMMAND_FAILED; one still queued after COMMAND_WAIT_TIMEOUT_MS fails with
  COMMAND_PENDING and its commandId.
  The submit mutations take the same arguments but answer at once with the
  command's receipt; follow it with command(id).
  An expectedVersion makes an update or delete apply only to the version the
  client has seen (Category.version, Product.version).
  The same idempotencyKey makes a retry safe: it cannot apply the command twice;
  the key reused for a different request fails with IDEMPOTENCY_KEY_REUSED.
  """
  type Mutation {
    createCategory(input: CreateCategoryInput!, idempotencyKey: String): Category!
    updateCategory(input: UpdateCategoryInput!, idempotencyKey: String): Category!
    deleteCategory(id: ID!, expectedVersion: Int, idempotencyKey: String): Boolean!
    createProduct(input: CreateProductInput!, idempotencyKey: String): Product!
    updateProduct(input: UpdateProductInput!, idempotencyKey: String): Product!
    deleteProduct(id: ID!, expectedVersion: Int, idempotencyKey: String): Boolean!

    submitCreateCategory(input: CreateCategoryInput!, idempotencyKey: String): CommandReceipt!
    submitUpdateCategory(input: UpdateCategoryInput!, idempotencyKey: String): CommandReceipt!
    submitDeleteCategory(id: ID!, expectedVersion: Int, idempotencyKey: String): CommandReceipt!
    submitCreateProduct(input: CreateProductInput!, idempotencyKey: String): CommandReceipt!
    submitUpdateProduct(input: UpdateProductInput!, idempotencyKey: String): CommandReceipt!
    submitDeleteProduct(id: ID!, expectedVersion: Int, idempotencyKey: String): CommandReceipt!
  }
`;
