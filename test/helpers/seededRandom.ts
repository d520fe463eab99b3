// The tests' seeded generator lives in src/ (the mutated-file pass uses it too).
export { SeededRandom } from "../../src/bench/SeededRandom.js";
