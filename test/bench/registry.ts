/** Every benchmark, in the order `npm run bench` runs them. Add yours here. */
import { codecBench } from "./codec.js";
import type { Benchmark } from "./harness.js";

export const benchmarks: Benchmark[] = [codecBench];
