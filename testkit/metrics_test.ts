import assert from "node:assert/strict";
import { parseMetrics } from "./metrics.ts";

Deno.test("parseMetrics() reads counters and histograms with their labels, and sums by labels", () => {
  const scrape = parseMetrics(`# HELP a_total x
# TYPE a_total counter
a_total{type="CreateCategory",service="worker"} 3
a_total{type="CreateProduct",service="worker",code="a \\"b\\", c"} 4
h_bucket{le="0.1",service="w"} 1
h_bucket{le="+Inf",service="w"} 2
h_sum{service="w"} 0.5
h_count{service="w"} 2
up 1
`);
  assert.equal(scrape.value("a_total"), 7);
  assert.equal(scrape.value("a_total", { type: "CreateProduct" }), 4);
  assert.equal(scrape.matching("a_total", { type: "CreateProduct" })[0]?.labels.code, 'a "b", c');
  assert.equal(scrape.value("h_count", { service: "w" }), 2);
  assert.equal(scrape.value("h_bucket", { le: "+Inf" }), 2);
  assert.equal(scrape.value("up"), 1);
  assert.equal(scrape.value("missing"), 0);
  assert.throws(() => parseMetrics("a{b=1} 2"), /Cannot read the labels/);
});
