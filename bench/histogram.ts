/**
 * A latency histogram that keeps every sample (sorted on demand), so its
 * percentiles are exact. A benchmark run records at most a few hundred
 * thousand samples, which costs a few megabytes.
 */

/** Percentiles of a histogram, in the unit recorded (milliseconds here). */
export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Samples of one measurement. */
export class Histogram {
  #samples: number[] = [];
  #sorted = true;
  #sum = 0;

  /** Records one sample; a negative or non-finite one is a programmer error. */
  record(value: number): void {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`Cannot record a sample: ${value} is not a finite, non-negative number`);
    }
    const last = this.#samples.at(-1);
    if (last !== undefined && value < last) this.#sorted = false;
    this.#samples.push(value);
    this.#sum += value;
  }

  /** Adds every sample of another histogram. */
  merge(other: Histogram): void {
    for (const value of other.#samples) this.record(value);
  }

  get count(): number {
    return this.#samples.length;
  }

  #sortedSamples(): number[] {
    if (!this.#sorted) {
      this.#samples.sort((a, b) => a - b);
      this.#sorted = true;
    }
    return this.#samples;
  }

  /**
   * The smallest sample that at least p percent of the samples do not
   * exceed (nearest rank); 0 for an empty histogram.
   */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) {
      throw new RangeError(`Cannot take a percentile: ${p} is not between 0 and 100`);
    }
    const samples = this.#sortedSamples();
    if (samples.length === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * samples.length));
    return samples[rank - 1]!;
  }

  /** p50, p90, p99, max and mean, rounded to `digits` decimals (default 2). */
  summary(digits = 2): Percentiles {
    const round = (value: number) => Number(value.toFixed(digits));
    return {
      count: this.count,
      p50: round(this.percentile(50)),
      p90: round(this.percentile(90)),
      p99: round(this.percentile(99)),
      max: round(this.percentile(100)),
      mean: round(this.count === 0 ? 0 : this.#sum / this.count),
    };
  }
}
