import { describeSchemaEngine } from "./schema-engine-suite";

describeSchemaEngine("pglite");
