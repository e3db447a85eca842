import { attachmentsRouter } from "./routers/attachments";
import { auditRouter } from "./routers/audit";
import { eventsRouter } from "./routers/events";
import { filesRouter } from "./routers/files";
import { proposalsRouter } from "./routers/proposals";
import { hostsRouter } from "./routers/hosts";
import { ipamRouter } from "./routers/ipam";
import { authRouter } from "./routers/auth";
import { networksRouter } from "./routers/networks";
import { servicesRouter } from "./routers/services";
import { tokensRouter } from "./routers/tokens";
import { usersRouter } from "./routers/users";
import { webhooksRouter } from "./routers/webhooks";
import { createCallerFactory, router } from "./trpc";

export const appRouter = router({
  auth: authRouter,
  users: usersRouter,
  networks: networksRouter,
  audit: auditRouter,
  hosts: hostsRouter,
  attachments: attachmentsRouter,
  events: eventsRouter,
  ipam: ipamRouter,
  services: servicesRouter,
  tokens: tokensRouter,
  files: filesRouter,
  proposals: proposalsRouter,
  webhooks: webhooksRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
