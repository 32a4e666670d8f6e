import "./load-inline.js";
export * from "./api.js";
export { default } from "./api.js";
