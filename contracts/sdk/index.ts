// The Trellis AssemblyScript SDK. Import from a contract as `import { ... } from "../../../sdk";`.
//
// A contract method is an exported `(): void` function that reads its arguments with `Reader.fromInput()`
// and sets its result with `returnData(new Writer()...finish())`. See contracts/README.md.

export * from "./bytes";
export * from "./env";
export * from "./abi";
export * from "./storage";
