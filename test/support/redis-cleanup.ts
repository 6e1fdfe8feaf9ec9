// Tests delete what their namespace made, with the same function the demo uses.
export { deleteNamespaceKeys } from "../../platform/namespace-cleanup.ts";
