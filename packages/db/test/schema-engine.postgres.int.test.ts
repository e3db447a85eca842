import { describeSchemaEngine } from "./schema-engine-suite";

describeSchemaEngine("postgres");
