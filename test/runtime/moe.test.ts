// End to end, mixture of experts, on the CPU layout (the default): see test/helpers/moeEndToEnd.ts.
import { describeMoeEndToEnd } from "../helpers/moeEndToEnd.js";

describeMoeEndToEnd("CPU layout");
