import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createDb, migrateDatabase } from "../src/index";
import { REPO_ROOT, scratchDatabase } from "./cli";

const MIGRATION = "20261205220200_network_text_subnets_reapply";

/** As a revision stored before the migration would read: jsonb has put the short keys first. */
const STORED = {
  cniVersion: "1.0.0",
  name: "old",
  plugins: [
    { type: "bridge", bridge: "br-old", isGateway: true, ipam: { type: "host-local", ranges: [[{ subnet: "10.180.0.0/24", gateway: "10.180.0.1" }]], routes: [{ dst: "0.0.0.0/0" }] } },
    { type: "portmap", capabilities: { portMappings: true }, snat: true },
    { type: "tuning", args: {}, sysctl: [] },
  ],
};

const FORMATTED = `{
  "cniVersion": "1.0.0",
  "name": "old",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "br-old",
      "isGateway": true,
      "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "10.180.0.0/24",
              "gateway": "10.180.0.1"
            }
          ]
        ],
        "routes": [
          {
            "dst": "0.0.0.0/0"
          }
        ]
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      },
      "snat": true
    },
    {
      "type": "tuning",
      "args": {},
      "sysctl": []
    }
  ]
}
`;

describe.each(["postgres", "pglite"] as const)(`migration ${MIGRATION} (%s)`, (kind) => {
  it("backfills each revision's text in the Format layout and the latest revisions' subnets", async () => {
    const db = await scratchDatabase(kind);
    const before = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-migrations-"));
    try {
      const all = path.join(REPO_ROOT, "prisma/migrations");
      for (const name of fs.readdirSync(all).filter((n) => n < MIGRATION)) fs.cpSync(path.join(all, name), path.join(before, name), { recursive: true });
      await migrateDatabase(db.url, { migrationsDir: before });
      let client = createDb(db.url);
      try {
        await client.$executeRaw`INSERT INTO "Network" (id, name, "latestRevision", "updatedAt") VALUES ('n1', 'old', 2, now())`;
        const r1 = { ...STORED, plugins: [{ type: "ptp", ipam: { type: "static", addresses: [{ address: "10.181.0.5/24" }] } }] };
        await client.$executeRaw`INSERT INTO "NetworkRevision" (id, "networkId", number, conflist) VALUES ('r1', 'n1', 1, ${JSON.stringify(r1)}::jsonb), ('r2', 'n1', 2, ${JSON.stringify(STORED)}::jsonb)`;
      } finally {
        await client.$disconnect();
      }
      await migrateDatabase(db.url);
      client = createDb(db.url);
      try {
        const rows = await client.networkRevision.findMany({ orderBy: { number: "asc" }, select: { text: true, conflist: true } });
        expect(rows[1]!.text).toBe(FORMATTED);
        expect(JSON.parse(rows[0]!.text)).toEqual(rows[0]!.conflist);
        // Only the latest revision's subnets are indexed.
        expect(await client.$queryRaw`SELECT "networkId", cidr::text AS cidr FROM "NetworkSubnet"`).toEqual([{ networkId: "n1", cidr: "10.180.0.0/24" }]);
      } finally {
        await client.$disconnect();
      }
    } finally {
      fs.rmSync(before, { recursive: true, force: true });
      await db.drop();
    }
  });
});
