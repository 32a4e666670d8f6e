import "./load-node-legacy.js";
export * from "./api.js";
export { default } from "./api.js";
