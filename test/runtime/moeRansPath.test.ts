// End to end, mixture of experts, with the coded stacks kept as rANS streams: ENTGGUF_CPU_LAYOUT=0 is read when
// ggml-cpu first lists its buffer types, so it is set before this file's process loads llama.cpp (vitest runs
// each test file in its own process). See test/helpers/moeEndToEnd.ts.
import { describeMoeEndToEnd } from "../helpers/moeEndToEnd.js";

process.env.ENTGGUF_CPU_LAYOUT = "0";
describeMoeEndToEnd("rANS streams");
