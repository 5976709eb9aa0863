/**
 * The GraphQL API. The seed's queries, mutations, subscriptions and types are
 * kept with their exact names.
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
    """
    Every product of the category. The categories of one request share one
    limit: LIST_TOO_LONG when their products number more than the query
    service's MAX_LIST_ITEMS (1000 by default) together; page through them with
    productsConnection(filter: { categoryId }).
    """
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

  "Where a page of a connection ends, and the cursors to go on from."
  type PageInfo {
    hasNextPage: Boolean!
    "Whether rows come before this page; false on the first page."
    hasPreviousPage: Boolean!
    "Null for an empty page."
    startCursor: String
    "Pass as after to get the next page; null for an empty page."
    endCursor: String
  }

  enum SortDirection {
    ASC
    DESC
  }

  enum ProductSortField {
    NAME
    PRICE
    CREATED_AT
  }

  enum CategorySortField {
    NAME
    CREATED_AT
  }

  "Ties go by id, so the order is total and cursors are stable."
  input ProductOrder {
    field: ProductSortField! = NAME
    direction: SortDirection! = ASC
  }

  "Ties go by id, so the order is total and cursors are stable."
  input CategoryOrder {
    field: CategorySortField! = NAME
    direction: SortDirection! = ASC
  }

  "Every given condition must hold."
  input ProductFilter {
    categoryId: ID
    "Inclusive; must not exceed maxPrice."
    minPrice: Float
    "Inclusive."
    maxPrice: Float
    "Part of the name, ignoring case; % and _ are taken literally."
    nameContains: String
  }

  input CategoryFilter {
    "Part of the name, ignoring case; % and _ are taken literally."
    nameContains: String
  }

  type ProductEdge {
    "Opaque; pass as after to get the rows that follow this one."
    cursor: String!
    node: Product!
  }

  type ProductConnection {
    edges: [ProductEdge!]!
    "The edges' nodes, for clients that need no cursors."
    nodes: [Product!]!
    pageInfo: PageInfo!
    "Products matching the filter, on every page."
    totalCount: Int!
  }

  type CategoryEdge {
    "Opaque; pass as after to get the rows that follow this one."
    cursor: String!
    node: Category!
  }

  type CategoryConnection {
    edges: [CategoryEdge!]!
    "The edges' nodes, for clients that need no cursors."
    nodes: [Category!]!
    pageInfo: PageInfo!
    "Categories matching the filter, on every page."
    totalCount: Int!
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
    """
    Every category, by name. An unpaged list: LIST_TOO_LONG when there are more
    than the query service's MAX_LIST_ITEMS (1000 by default); page through
    them with categoriesConnection.
    """
    categories: [Category!]!
    """
    Categories whose name contains the term (at most 100 characters), ignoring
    case. An unpaged list, limited as categories is.
    """
    searchCategories(searchTerm: String!): [Category!]!
    "page from 1, perPage from 1 to 100."
    categoriesPaginated(page: Int = 1, perPage: Int = 10): [Category!]!
    categoryStatistics: CategoryStatistics!
    categoryExists(id: ID!): Boolean!

    "Null when there is no such product (or the id is not a UUID)."
    product(id: ID!): Product
    "Exact name, ignoring case; the first match when several products share it."
    productByName(name: String!): Product
    """
    Every product, by name. An unpaged list: LIST_TOO_LONG when there are more
    than the query service's MAX_LIST_ITEMS (1000 by default); page through
    them with productsConnection.
    """
    products: [Product!]!
    """
    Products whose name contains the term (at most 200 characters), ignoring
    case. An unpaged list, limited as products is.
    """
    searchProducts(searchTerm: String!): [Product!]!
    "page from 1, perPage from 1 to 100."
    productsPaginated(page: Int = 1, perPage: Int = 10): [Product!]!
    """
    The category's products. An unpaged list: LIST_TOO_LONG when it has more
    than the query service's MAX_LIST_ITEMS (1000 by default), a limit it
    shares with the other categories whose products the request lists; page
    through them with productsConnection(filter: { categoryId }).
    """
    productsByCategory(categoryId: ID!): [Product!]!
    "Inclusive bounds; minPrice must not exceed maxPrice. An unpaged list, limited as products is."
    productsByPriceRange(minPrice: Float!, maxPrice: Float!): [Product!]!
    productStatistics: ProductStatistics!
    productExists(id: ID!): Boolean!

    """
    Products page by page: first from 0 to 100 (20 by default), after the
    endCursor of the previous page. Cursors name a row, not an offset, so rows
    written between two pages neither repeat nor are skipped.
    """
    productsConnection(
      first: Int = 20
      after: String
      filter: ProductFilter
      orderBy: ProductOrder
    ): ProductConnection!
    "Categories page by page, as productsConnection."
    categoriesConnection(
      first: Int = 20
      after: String
      filter: CategoryFilter
      orderBy: CategoryOrder
    ): CategoryConnection!

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

  """
  Live updates, over Server-Sent Events (POST /graphql with Accept:
  text/event-stream, the GraphQL over SSE protocol). An event is sent once the
  read model shows the change, so a query made on receipt sees it; events of
  one entity come in the order they happened. A deleted entity comes as it was
  last, with the deletion's version and time as version and updatedAt. A
  subscription whose client falls more than 256 events behind ends with
  SUBSCRIBER_TOO_SLOW; subscribe again and read the current state.
  """
  type Subscription {
    categoryCreated: Category!
    "Updates of the category with this id, or of every category without one."
    categoryUpdated(id: ID): Category!
    categoryDeleted: Category!
    productCreated: Product!
    "Updates of the product with this id, or of every product without one."
    productUpdated(id: ID): Product!
    productDeleted: Product!
    """
    The command's status as command(id) shows it: first as it is now (if the
    read side knows it yet), then each new status. Ends after APPLIED or
    REJECTED; a FAILED command may still be replayed, so it stays open.
    """
    commandUpdated(id: ID!): Command!
  }
`;
