import assert from "node:assert/strict";
import { Histogram } from "./histogram.ts";

Deno.test("Histogram.summary() answers zeros when nothing was recorded", () => {
  assert.deepEqual(new Histogram().summary(), {
    count: 0,
    p50: 0,
    p90: 0,
    p99: 0,
    max: 0,
    mean: 0,
  });
});

Deno.test("Histogram.percentile() takes the nearest rank of 1..100 in any order", () => {
  const histogram = new Histogram();
  const values = Array.from({ length: 100 }, (_, index) => index + 1).reverse();
  for (const value of values) histogram.record(value);
  assert.equal(histogram.percentile(50), 50);
  assert.equal(histogram.percentile(90), 90);
  assert.equal(histogram.percentile(99), 99);
  assert.equal(histogram.percentile(100), 100);
  assert.equal(histogram.percentile(0), 1);
  assert.equal(histogram.percentile(0.5), 1);
});

Deno.test("Histogram.summary() reports a long tail at p99 and max, not at p50", () => {
  const histogram = new Histogram();
  for (let i = 0; i < 990; i++) histogram.record(1);
  for (let i = 0; i < 10; i++) histogram.record(500);
  const summary = histogram.summary();
  assert.equal(summary.count, 1000);
  assert.equal(summary.p50, 1);
  assert.equal(summary.p90, 1);
  assert.equal(summary.p99, 1);
  assert.equal(summary.max, 500);
  assert.equal(summary.mean, 5.99);
  histogram.record(500);
  assert.equal(histogram.percentile(99), 500);
});

Deno.test("Histogram.record() keeps samples recorded after a percentile was read", () => {
  const histogram = new Histogram();
  histogram.record(3);
  histogram.record(1);
  assert.equal(histogram.percentile(100), 3);
  histogram.record(2);
  assert.equal(histogram.percentile(50), 2);
  assert.equal(histogram.summary().max, 3);
});

Deno.test("Histogram.merge() adds the other histogram's samples", () => {
  const a = new Histogram();
  const b = new Histogram();
  a.record(1);
  b.record(10);
  b.record(20);
  a.merge(b);
  assert.equal(a.count, 3);
  assert.equal(a.percentile(100), 20);
  assert.equal(b.count, 2);
});

Deno.test("Histogram.record() refuses negative and non-finite samples", () => {
  const histogram = new Histogram();
  assert.throws(() => histogram.record(-1), RangeError);
  assert.throws(() => histogram.record(Number.NaN), RangeError);
  assert.throws(() => histogram.record(Infinity), RangeError);
  assert.throws(() => histogram.percentile(101), RangeError);
  assert.equal(histogram.count, 0);
});
