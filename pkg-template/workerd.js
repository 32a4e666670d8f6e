import "./load-workerd.js";
export * from "./api.js";
export { default } from "./api.js";
