-- One interface name in one network namespace of a host belongs to one attachment at a time,
-- whatever the network: a second ADD with the same (namespace, ifname) fails in the plugin and
-- its cleanup could take the first attachment's interface (issue 10, item 1).
-- An attachment holds its interface until its DEL has finished (every state but detached).
-- netns and sandbox targets name the same namespaces (the agent's netns dir), a pid target is
-- its own key ("pid:" cannot start a namespace name).
-- No semicolons in these comments: Prisma's pg adapter splits a migration script on them.
CREATE UNIQUE INDEX "Attachment_interface_held_key" ON "Attachment" (
  "hostId",
  (CASE WHEN "targetKind" = 'pid' THEN 'pid:' || "target" ELSE "target" END),
  "ifName"
) WHERE "state" <> 'detached';
